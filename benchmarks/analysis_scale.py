"""Analysis benchmark: how the pure cohort analyses grow with cohort size (100, 1,000, 10,000).

Issue 6 asks for the growth of analysis time with cohort size. Cohorts come from the tests'
known-truth generator (``tests/outcome_analytics/cohort_factory.py``): five core measures, visits
every two weeks from week 0 to week 16 (nine visits), three phenotypes, known effects. Each stage
of :mod:`hostcap.outcome_analytics` is timed separately (wall clock, one process, the BLAS limited
to one thread inside the fits as the package does), so a stage that grows faster than the others
shows up by name. The store and the figures are not included: this measures the analysis itself.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import Any

from tests.outcome_analytics.cohort_factory import make_cohort

from benchmarks.results_io import peak_rss_mb, write_result
from hostcap.outcome_analytics import (
    composite_responders,
    discover_phenotypes,
    fit_mixed_models,
    kaplan_meier,
    marker_order,
    outcome_timelines,
    responder_table,
    time_to_improvement,
)

WEEKS = tuple(float(w) for w in range(0, 17, 2))
MIXED_MEASURES = ("tryptase", "symptom_load")


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def run_size(n: int, *, seed: int, n_bootstrap: int) -> dict[str, Any]:
    """Time every stage on one cohort of ``n`` clients."""
    t_gen, cohort = _timed(lambda: make_cohort(n, seed=seed, weeks=WEEKS, separation=3.0))
    m, c = cohort.measurements, cohort.clients
    stages: dict[str, float] = {}
    stages["responders"], responders = _timed(lambda: responder_table(m))
    t, composite = _timed(lambda: composite_responders(responders))
    stages["responders"] += t
    stages["time_to_improvement"], times = _timed(lambda: time_to_improvement(m))
    stages["kaplan_meier"], _ = _timed(lambda: kaplan_meier(times))
    stages["marker_order"], order = _timed(
        lambda: marker_order(times, n_bootstrap=n_bootstrap, seed=seed)
    )
    stages["mixed_models"], fits = _timed(
        lambda: fit_mixed_models(m, c, measures=list(MIXED_MEASURES))
    )
    stages["phenotype_discovery"], discovery = _timed(
        lambda: discover_phenotypes(c, max_k=5, n_bootstrap=20, seed=seed)
    )
    stages["outcome_timelines"], _ = _timed(lambda: outcome_timelines(m, c))
    return {
        "n_clients": n,
        "n_measurements": len(m),
        "generate_s": t_gen,
        "stages_s": stages,
        "total_s": sum(stages.values()),
        "composite_responders": int((composite["composite"] == "responder").sum()),
        "observed_order": order.order,
        "mixed_converged": {f.measure: f.converged for f in fits},
        "mixed_warnings": {f.measure: len(f.warnings) for f in fits},
        "chosen_k": discovery.chosen_k,
        "agreement_ari": discovery.agreement_ari,
        "peak_rss_mb": peak_rss_mb(),
    }


def _markdown(rows: Sequence[dict[str, Any]], n_bootstrap: int) -> str:
    stages = list(rows[0]["stages_s"])
    lines = [
        "# Cohort analysis time by cohort size",
        "",
        "Pure `hostcap.outcome_analytics` on known-truth cohorts (5 core measures, 9 visits, "
        f"3 phenotypes); marker order with {n_bootstrap} bootstrap resamples; mixed models for "
        f"{', '.join(MIXED_MEASURES)}; Gaussian mixtures k = 1…5 with 20 bootstrap refits. "
        "Wall-clock seconds, one process.",
        "",
        "| clients | measurements | " + " | ".join(stages) + " | total | peak RSS MB |",
        "|---|---|" + "---|" * len(stages) + "---|---|",
    ]
    for r in rows:
        cells = " | ".join(f"{r['stages_s'][s]:.2f}" for s in stages)
        lines.append(
            f"| {r['n_clients']:,} | {r['n_measurements']:,} | {cells} | {r['total_s']:.1f} | "
            f"{r['peak_rss_mb']:.0f} |"
        )
    if len(rows) >= 2:
        first, last = rows[0], rows[-1]
        growth = last["total_s"] / first["total_s"]
        size = last["n_clients"] / first["n_clients"]
        lines += [
            "",
            f"{size:.0f}× the clients took {growth:.1f}× the time "
            f"({first['n_clients']:,} → {last['n_clients']:,}).",
        ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="100,1000,10000", help="comma-separated sizes")
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(list(argv) if argv is not None else None)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    rows = []
    for n in sizes:
        row = run_size(n, seed=args.seed, n_bootstrap=args.bootstrap)
        print(f"{n:>6} clients: {row['total_s']:.1f} s  {row['stages_s']}")
        rows.append(row)
    path = write_result(
        "analysis_scale",
        {"sizes": sizes, "n_bootstrap": args.bootstrap, "seed": args.seed, "results": rows},
        _markdown(rows, args.bootstrap),
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
