"""Issue 13, one integrator: the batch integrator before and after the loop was written once.

Before: the Rosenbrock loop as a text template in ``compiled_solver`` (base commit). After: the
loop in ``rosenbrock_loop.py``, copied into each model's generated module. Both are run on the same
accepted phenotype-A cohort (parameter sets and pre-treatment steady states, generated once and
given as ``y0``), the gut-first protocol, 16 weeks, daily output, rtol 1e-6 / atol 1e-9, all 18
states kept: ``simulate_batch`` timed with 1 and with 2 solver threads.

Every timed run is a fresh process with that side's ``src`` first on ``sys.path``; rounds
interleave the sides (alternating which goes first), so outside load on this shared machine hits
both alike. Each process also reports how long loading the compiled kernel took: from numba's
on-disk cache, since a warm-up process per side first compiles it into an empty kernel cache.
The first round's states, statuses and steps of the two sides are compared.

``python -m benchmarks.integrator_refactor [--n 2000] [--rounds 5] [--base c39583b]`` writes
``results/integrator_refactor.{json,md}``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL_FILE = ROOT / "examples" / "protocols" / "phenotype-a-gut-first.yaml"
BASE_COMMIT = "c39583b515f386ea484cb55e7c0b67e8f6eab5e2"
THREADS = (1, 2)
#: Relative differences use max(|before|, this) as denominator (washed-out states sit at 1e-86).
FLOOR = 1e-6


def _worker(cohort: str, out: str, save: str | None) -> None:
    """One fresh process: load the kernel, then time ``simulate_batch`` per thread count."""
    t_import = time.perf_counter()
    from hostcap.mechanistic_model import compile_model, protocol_from_yaml, simulate_batch
    from hostcap.mechanistic_model.batch_simulation import _lu
    from hostcap.mechanistic_model.compiled_solver import kernel_compile

    t0 = time.perf_counter()
    m = compile_model("essay")
    lu = _lu(m)
    t1 = time.perf_counter()
    kernel = kernel_compile(m, lu)
    t2 = time.perf_counter()
    data = np.load(cohort)
    params, y0 = data["params"], data["y0"]
    protocol = protocol_from_yaml(PROTOCOL_FILE.read_text(encoding="utf-8"))

    def run(rows: slice) -> Any:
        return simulate_batch(
            m, protocol, params[rows], phenotype="A", weeks=16.0, y0=y0[rows], chunk_size=10**9
        )

    run(slice(0, 4))  # first call paths (thread pool, arrays) out of the timing
    walls: dict[str, float] = {}
    result = None
    for threads in THREADS:
        os.environ["HOSTCAP_SOLVER_THREADS"] = str(threads)
        t = time.perf_counter()
        result = run(slice(None))
        walls[str(threads)] = time.perf_counter() - t
    assert result is not None
    if save:
        np.savez(save, states=result.states, steps=result.steps, status=result.status)
    Path(out).write_text(
        json.dumps(
            {
                "imports_s": t0 - t_import,
                "model_and_lu_s": t1 - t0,
                "kernel_load_s": t2 - t1,
                "walls_s": walls,
                "hostcap": str(Path(sys.modules["hostcap"].__file__ or "").parent),
                "kernel_file": kernel.__file__,
            }
        )
    )


def _load_kernel(path: str) -> Any:
    """Import a generated kernel module by its file (its name is the file's, as numba needs)."""
    name = Path(path).stem
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _same_process(cohort: str, out: str, files: list[str], rounds: int) -> None:
    """Both sides' compiled loops in one process, one thread, called directly, interleaved.

    Free of process start-up and of the batch driver around the loop, so smaller differences
    show than between fresh processes.
    """
    from hostcap.mechanistic_model import compile_model, protocol_from_yaml
    from hostcap.mechanistic_model.batch_simulation import _schedule

    kernels = [_load_kernel(f) for f in files]
    m = compile_model("essay")
    data = np.load(cohort)
    params, y0 = np.ascontiguousarray(data["params"]), np.ascontiguousarray(data["y0"])
    protocol = protocol_from_yaml(PROTOCOL_FILE.read_text(encoding="utf-8"))
    times = np.arange(0.0, 16 * 168.0 + 1e-9, 24.0)
    schedule = _schedule(m, protocol, 16 * 168.0, times)
    inputs = np.ascontiguousarray(schedule.seg_inputs.T)

    def run(kernel: Any) -> tuple[float, Any]:
        states, first = schedule.start_output(y0.T)
        codes = np.zeros(params.shape[0], dtype=np.int64)
        steps = np.zeros_like(codes)
        t = time.perf_counter()
        kernel.integrate_block(
            params, y0, schedule.seg_start, schedule.seg_end, inputs, schedule.times_ext,
            first, 1e-6, 1e-9, 100_000, 1e-2, schedule.end, schedule.tiny, states, codes, steps,
        )  # fmt: skip
        return time.perf_counter() - t, states

    same = bool(np.array_equal(run(kernels[0])[1], run(kernels[1])[1], equal_nan=True))
    walls: list[list[float]] = [[], []]
    for k in range(rounds):
        for j in (0, 1) if k % 2 == 0 else (1, 0):
            walls[j].append(run(kernels[j])[0])
    Path(out).write_text(json.dumps({"walls_s": walls, "bitwise_identical": same}))


def _spawn(src: Path, cohort: Path, save: Path | None = None) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    cmd = [sys.executable, "-m", "benchmarks.integrator_refactor", "--worker", str(cohort)]
    cmd += ["--out", str(out)] + (["--save", str(save)] if save else [])
    env = {**os.environ, "PYTHONPATH": str(src)}
    subprocess.run(cmd, check=True, cwd=ROOT, env=env)
    result: dict[str, Any] = json.loads(out.read_text())
    out.unlink()
    assert result["hostcap"].startswith(str(src)), result["hostcap"]
    return result


def _spawn_same_process(cohort: Path, files: list[str], rounds: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    cmd = [sys.executable, "-m", "benchmarks.integrator_refactor", "--worker", str(cohort)]
    cmd += ["--out", str(out), "--rounds", str(rounds), "--same-process", *files]
    subprocess.run(cmd, check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    result: dict[str, Any] = json.loads(out.read_text())
    out.unlink()
    return result


def _base_source(commit: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "archive", commit, "src"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def _compare(before: Path, after: Path) -> dict[str, Any]:
    a, b = np.load(after), np.load(before)
    sa, sb = a["states"], b["states"]
    both = np.isfinite(sa) & np.isfinite(sb)
    rel = np.abs(sa[both] - sb[both]) / np.maximum(np.abs(sb[both]), FLOOR)
    return {
        "members": int(sa.shape[0]),
        "status_equal": bool(np.array_equal(a["status"], b["status"])),
        "steps_equal": bool(np.array_equal(a["steps"], b["steps"])),
        "nan_pattern_equal": bool(np.array_equal(np.isnan(sa), np.isnan(sb))),
        "bitwise_identical": bool(np.array_equal(sa, sb, equal_nan=True)),
        "values_differing": int(np.sum(sa[both] != sb[both])),
        "max_rel_diff": float(rel.max()) if rel.size else 0.0,
        "max_abs_diff": float(np.max(np.abs(sa[both] - sb[both]))) if rel.size else 0.0,
    }


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for threads in THREADS:
        walls = [r["walls_s"][str(threads)] for r in runs]
        out[f"threads_{threads}"] = {
            "walls_s": walls,
            "best_s": min(walls),
            "median_s": float(np.median(walls)),
        }
    loads = [r["kernel_load_s"] for r in runs]
    out["kernel_load_s"] = {"all": loads, "best": min(loads), "median": float(np.median(loads))}
    return out


def _markdown(payload: dict[str, Any]) -> str:
    n, rounds = payload["n"], payload["rounds"]
    before, after, cmp = payload["before"], payload["after"], payload["comparison"]
    lines = [
        "# One integrator (issue 13): the batch integrator before and after",
        "",
        f"Before: base commit `{payload['base'][:7]}` (the loop as a text template in "
        "`compiled_solver._INTEGRATOR`, plus the vectorised numpy backend). After: the loop "
        "written once in `mechanistic_model/rosenbrock_loop.py` and copied into each model's "
        "generated module (numpy backend removed).",
        "",
        f"`simulate_batch`, essay variant, accepted phenotype-A cohort of N = {n:,} (given as "
        "y0), gut-first protocol, 16 weeks, daily output, rtol 1e-6 / atol 1e-9. Each side ran "
        f"{rounds} rounds, each in a fresh process, interleaved with the other side. "
        f"{payload['machine_note']} Load average at the end: {payload['load']}.",
        "",
        "| solver threads | before, best (s) | after, best (s) | after / before, best | "
        "before, median (s) | after, median (s) | after / before, median |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for threads in THREADS:
        key = f"threads_{threads}"
        b, a = before[key], after[key]
        lines.append(
            f"| {threads} | {b['best_s']:.3f} | {a['best_s']:.3f} | "
            f"{a['best_s'] / b['best_s']:.3f} | {b['median_s']:.3f} | {a['median_s']:.3f} | "
            f"{a['median_s'] / b['median_s']:.3f} |"
        )
    sp = payload["same_process"]
    b, a = sp["before"], sp["after"]
    lines += [
        "",
        f"Both compiled loops loaded in one process and called directly (`integrate_block`, "
        f"1 thread, N = {sp['n']:,}, {len(b['walls_s'])} interleaved calls each; no process "
        "start-up or batch driver around them, so smaller differences show): before best "
        f"{b['best_s']:.4f} s, median {b['median_s']:.4f} s; after best {a['best_s']:.4f} s, "
        f"median {a['median_s']:.4f} s; after / before {a['best_s'] / b['best_s']:.3f} (best), "
        f"{a['median_s'] / b['median_s']:.3f} (median); states bitwise identical "
        f"{sp['bitwise_identical']}.",
    ]
    kb, ka = before["kernel_load_s"], after["kernel_load_s"]
    lines += [
        "",
        f"- Loading the compiled kernel from numba's cache in a fresh process: before "
        f"{kb['median']:.2f} s (best {kb['best']:.2f} s), after {ka['median']:.2f} s "
        f"(best {ka['best']:.2f} s). First compile into an empty cache (once per variant and "
        f"loop version): before {payload['first_compile_s']['before']:.1f} s, after "
        f"{payload['first_compile_s']['after']:.1f} s.",
        f"- Same numbers: statuses equal {cmp['status_equal']}, steps equal "
        f"{cmp['steps_equal']}, NaN pattern equal {cmp['nan_pattern_equal']}, states bitwise "
        f"identical {cmp['bitwise_identical']} ({cmp['values_differing']} of "
        f"{cmp['members'] * 113 * 18:,} values differ); max relative difference "
        f"{cmp['max_rel_diff']:.1e} (denominator max(|before|, {FLOOR:g})), max absolute "
        f"{cmp['max_abs_diff']:.1e}.",
        "- Ratios below about 1.1 are within this machine's noise (±10–25 % run to run).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--base", default=BASE_COMMIT)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--save", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--same-process", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker and args.same_process:
        _same_process(args.worker, args.out, args.same_process, 3 * args.rounds)
        return
    if args.worker:
        _worker(args.worker, args.out, args.save)
        return

    from benchmarks.results_io import write_result
    from hostcap.mechanistic_model import generate_population

    with tempfile.TemporaryDirectory(prefix="hostcap-i13-") as tmp:
        work = Path(tmp)
        sides = {"before": _base_source(args.base, work / "base"), "after": ROOT / "src"}
        pop = generate_population("essay", "A", args.n, seed=12345, chunk_size=2000)
        cohort = work / "cohort.npz"
        np.savez(cohort, params=pop.parameters.T.copy(), y0=pop.initial_states.T.copy())
        # A fresh kernel cache (after this process used its own): each side's warm-up process
        # times its first compile.
        os.environ["HOSTCAP_KERNEL_CACHE"] = str(work / "kernels")
        # Warm-up: compile each side's kernel into the cache.
        warm = {side: _spawn(src, cohort) for side, src in sides.items()}
        runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
        for k in range(args.rounds):
            order = list(sides) if k % 2 == 0 else list(reversed(sides))
            for side in order:
                save = work / f"{side}.npz" if k == 0 else None
                runs[side].append(_spawn(sides[side], cohort, save))
                print(side, k, runs[side][-1]["walls_s"], flush=True)
        comparison = _compare(work / "before.npz", work / "after.npz")
        same = _spawn_same_process(
            cohort, [runs["before"][0]["kernel_file"], runs["after"][0]["kernel_file"]], args.rounds
        )
    payload = {
        "n": args.n,
        "rounds": args.rounds,
        "base": args.base,
        "machine_note": "Shared 2-core machine (5 engineers' jobs); timings are noisy.",
        "load": " / ".join(f"{x:.1f}" for x in os.getloadavg()),
        "first_compile_s": {side: run["kernel_load_s"] for side, run in warm.items()},
        "before": _summary(runs["before"]),
        "after": _summary(runs["after"]),
        "comparison": comparison,
        "same_process": {
            side: {"walls_s": w, "best_s": min(w), "median_s": float(np.median(w))}
            for side, w in zip(("before", "after"), same["walls_s"], strict=True)
        }
        | {"bitwise_identical": same["bitwise_identical"], "n": args.n},
    }
    path = write_result("integrator_refactor", payload, _markdown(payload))
    print(path.read_text())


if __name__ == "__main__":
    main()
