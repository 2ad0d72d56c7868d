"""Services for the model at scale: virtual populations, global sensitivity, per-client fitting.

The CLI (``hostcap population``, ``hostcap sensitivity``, ``hostcap fit``) is a thin face over these
functions; they read inputs (protocol files, the clinical store), call the pure core in
:mod:`hostcap.mechanistic_model` and write the result files. THE MODEL IS A HYPOTHESIS.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hostcap.errors import ValidationError
from hostcap.mechanistic_model import (
    HYPOTHESIS_NOTE,
    INTERVAL_METHODS,
    PHENOTYPES,
    VARIANTS,
    ClientFit,
    Protocol,
    compare_variants,
    compile_model,
    petab_problem,
    protocol_from_mapping,
    sensitivity_analysis,
)
from hostcap.output_files import (
    check_output_file,
    output_folder,
    save_figure,
    write_csv,
    write_text,
)

# Moved out of this module, still importable from it (the constants as explicit re-exports).
from hostcap.services.dask_clusters import WORKER_DASK_CONFIG as WORKER_DASK_CONFIG
from hostcap.services.dask_clusters import dask_client, local_cluster, local_scheduler
from hostcap.services.modelling import resolve_protocol
from hostcap.services.population_runs import CONFIRM_ABOVE_S as CONFIRM_ABOVE_S
from hostcap.services.population_runs import MAX_BAND_CELLS as MAX_BAND_CELLS
from hostcap.services.population_runs import MAX_CHUNK as MAX_CHUNK
from hostcap.services.population_runs import MAX_MEMBERS as MAX_MEMBERS
from hostcap.services.population_runs import MAX_WEEKS as MAX_WEEKS
from hostcap.services.population_runs import (
    Progress,
    _protocol_label,
    estimate_population,
    run_population,
)

__all__ = [
    "client_observations",
    "dask_client",
    "estimate_population",
    "local_cluster",
    "local_scheduler",
    "run_fit",
    "run_population",
    "run_sensitivity",
]

#: Store records → model observables: labs ``tryptase`` → ``tryptase_serum`` (acute samples taken
#: after an episode are left out: the model describes the baseline level), labs ``hs_crp`` →
#: ``hs_crp``, the ``symptom_diary`` questionnaire total (mean of six 0–10 ratings) →
#: ``symptom_load``.
STORE_MEASURES = {"tryptase": "tryptase_serum", "hs_crp": "hs_crp"}


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return pd.Timestamp(value).date()


def client_observations(
    code: str, database: str | None = None
) -> tuple[pd.DataFrame, Protocol | None, str | None, list[str]]:
    """A stored client's observations, what they took (as a protocol) and phenotype label.

    Time zero is the first enrolment's start, or the first observation when not enrolled.
    Interventions the model has an input for become protocol phases (one phase per date on
    which the set of running interventions changes); others are listed in the notes.

    Returns
    -------
    tuple
        ``(observations, protocol, phenotype_label, notes)``; observations are
        ``measure, time_h, value, unit``.
    """
    # Imported here: the clinical store (SQLAlchemy, ~1 s) is not needed by `hostcap population`.
    from hostcap.services.store import open_store

    store = open_store(database)
    try:
        labs = store.frame("labs", code=code)
        diary = store.frame("questionnaires", code=code)
        interventions = store.frame("interventions", code=code)
        enrolments = store.enrolments(code)
    finally:  # opened here, so closed here: no pooled connection outlives the call
        store.dispose()
    rows: list[tuple[str, dt.datetime, float, str]] = []
    if not labs.empty:
        keep = labs[labs["analyte"].isin(list(STORE_MEASURES)) & (labs["context"] != "acute")]
        for analyte, when, value, unit in zip(
            keep["analyte"], keep["collected_at"], keep["value"], keep["unit"], strict=True
        ):
            rows.append(
                (
                    STORE_MEASURES[str(analyte)],
                    pd.Timestamp(when).to_pydatetime(),
                    float(value),
                    str(unit),
                )
            )
    if not diary.empty:
        keep = diary[diary["instrument"] == "symptom_diary"]
        for when, total in zip(keep["answered_on"], keep["total"], strict=True):
            day = _as_date(when)
            rows.append(
                ("symptom_load", dt.datetime(day.year, day.month, day.day, 12), float(total), "1")
            )
    if not rows:
        raise ValidationError.single(
            f"client {code}",
            "no tryptase, hs_crp or symptom_diary records",
            "at least one stored tryptase / hs_crp lab or symptom_diary questionnaire",
        )
    notes: list[str] = []
    if enrolments:
        origin = _as_date(enrolments[0]["started_on"])
    else:
        origin = min(r[1] for r in rows).date()
        notes.append("not enrolled: time zero is the first observation")
    start = dt.datetime(origin.year, origin.month, origin.day)
    frame = (
        pd.DataFrame(
            {
                "measure": [r[0] for r in rows],
                "time_h": [max((r[1] - start).total_seconds() / 3600.0, 0.0) for r in rows],
                "value": [r[2] for r in rows],
                "unit": [r[3] for r in rows],
            }
        )
        .sort_values(["time_h", "measure"], kind="stable")
        .reset_index(drop=True)
    )
    if (frame["time_h"] == 0).any() and any(r[1] < start for r in rows):
        notes.append("observations before time zero were placed at time zero")
    protocol = _protocol_from_interventions(interventions, origin, notes)
    label = next((e.get("phenotype_label") for e in enrolments if e.get("phenotype_label")), None)
    return frame, protocol, label, notes


def _protocol_from_interventions(
    frame: pd.DataFrame, origin: dt.date, notes: list[str]
) -> Protocol | None:
    if frame.empty:
        return None
    known = set(compile_model("essay").definition.input_map)
    modelled = frame[frame["intervention"].isin(known)]
    skipped = sorted(set(frame["intervention"]) - known)
    if skipped:
        notes.append("interventions without a model input (not simulated): " + ", ".join(skipped))
    if modelled.empty:
        return None
    starts = [_as_date(d) for d in modelled["start_date"]]
    ends = [None if pd.isna(d) else _as_date(d) for d in modelled["end_date"]]
    cuts = sorted(
        {max(d, origin) for d in starts} | {e for e in ends if e is not None and e > origin}
    )
    phases = []
    for k, day in enumerate(cuts):
        items = [
            {"id": str(i), "dose": float(dose)}
            for i, dose, s0, e0 in zip(
                modelled["intervention"], modelled["dose"], starts, ends, strict=True
            )
            if s0 <= day and (e0 is None or e0 > day)
        ]
        phases.append(
            {
                "id": f"phase_{k + 1}",
                "start_week": (day - origin).days / 7.0,
                "interventions": items,
            }
        )
    return protocol_from_mapping({"id": "stored_interventions", "phases": phases})


def run_fit(
    code: str,
    *,
    variant: str,
    database: str | None = None,
    phenotype: str | None = None,
    petab_dir: Path | None = None,
    n_starts: int = 4,
    seed: int = 0,
    scheduler: str | None = None,
    intervals: str = "wald",
    force: bool = False,
) -> dict[str, Any]:
    """Fit a stored client under one variant (or ``all``, with the comparison table).

    ``intervals``: ``"wald"`` or ``"profile"`` (profile likelihood; a few times slower).
    ``force``: replace existing files in ``petab_dir``.
    """
    if intervals not in INTERVAL_METHODS:
        raise ValidationError.single("--intervals", intervals, " or ".join(INTERVAL_METHODS))
    if petab_dir is not None:
        output_folder(petab_dir, option="--petab")
    observations, protocol, label, notes = client_observations(code, database)
    chosen = phenotype or (label if label in PHENOTYPES else None) or "A"
    if phenotype is None and label not in PHENOTYPES:
        notes.append(f"phenotype preset {chosen!r} used for the parameters not fitted")
    variants = list(VARIANTS) if variant == "all" else [variant]
    for v in variants:
        if v not in VARIANTS:
            raise ValidationError.single("--variant", v, "one of " + ", ".join([*VARIANTS, "all"]))
    result: dict[str, Any] = {
        "client": code,
        "phenotype": chosen,
        "protocol": protocol.model_dump(mode="json") if protocol is not None else None,
        "n_observations": len(observations),
        "measures": sorted(observations["measure"].unique()),
        "intervals": intervals,
        "notes": notes,
        "fits": {},
        "note": HYPOTHESIS_NOTE,
    }
    fits: dict[str, ClientFit] = {}
    if len(variants) > 1:
        # The comparison fits every variant to all observations anyway; report those fits.
        with dask_client(scheduler) as client:
            table = compare_variants(
                observations,
                variants,
                phenotype=chosen,
                protocol=protocol,
                n_starts=n_starts,
                seed=seed,
                client=client,
                fits=fits,
                intervals=intervals,
            )
        result["comparison"] = table.replace({np.nan: None}).to_dict(orient="records")
    else:
        fits[variants[0]] = ClientFit(
            variants[0],
            chosen,
            protocol=protocol,
            n_starts=n_starts,
            seed=seed,
            intervals=intervals,
        ).fit(observations)
    for v in variants:
        fit = fits[v]
        result["fits"][v] = {
            "estimates": fit.estimates_.to_dict(orient="records"),
            "log_likelihood": fit.log_likelihood_,
            "aic": fit.aic_,
            "bic": fit.bic_,
            "warnings": list(fit.interval_warnings_),
        }
        notes.extend(f"{v}: {w}" for w in fit.interval_warnings_)
        if intervals == "profile":
            result["fits"][v]["profile"] = fit.profile_.to_dict(orient="records")
    if petab_dir is not None:
        files = petab_problem(
            observations, variant=variants[0], phenotype=chosen, protocol=protocol
        )
        for name in files:  # every refusal before the first file is written
            check_output_file(petab_dir / name, force=force, option="--petab")
        for name, text in files.items():
            write_text(petab_dir / name, text, force=force, option="--petab")
        result["petab"] = {
            "directory": str(petab_dir),
            "variant": variants[0],
            "files": sorted(files),
        }
    return result


_SENSITIVITY_FILES = ("indices.csv", "time_resolved.csv", "sensitivity.png")


def run_sensitivity(
    *,
    variant: str,
    phenotype: str,
    method: str,
    n: int,
    output: str,
    at_week: float,
    out_dir: Path,
    summary: str = "value",
    protocol: str | Path | None = None,
    parameters: list[str] | None = None,
    seed: int = 1,
    scheduler: str | None = None,
    progress: Progress | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Sobol or Morris indices; writes ``indices.csv``, ``time_resolved.csv`` and a figure.

    ``protocol`` as in :func:`run_population`: by default the phenotype's example protocol, so
    an output at week 16 is the output under treatment (with ``"none"`` every week repeats the
    pre-treatment steady state).
    """
    if method not in ("sobol", "morris"):
        raise ValidationError.single("--method", method, "sobol or morris")
    if summary not in ("value", "change"):
        raise ValidationError.single("--summary", summary, "value or change")
    output_folder(out_dir, option="--out")
    for name in _SENSITIVITY_FILES:
        check_output_file(out_dir / name, force=force, option="--out")
    protocol_used = resolve_protocol(protocol, phenotype)
    with dask_client(scheduler) as client:
        res = sensitivity_analysis(
            variant,
            phenotype,
            protocol_used,
            method=method,  # type: ignore[arg-type]
            n=n,
            output=output,
            at_week=at_week,
            summary=summary,  # type: ignore[arg-type]
            parameters=parameters,
            seed=seed,
            client=client,
            progress=progress,
        )
    indices, time_resolved, figure = _SENSITIVITY_FILES
    write_csv(res.indices, out_dir / indices, force=force, option="--out")
    write_csv(res.time_resolved, out_dir / time_resolved, force=force, option="--out")
    save_figure(res.figure(), out_dir / figure, force=force, option="--out", dpi=110)
    return {
        "method": method,
        "variant": variant,
        "phenotype": phenotype,
        "protocol": _protocol_label(protocol_used),
        "output": output,
        "summary": summary,
        "at_week": res.at_week,
        "runs": res.n_runs,
        "failed_runs": res.n_failed,
        "indices": res.indices.to_dict(orient="records"),
        "files": [
            str(out_dir / f) for f in ("indices.csv", "time_resolved.csv", "sensitivity.png")
        ],
        "note": HYPOTHESIS_NOTE,
    }
