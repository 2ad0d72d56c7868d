"""Analysis calibration: replicate studies of the honesty checks on known-truth cohorts.

Issue 6 asks that on zero-effect cohorts the responder rate stays near the false-positive rate
implied by the reliable-change thresholds and that mixed-model effects are not significant
beyond the nominal rate over repeated seeds, and that on known-effect cohorts the 95 % interval
contains the truth. The tests check one cohort each; this runs many seeds.

Per replicate (seed ``s``), cohorts from ``tests/outcome_analytics/cohort_factory.py``:

* zero effect (``effect_scale = 0``, no random slopes): share of clients with a reliable
  improvement on tryptase, hs-CRP and symptom load (expected 2.5 % each), and whether the
  mixed model's ``week`` term for tryptase and symptom load has p < 0.05 (expected 5 %);
* known effect (``effect_scale = 1``): whether each tryptase week term's 95 % interval contains
  the true value (expected 95 %).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

from scipy import stats
from tests.outcome_analytics.cohort_factory import make_cohort

from benchmarks.results_io import write_result
from hostcap.outcome_analytics import fit_mixed_models, responder_table

WEEKS = (0.0, 4.0, 8.0, 12.0)
TRUTH_TERMS = {
    "week": "tryptase_week_A",
    "week:C(phenotype, Treatment('A'))[T.B]": "tryptase_week_B_minus_A",
    "week:C(phenotype, Treatment('A'))[T.C]": "tryptase_week_C_minus_A",
}


def replicate(seed: int, n_clients: int) -> dict[str, Any]:
    null = make_cohort(
        n_clients,
        seed=seed,
        effect_scale=0.0,
        slope_sd=0.0,
        weeks=WEEKS,
        measures=("tryptase", "hs_crp", "symptom_load"),
    )
    table = responder_table(null.measurements)
    improved = {str(m): int(v) for m, v in table.groupby("measure")["responder"].sum().items()}
    fits = fit_mixed_models(null.measurements, null.clients, measures=["tryptase", "symptom_load"])
    significant = {f.measure: bool(f.table.set_index("term").loc["week", "p"] < 0.05) for f in fits}
    effect = make_cohort(
        n_clients, seed=10_000 + seed, slope_sd=0.01, weeks=WEEKS, measures=("tryptase",)
    )
    fit = fit_mixed_models(effect.measurements, effect.clients)[0].table.set_index("term")
    covered = {
        term: bool(fit.loc[term, "ci_low"] <= effect.truth[key] <= fit.loc[term, "ci_high"])
        for term, key in TRUTH_TERMS.items()
    }
    return {"seed": seed, "improved": improved, "significant": significant, "covered": covered}


def _interval(k: int, n: int) -> str:
    ci = stats.binomtest(k, n).proportion_ci(0.95)
    return f"{100 * k / n:.1f} % ({100 * ci.low:.1f}–{100 * ci.high:.1f})"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--replicates", type=int, default=40)
    parser.add_argument("--clients", type=int, default=90)
    args = parser.parse_args(list(argv) if argv is not None else None)
    start = time.perf_counter()
    runs = [replicate(seed, args.clients) for seed in range(args.replicates)]
    seconds = time.perf_counter() - start
    n_r = len(runs)
    lines = [
        "# Calibration of the cohort analyses",
        "",
        f"{n_r} replicates of {args.clients} clients (visits at weeks 0, 4, 8, 12); "
        f"{seconds:.0f} s. Rates with exact 95 % binomial intervals.",
        "",
        "| check | expected | observed |",
        "|---|---|---|",
    ]
    summary: dict[str, Any] = {}
    for measure in ("tryptase", "hs_crp", "symptom_load"):
        k = sum(r["improved"][measure] for r in runs)
        n = n_r * args.clients
        summary[f"false_improvement_{measure}"] = k / n
        lines.append(
            f"| zero effect: reliable improvement, {measure} | 2.5 % | {_interval(k, n)} |"
        )
    for measure in ("tryptase", "symptom_load"):
        k = sum(r["significant"][measure] for r in runs)
        summary[f"false_significant_{measure}"] = k / n_r
        lines.append(f"| zero effect: week p < 0.05, {measure} | 5 % | {_interval(k, n_r)} |")
    for term in TRUTH_TERMS:
        k = sum(r["covered"][term] for r in runs)
        summary[f"coverage_{term}"] = k / n_r
        lines.append(
            f"| known effect: 95 % CI covers truth, `{term}` | 95 % | {_interval(k, n_r)} |"
        )
    path = write_result(
        "analysis_calibration",
        {
            "replicates": n_r,
            "clients": args.clients,
            "seconds": seconds,
            "summary": summary,
            "runs": runs,
        },
        "\n".join(lines),
    )
    print("\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
