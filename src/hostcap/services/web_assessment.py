"""The assessment and what-if pages, as plain data: a fresh assessment of the stored data
(``assess_stored_client``, the CLI's path), its history, and the model's simulated band for the
client's phenotype (HYPOTHESIS). Each view is audited with the user."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from hostcap.clinical_store import Store
from hostcap.errors import Issue, ValidationError
from hostcap.services.assessment import (
    ClientAssessment,
    StoredAssessment,
    assess_stored_client,
    format_result,
)
from hostcap.services.assessment_reports import client_safety_banner, stored_assessments
from hostcap.services.web_pages import audit_view
from hostcap.services.web_timeline import svg_text

__all__ = ["assessment_page", "client_view_banner", "save_assessment", "what_if"]


# -- assessment ------------------------------------------------------------------------------


def assessment_page(store: Store, code: str, *, actor: str) -> dict[str, Any]:
    """A fresh (unsaved) assessment of the stored data, the banner and the stored history."""
    outcome: ClientAssessment | None = None
    problems: list[Issue] = []
    with store.snapshot():  # one read transaction: the assessment and banner see one state
        try:
            outcome = assess_stored_client(store, code, save=False)
        except ValidationError as exc:
            problems = exc.issues
        history: list[StoredAssessment] = stored_assessments(store, code)
        safety = client_view_banner(store, code)
    audit_view(store, code, "assessment", actor=actor)
    return {
        "code": code,
        "safety": safety,
        "result": outcome.result.model_dump(mode="json") if outcome else None,
        "text": format_result(outcome.result, "text") if outcome else "",
        "skipped": [i.message for i in outcome.skipped] if outcome else [],
        "problems": [str(p) for p in problems],
        "history": [h.as_dict() for h in reversed(history)],
    }


def client_view_banner(store: Store, code: str) -> list[str]:
    """The safety banner lines alone (the same as ``client show`` prints first)."""
    return client_safety_banner(store, code)


def save_assessment(store: Store, code: str, *, actor: str) -> int:
    """Assess the stored data and save it (rulebook version and sha256) as ``hostcap assess``."""
    outcome = assess_stored_client(store, code, save=True, actor=actor)
    assert outcome.assessment_id is not None
    return outcome.assessment_id


# -- what-if ----------------------------------------------------------------------------------


def what_if(store: Store, code: str, *, variant: str, protocol: str, actor: str) -> dict[str, Any]:
    """The simulated band of ``code``'s phenotype under a protocol: HYPOTHESIS.

    ``protocol``: ``example`` (the phenotype's shipped example), ``plan`` (the phases of the
    client's plan from the rulebook) or ``none``. The phenotype is the rule-based label of a
    fresh assessment; without one (``insufficient_data``, ``mixed``) the page says so.
    """
    from hostcap.mechanistic_model import VARIANTS, expected_trajectory_band
    from hostcap.services.assessment import model_protocol
    from hostcap.services.modelling import example_protocol

    if variant not in VARIANTS:
        raise ValidationError.single("variant", variant, "one of " + ", ".join(VARIANTS))
    if protocol not in ("example", "plan", "none"):
        raise ValidationError.single("protocol", protocol, "one of example, plan, none")
    outcome = assess_stored_client(store, code, save=False)
    label = outcome.result.phenotype.label
    audit_view(store, code, "what-if", actor=actor)
    base = {
        "code": code,
        "variant": variant,
        "variants": list(VARIANTS),
        "protocol": protocol,
        "phenotype": label,
        "safety": client_view_banner(store, code),
        "client_fit": None,
        "fit_note": "No per-client fit is stored for this client, so only the phenotype's "
        "band is shown.",
    }
    if label not in ("A", "B", "C"):
        return base | {
            "svg": "",
            "rows": [],
            "note": f"The rule-based phenotype is {label!r}: there is no model preset to "
            "simulate. Record more data and assess again.",
        }
    chosen = None
    if protocol == "example":
        chosen = example_protocol(label)
    elif protocol == "plan" and outcome.result.plan is not None:
        chosen = model_protocol(label, outcome.result.plan.phases)
    band = expected_trajectory_band(label, protocol=chosen, weeks=16, variant=variant)
    names = list(dict.fromkeys(band["name"]))
    fig, axes = plt.subplots(
        len(names), 1, sharex=True, figsize=(8, 1.8 * len(names)), layout="constrained"
    )
    axes_list = list(axes) if len(names) > 1 else [axes]
    for ax, name in zip(axes_list, names, strict=True):
        part = band[band["name"] == name]
        ax.fill_between(part["week"], part["low"], part["high"], alpha=0.3, label="10–90 %")
        ax.plot(part["week"], part["median"], label="median")
        ax.set_ylabel(name.replace("_", " "), fontsize=8)
        ax.tick_params(which="both", labelsize=7)
    axes_list[-1].set_xlabel("week")
    axes_list[0].legend(fontsize=7)
    fig.suptitle(f"HYPOTHESIS — simulated band, phenotype {label}, variant {variant}", fontsize=10)
    rows = [
        {
            "week": int(r["week"]),
            "name": str(r["name"]),
            "low": float(r["low"]),
            "median": float(r["median"]),
            "high": float(r["high"]),
        }
        for r in band.to_dict("records")
    ]
    return base | {
        "svg": svg_text(fig),
        "rows": rows,
        "note": "HYPOTHESIS: a mechanistic model's simulation for the phenotype preset, not a "
        "prediction for this person; discuss any medication question with the prescriber.",
    }
