"""Model at scale (issue 4): batched simulation vs libRoadRunner, N = 1e5, Sobol, client fits.

Population throughput: the same parameter sets (phenotype A, log-normal draws), the same
pre-treatment initial states, the same exported SBML and protocol (gut-first, 16 weeks, daily
output), all states kept in memory. hostcap (vectorised Rosenbrock 4(3) with the generated sparse
LU, 1 process and 2 processes) vs libRoadRunner (CVODE) serial and in 2 processes, each at rtol
1e-6 / atol 1e-9, each with its max relative error against a tight reference (scipy Radau, rtol
1e-10, atol 1e-12) on the first 32 members. Goal: ≥ 5× the 2-process libRoadRunner throughput.
Also: N = 1e5 streamed population (wall time, peak RSS of the parent and of the workers), Sobol
with ≥ 15 parameters and N = 1024 on 2 workers, one client fitted under all variants.
The machine is shared: timings are noisy; compare ratios taken in the same run.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.results_io import peak_rss_mb, write_result
from hostcap.mechanistic_model import (
    compare_variants,
    compile_model,
    generate_population,
    protocol_from_yaml,
    sensitivity_analysis,
    simulate,
    simulate_batch,
    simulate_population,
    to_sbml,
)

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL_FILE = ROOT / "examples" / "protocols" / "phenotype-a-gut-first.yaml"
WEEKS = 16.0
TIMES = np.arange(0.0, WEEKS * 168.0 + 1e-9, 24.0)

_RR: dict[str, Any] = {}


def _protocol() -> Any:
    return protocol_from_yaml(PROTOCOL_FILE.read_text(encoding="utf-8"))


def _rr_init(sbml: str) -> None:
    import roadrunner

    rr = roadrunner.RoadRunner(sbml)
    rr.integrator.relative_tolerance = 1e-6
    rr.integrator.absolute_tolerance = 1e-9
    rr.integrator.maximum_num_steps = 20_000
    _RR["rr"] = rr


def _rr_run(job: tuple[list[str], list[str], np.ndarray, np.ndarray]) -> np.ndarray:
    """Simulate members with the process's RoadRunner; returns (n, T, S) species amounts."""
    pids, sids, params, y0 = job
    rr = _RR["rr"]
    out = np.empty((params.shape[0], TIMES.size, len(sids)))
    selections = ["time", *sids]
    for i in range(params.shape[0]):
        rr.resetAll()
        for k, sid in enumerate(sids):
            rr.setValue(f"init({sid})", float(y0[i, k]))
        for k, pid in enumerate(pids):
            rr.setValue(pid, float(params[i, k]))
        try:
            res = rr.simulate(times=TIMES.tolist(), selections=selections)
            out[i] = np.asarray(res)[:, 1:]
        except RuntimeError:  # CVODE failure: the member is lost, counted as failed
            out[i] = np.nan
    return out


def _hc_run(job: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    params, y0 = job
    res = simulate_batch(
        "essay", _protocol(), params, phenotype="A", weeks=WEEKS, y0=y0, chunk_size=params.shape[0]
    )
    return res.states


def _max_rel(states: np.ndarray, ref: np.ndarray) -> float:
    ok = np.all(np.isfinite(states), axis=(1, 2))
    return float(np.max(np.abs(states[ok] - ref[ok]) / np.maximum(np.abs(ref[ok]), 1e-9)))


def _failed(states: np.ndarray) -> int:
    return int(np.sum(~np.all(np.isfinite(states), axis=(1, 2))))


def _children_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def throughput(n: int, seed: int = 12345) -> dict[str, Any]:
    m = compile_model("essay")
    protocol = _protocol()
    # The accepted virtual cohort (acceptance on pre-treatment tryptase, hs-CRP, symptoms).
    t0 = time.perf_counter()
    pop = generate_population("essay", "A", n, seed=seed, chunk_size=2000)
    t_ss = time.perf_counter() - t0
    params, y0 = pop.parameters.T.copy(), pop.initial_states.T.copy()
    n_ref = min(32, n)
    ref = np.stack(
        [
            simulate(
                m,
                protocol,
                phenotype="A",
                weeks=WEEKS,
                y0=y0[i],
                rtol=1e-10,
                atol=1e-12,
                parameters=dict(zip(m.parameter_ids, params[i], strict=True)),
            ).states
            for i in range(n_ref)
        ]
    )
    rows: list[dict[str, Any]] = []

    t0 = time.perf_counter()
    states = _hc_run((params, y0))
    wall = time.perf_counter() - t0
    rows.append(
        {
            "method": "hostcap batch, 1 process",
            "n": n,
            "wall_s": wall,
            "max_rel_err": _max_rel(states[:n_ref], ref),
            "failed": _failed(states),
        }
    )
    del states

    ctx = mp.get_context("fork")
    halves = np.array_split(np.arange(n), 2)
    t0 = time.perf_counter()
    with ctx.Pool(2) as pool:
        parts = pool.map(_hc_run, [(params[h], y0[h]) for h in halves])
    wall = time.perf_counter() - t0
    states = np.concatenate(parts)
    rows.append(
        {
            "method": "hostcap batch, 2 processes",
            "n": n,
            "wall_s": wall,
            "max_rel_err": _max_rel(states[:n_ref], ref),
            "failed": _failed(states),
        }
    )
    del states, parts

    sbml = to_sbml(m, "A", protocol, weeks=WEEKS)
    pids, sids = list(m.parameter_ids), list(m.state_ids)
    _rr_init(sbml)
    t0 = time.perf_counter()
    states = _rr_run((pids, sids, params, y0))
    wall = time.perf_counter() - t0
    rows.append(
        {
            "method": "libRoadRunner serial loop",
            "n": n,
            "wall_s": wall,
            "max_rel_err": _max_rel(states[:n_ref], ref),
            "failed": _failed(states),
        }
    )
    del states
    chunks = np.array_split(np.arange(n), 16)
    t0 = time.perf_counter()
    with ctx.Pool(2, initializer=_rr_init, initargs=(sbml,)) as pool:
        parts = pool.map(_rr_run, [(pids, sids, params[c], y0[c]) for c in chunks])
    wall = time.perf_counter() - t0
    states = np.concatenate(parts)
    rows.append(
        {
            "method": "libRoadRunner, 2 processes",
            "n": n,
            "wall_s": wall,
            "max_rel_err": _max_rel(states[:n_ref], ref),
            "failed": _failed(states),
        }
    )
    for r in rows:
        r["sims_per_s"] = r["n"] / r["wall_s"]
    rr2 = rows[3]["sims_per_s"]
    return {
        "n": n,
        "steady_states_s": t_ss,
        "rows": rows,
        "ratio_hostcap2_vs_rr2": rows[1]["sims_per_s"] / rr2,
        "ratio_hostcap1_vs_rr_serial": rows[0]["sims_per_s"] / rows[2]["sims_per_s"],
        "ratio_hostcap2_vs_rr_serial": rows[1]["sims_per_s"] / rows[2]["sims_per_s"],
    }


def large_population(n: int) -> dict[str, Any]:
    from dask.distributed import Client, LocalCluster

    protocol = _protocol()
    with (
        LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            dashboard_address=None,
            silence_logs=50,
        ) as cluster,
        Client(cluster) as client,
    ):
        t0 = time.perf_counter()
        pop = generate_population("essay", "A", n, seed=1, chunk_size=2000, client=client)
        t_gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        run = simulate_population(pop, protocol, weeks=WEEKS, chunk_size=2000, client=client)
        t_sim = time.perf_counter() - t0
        workers = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {
        "n": n,
        "candidates_drawn": pop.n_drawn,
        "generate_s": t_gen,
        "simulate_s": t_sim,
        "wall_s": t_gen + t_sim,
        "status": run.status_counts(),
        "exact_quantiles": run.exact_quantiles,
        "parent_peak_rss_mb": peak_rss_mb(),
        "worker_peak_rss_mb": sorted(float(v) for v in workers.values()),
    }


def sobol(n: int) -> dict[str, Any]:
    from dask.distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            dashboard_address=None,
            silence_logs=50,
        ) as cluster,
        Client(cluster) as client,
    ):
        t0 = time.perf_counter()
        res = sensitivity_analysis(
            "essay",
            "A",
            _protocol(),
            method="sobol",
            n=n,
            output="symptom_load",
            at_week=16,
            summary="change",
            chunk_size=1024,
            client=client,
        )
        wall = time.perf_counter() - t0
    top = res.indices.head(5)[["parameter", "S1", "ST"]].round(3).to_dict(orient="records")
    return {
        "parameters": len(res.parameters),
        "n": n,
        "runs": res.n_runs,
        "failed": res.n_failed,
        "wall_s": wall,
        "top_total_order": top,
    }


def _synthetic_client(seed: int, truth: dict[str, float]) -> pd.DataFrame:
    traj = simulate("essay", _protocol(), phenotype="A", weeks=16, parameters=truth)
    rng = np.random.default_rng(seed)
    rows = []
    for w in (0, 2, 4, 6, 8, 12, 16):
        i = int(np.argmin(np.abs(traj.week - w)))
        t = float(traj.time_h[i])
        rows.append(("tryptase", t, traj["tryptase_serum"][i] * np.exp(rng.normal() * 0.0839)))
        rows.append(("hs_crp", t, traj["hs_crp"][i] * np.exp(rng.normal() * 0.4724)))
        rows.append(("symptom_load", t, traj["symptom_load"][i] + rng.normal() * 0.8))
    return pd.DataFrame(rows, columns=["measure", "time_h", "value"])


def fitting(replicates: int) -> dict[str, Any]:
    from hostcap.mechanistic_model import ClientFit

    truth = {"trigger_load": 0.33, "tryp_basal": 5.0, "crp_ref": 1.5, "k_thr": 0.002}
    obs = _synthetic_client(0, truth)
    t0 = time.perf_counter()
    table = compare_variants(obs, phenotype="A", protocol=_protocol(), n_starts=2)
    t_all = time.perf_counter() - t0
    covered = 0
    per_param = dict.fromkeys(("trigger_load", "tryp_basal"), 0)
    t0 = time.perf_counter()
    for seed in range(replicates):
        obs_r = _synthetic_client(100 + seed, truth)
        est = (
            ClientFit(
                "essay", "A", ["trigger_load", "tryp_basal"], _protocol(), n_starts=1, seed=seed
            )
            .fit(obs_r)
            .estimates_.set_index("parameter")
        )
        hits = {p: bool(est.loc[p, "low"] <= truth[p] <= est.loc[p, "high"]) for p in per_param}
        for p, h in hits.items():
            per_param[p] += h
        covered += all(hits.values())
    t_rec = time.perf_counter() - t0
    return {
        "all_variants_wall_s": t_all,
        "comparison": table.round(3).to_dict(orient="records"),
        "recovery_replicates": replicates,
        "recovery_joint_coverage": covered / replicates if replicates else None,
        "recovery_coverage_per_parameter": {p: c / replicates for p, c in per_param.items()}
        if replicates
        else {},
        "recovery_wall_s": t_rec,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--n-large", type=int, default=100_000)
    parser.add_argument("--sobol-n", type=int, default=1024)
    parser.add_argument("--replicates", type=int, default=50)
    parser.add_argument("--only", choices=["throughput", "large", "sobol", "fit"], default=None)
    args = parser.parse_args(argv or [])
    payload: dict[str, Any] = {"note": "shared 2-core machine; timings are noisy"}
    if args.only in (None, "throughput"):
        payload["throughput"] = throughput(args.n)
        print(payload["throughput"])
    if args.only in (None, "sobol"):
        payload["sobol"] = sobol(args.sobol_n)
        print(payload["sobol"])
    if args.only in (None, "fit"):
        payload["fitting"] = fitting(args.replicates)
        print(payload["fitting"])
    if args.only in (None, "large"):
        payload["large"] = large_population(args.n_large)
        print(payload["large"])
    payload["children_peak_rss_mb"] = _children_rss_mb()
    lines = ["# Model at scale (issue 4)", "", "Shared 2-core machine: timings are noisy.", ""]
    if "throughput" in payload:
        tp = payload["throughput"]
        lines += [
            f"## Population throughput, N = {tp['n']}, 16 weeks daily, phenotype A, "
            "gut-first protocol",
            "",
            "| method | wall (s) | sims/s | max rel err vs rtol 1e-10 | failed |",
            "|---|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {r['method']} | {r['wall_s']:.2f} | {r['sims_per_s']:.0f} | "
            f"{r['max_rel_err']:.1e} | {r['failed']} |"
            for r in tp["rows"]
        ]
        lines += [
            "",
            f"Generating the accepted cohort (draws, steady states, acceptance), in-process: "
            f"{tp['steady_states_s']:.1f} s (not in the rows above).",
            f"Ratio hostcap 2 processes / libRoadRunner 2 processes: "
            f"**{tp['ratio_hostcap2_vs_rr2']:.2f}x** (goal 5x).",
            f"Ratio hostcap 1 process / libRoadRunner serial: "
            f"{tp['ratio_hostcap1_vs_rr_serial']:.2f}x.",
            "",
        ]
    if "sobol" in payload:
        sb = payload["sobol"]
        lines += [
            f"## Sobol: {sb['parameters']} parameters, N = {sb['n']} ({sb['runs']} runs, "
            f"{sb['failed']} failed), 2 workers: {sb['wall_s']:.1f} s (goal < 60 s)",
            "",
        ]
    if "fitting" in payload:
        ft = payload["fitting"]
        lines += [
            f"## One client under all 4 variants (with leave-last-visit-out refits): "
            f"{ft['all_variants_wall_s']:.1f} s (goal < 5 s)",
            "",
            f"Parameter recovery: joint 95 % coverage {ft['recovery_joint_coverage']} over "
            f"{ft['recovery_replicates']} replicates; per parameter "
            f"{ft['recovery_coverage_per_parameter']} ({ft['recovery_wall_s']:.0f} s).",
            "",
        ]
    if "large" in payload:
        lg = payload["large"]
        lines += [
            f"## N = {lg['n']} streamed population on 2 workers: generate "
            f"{lg['generate_s']:.0f} s + simulate {lg['simulate_s']:.0f} s; parent peak RSS "
            f"{lg['parent_peak_rss_mb']:.0f} MB, workers {lg['worker_peak_rss_mb']} MB",
            "",
        ]
    write_result("model_scale", payload, "\n".join(lines))


if __name__ == "__main__":
    main()
