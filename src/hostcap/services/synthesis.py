"""Synthesise a cohort into a store (``hostcap synth cohort``) and save its ground truth.

The records go through the same validated store API as real data (``Store.add_records`` per
kind: one transaction per kind, not per row; the enrolments in one transaction through
``clinical_store.enrolment_import.add_enrolments``), flagged
``demo`` so that no report mistakes them for real people. Before anything is written every
record is validated and the client codes are checked against the store, so a bad cohort (or a
code that already exists) leaves the store unchanged. The ground truth (true parameters,
phenotype, HαT, protocol, noise-free effects, generating options) goes to a JSON file: by
default ``synthetic-truth-seed<SEED>.json`` next to a SQLite database file, or in the working
directory for other databases.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.engine import make_url

from hostcap.clinical_store import KINDS, Store, add_enrolments
from hostcap.clinical_store.record_kinds import ClientInfo, validate_records
from hostcap.errors import Issue, ValidationError
from hostcap.output_files import check_output_file, write_text
from hostcap.services.store import open_store
from hostcap.synthetic import (
    STORE_KINDS,
    SyntheticCohort,
    check_options,
    generate_cohort,
)

__all__ = [
    "TRUTH_FORMAT",
    "default_truth_path",
    "load_truth",
    "synthesize_cohort",
    "write_cohort",
    "write_truth",
]

#: Identifies a truth file (and its layout version).
TRUTH_FORMAT = "hostcap-synthetic-truth/1"
ACTOR = "hostcap synth cohort"

Progress = Callable[[str], None]


def default_truth_path(url: str, seed: int) -> Path:
    """``synthetic-truth-seed<SEED>.json`` beside a SQLite file, else in the working directory."""
    name = f"synthetic-truth-seed{seed}.json"
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return Path(str(parsed.database)).resolve().parent / name
    return Path(name)


def _frame_json(frame: pd.DataFrame) -> Any:
    return json.loads(frame.to_json(orient="split", index=False, double_precision=15))


def write_truth(cohort: SyntheticCohort, path: Path, *, force: bool = False) -> Path:
    """Write the ground truth as one JSON file (frames in pandas ``split`` orientation)."""
    body = {
        "format": TRUTH_FORMAT,
        "meta": cohort.meta,
        "clients": _frame_json(cohort.truth_clients),
        "parameters": _frame_json(cohort.truth_parameters),
        "effects": _frame_json(cohort.truth_effects),
    }
    path = check_output_file(Path(path), force=force, option="--truth-out", make_parents=True)
    text = json.dumps(body, sort_keys=True, default=str)
    return write_text(path, text, force=force, option="--truth-out")


def load_truth(path: Path) -> dict[str, Any]:
    """Read a truth file: ``meta`` (dict) and ``clients``, ``parameters``, ``effects`` frames.

    Raises
    ------
    ValidationError
        When the file is not a hostcap synthetic-truth file.
    """
    try:
        body = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValidationError.single(
            "truth file", str(path), f"a readable hostcap truth JSON file ({exc})"
        ) from None
    if not isinstance(body, dict) or body.get("format") != TRUTH_FORMAT:
        raise ValidationError.single("truth file", str(path), f"format {TRUTH_FORMAT!r}")
    out: dict[str, Any] = {"meta": body["meta"]}
    for key in ("clients", "parameters", "effects"):
        part = body[key]
        out[key] = pd.DataFrame(part["data"], columns=part["columns"])
    return out


def _preflight(store: Store, cohort: SyntheticCohort) -> None:
    """Every check that can fail, before anything is written (nothing half-written)."""
    codes = list(cohort.records["clients"]["client_code"].astype(str))
    existing = {str(row["code"]) for row in store.list_clients()}
    clash = sorted(set(codes) & existing)
    if clash:
        shown = ", ".join(clash[:5]) + (f" and {len(clash) - 5} more" if len(clash) > 5 else "")
        raise ValidationError(
            [
                Issue(
                    location="client_code",
                    message=(
                        f"{len(clash)} synthetic client code(s) already in the store ({shown}); "
                        "expected new codes: use another --seed or a fresh --database. "
                        "Nothing was written."
                    ),
                    value=clash[0],
                    expected="codes not yet in the store",
                )
            ]
        )
    now = dt.datetime.now()
    birth_years = cohort.records["clients"]["birth_year"].astype(int)
    clients = {
        code: ClientInfo(id=i + 1, code=code, birth_year=int(year))
        for i, (code, year) in enumerate(zip(codes, birth_years, strict=True))
    }
    issues: list[Issue] = []
    for kind in STORE_KINDS:
        frame = cohort.records[kind]
        if kind == "clients":
            checked = store.validate(kind, frame)
        else:
            checked = validate_records(KINDS[kind], frame, clients, now=now)
        issues += [
            Issue(f"{kind}: {i.location}", i.message, i.severity, i.value, i.expected)
            for i in checked.errors
        ]
    if issues:
        raise ValidationError(issues, context="synthetic cohort failed validation; nothing written")


def write_cohort(
    store: Store, cohort: SyntheticCohort, *, progress: Progress | None = None
) -> dict[str, int]:
    """Validate everything, then write clients, enrolments and every record kind.

    Returns
    -------
    dict
        Rows written per kind (``enrolments`` included).
    """
    say = progress or (lambda _text: None)
    say("validating every record before writing")
    _preflight(store, cohort)
    meta = cohort.meta
    source = (
        f"synthetic cohort: seed {meta['seed']}, variant {meta['variant']}, "
        f"effect scale {meta['effect_scale']}, {meta['weeks']} weeks"
    )
    written: dict[str, int] = {}
    say("writing clients")
    written["clients"] = len(
        store.add_records("clients", cohort.records["clients"], actor=ACTOR, source=source).ids
    )
    say("writing enrolments")
    written["enrolments"] = add_enrolments(store, cohort.enrolments, source=source, actor=ACTOR)
    for kind in STORE_KINDS[1:]:
        say(f"writing {kind}")
        frame = cohort.records[kind]
        written[kind] = len(store.add_records(kind, frame, actor=ACTOR, source=source).ids)
    return written


def synthesize_cohort(
    store_or_url: Store | str | None,
    n: int,
    seed: int,
    *,
    variant: str = "essay",
    effect_scale: float = 1.0,
    weeks: int = 16,
    truth_out: Path | None = None,
    progress: Progress | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Generate a synthetic cohort, write it through the store, and save its ground truth.

    Parameters
    ----------
    store_or_url
        A store, or its URL (``None``: the configured default); the schema is created or
        upgraded first.
    n, seed, variant, effect_scale, weeks
        As :func:`hostcap.synthetic.generate_cohort`.
    truth_out
        Where to write the truth JSON (default :func:`default_truth_path`).
    progress
        Called with a short description at the start of each step.
    force
        Replace an existing truth file (else it is refused before anything is written).

    Returns
    -------
    dict
        ``store``, ``truth``, ``n_clients``, ``rows`` (per kind), ``phenotypes`` (counts),
        ``hat_carriers``, ``dropouts``, the options, and ``seconds`` per step.

    Raises
    ------
    hostcap.errors.ValidationError
        For bad options (before the store is touched), or client codes already in the store
        (nothing is written).
    """
    check_options(n, seed, variant, effect_scale, weeks)
    if truth_out is not None:
        check_output_file(Path(truth_out), force=force, option="--truth-out", make_parents=True)
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    cohort = generate_cohort(
        n, seed, variant=variant, effect_scale=effect_scale, weeks=weeks, progress=progress
    )
    seconds["generate"] = time.perf_counter() - start

    owned = not isinstance(store_or_url, Store)
    store = (
        store_or_url
        if isinstance(store_or_url, Store)
        else open_store(store_or_url, require_schema=False)
    )
    try:
        if truth_out is None:
            check_output_file(
                default_truth_path(str(store.url), seed), force=force, option="--truth-out"
            )
        store.init()
        start = time.perf_counter()
        rows = write_cohort(store, cohort, progress=progress)
        seconds["write"] = time.perf_counter() - start
    finally:
        if owned:  # a store opened here is closed here (its pooled connections too)
            store.dispose()

    url = store.engine.url.render_as_string(hide_password=True)
    path = Path(truth_out) if truth_out is not None else default_truth_path(str(store.url), seed)
    start = time.perf_counter()
    write_truth(cohort, path, force=force)
    seconds["truth"] = time.perf_counter() - start

    clients = cohort.truth_clients
    return {
        "store": url,
        "truth": str(path),
        "n_clients": cohort.n_clients,
        "rows": rows,
        "phenotypes": {str(k): int(v) for k, v in clients["phenotype"].value_counts().items()},
        "hat_carriers": int((clients["hat_copies"] > 0).sum()),
        "dropouts": int((~clients["completed"]).sum()),
        "seed": seed,
        "variant": variant,
        "effect_scale": float(effect_scale),
        "weeks": weeks,
        "solver_fallback_clients": cohort.meta["solver_fallback_clients"],
        "seconds": seconds,
        "note": "SYNTHETIC clients (flagged demo): not real people. "
        + str(cohort.meta["hypothesis_note"]),
    }
