"""Systemic mastocytosis criteria, WHO 5th edition (2022) and ICC 2022, and the B- and
C-findings (burden and organ damage).

Tryptase is HαT-adjusted only when the TPSAB1 genotype is recorded (WHO 2022); a recorded
negative KIT test is a negative minor criterion. Each status is settled as soon as the missing
items can no longer change it (:func:`three_valued_logic.decided`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hostcap.clinical_decisions.assessment_input import AssessmentInput
from hostcap.clinical_decisions.criteria_readings import (
    CriterionOutcome,
    ItemOutcome,
    Params,
    count_value,
    finding_value,
    hat_adjusted_above,
    hat_corrected_tryptase,
    kit_positive,
    latest_baseline,
    marrow_value,
    missing_if_none,
    param_float,
    register_criterion,
    serial_baselines,
)
from hostcap.clinical_decisions.three_valued_logic import (
    Tri,
    at_least,
    decided,
    k_and,
    k_or,
    strictly_above,
)

__all__ = ["b_findings", "c_findings", "icc_2022_sm", "who_2022_sm"]

# -- systemic mastocytosis ----------------------------------------------------------------------


def _sm_minors(inp: AssessmentInput, params: Params, *, persistent: bool) -> list[ItemOutcome]:
    copies = inp.alpha_tryptase_extra_copies
    spindle_value = marrow_value(inp, "spindle_or_atypical_pct")
    threshold = param_float(params, "tryptase_above_ng_ml")
    baselines = serial_baselines(inp)
    tryptase: Tri
    t_missing: tuple[str, ...]
    if baselines is None:
        tryptase, t_missing = None, ("tryptase.baseline_ng_ml",)
    elif persistent:
        each = [hat_adjusted_above(v, copies, threshold, inclusive=False) for v in baselines]
        tryptase = k_and(*each)
        if tryptase is True and len(baselines) < 2:
            tryptase = None  # persistence needs a second baseline
        t_missing = ("tryptase.baseline_ng_ml (a second baseline: persistence)",)
    else:
        tryptase = hat_adjusted_above(baselines[-1], copies, threshold, inclusive=False)
        t_missing = ()
    kit = kit_positive(inp)
    return [
        ItemOutcome(
            "minor_atypical",
            f">{params['spindle_pct_above']} % of MCs spindle-shaped or atypical",
            strictly_above(spindle_value, param_float(params, "spindle_pct_above")),
            observed=spindle_value,
            missing=missing_if_none(spindle_value, "bone_marrow.spindle_or_atypical_pct"),
        ),
        ItemOutcome(
            "minor_kit",
            "KIT D816V (or another activating KIT mutation)",
            kit,
            observed=inp.kit_d816v,
            missing=("kit_d816v", "bone_marrow.kit_d816v_vaf_pct") if kit is None else (),
        ),
        ItemOutcome(
            "minor_cd",
            "MCs express CD2 and/or CD25 and/or CD30",
            marrow_value(inp, "cd25_cd2_cd30_expression"),
            missing=missing_if_none(
                marrow_value(inp, "cd25_cd2_cd30_expression"),
                "bone_marrow.cd25_cd2_cd30_expression",
            ),
        ),
        ItemOutcome(
            "minor_tryptase",
            ("persistent " if persistent else "")
            + f"baseline tryptase > {threshold:g} ng/mL (HαT-adjusted when the TPSAB1 genotype "
            "is recorded, the raw value otherwise)",
            tryptase,
            observed={
                "baselines_ng_ml": baselines,
                "hat_corrected_latest_ng_ml": hat_corrected_tryptase(
                    None if baselines is None else baselines[-1], copies
                ),
            },
            missing=t_missing,
        ),
    ]


def _major(inp: AssessmentInput) -> ItemOutcome:
    value = marrow_value(inp, "dense_aggregates_15_plus")
    return ItemOutcome(
        "major",
        "multifocal dense MC infiltrates (≥15 MCs in aggregates) in marrow or another "
        "extracutaneous organ",
        value,
        missing=missing_if_none(value, "bone_marrow.dense_aggregates_15_plus"),
    )


@register_criterion(
    "who_2022_sm",
    ("spindle_pct_above", "tryptase_above_ng_ml", "min_minor_with_major", "min_minor_alone"),
)
def who_2022_sm(inp: AssessmentInput, params: Params) -> CriterionOutcome:
    """WHO 5th edition (2022) SM: major + ≥1 minor, or ≥3 minor."""
    major = _major(inp)
    minors = _sm_minors(inp, params, persistent=False)
    with_major, alone = int(params["min_minor_with_major"]), int(params["min_minor_alone"])

    def rule(v: Sequence[bool]) -> bool:
        return (v[0] and sum(v[1:]) >= with_major) or sum(v[1:]) >= alone

    return CriterionOutcome(
        value=decided(rule, [major.value, *(m.value for m in minors)]),
        items=[major, *minors],
        notes=[
            "Tryptase minor criterion not valid with an associated myeloid neoplasm.",
            "WHO 2022: tryptase is adjusted for HαT only when HαT is known (a recorded TPSAB1 "
            "genotype); without a genotype the raw value counts and genotyping is suggested.",
            *_genotype_note(inp, params),
        ],
    )


def _genotype_note(inp: AssessmentInput, params: Params) -> list[str]:
    baselines = serial_baselines(inp)
    threshold = param_float(params, "tryptase_above_ng_ml")
    if inp.alpha_tryptase_extra_copies is None and baselines and max(baselines) > threshold:
        return [
            f"Baseline tryptase > {threshold:g} ng/mL without a TPSAB1 genotype: the raw value "
            "was used; ddPCR genotyping for HαT is suggested."
        ]
    return []


@register_criterion("icc_2022_sm", ("spindle_pct_above", "tryptase_above_ng_ml", "min_minor_alone"))
def icc_2022_sm(inp: AssessmentInput, params: Params) -> CriterionOutcome:
    """ICC 2022 SM: the major criterion alone, or ≥3 of 4 minor criteria."""
    major = _major(inp)
    minors = _sm_minors(inp, params, persistent=True)
    alone = int(params["min_minor_alone"])

    def rule(v: Sequence[bool]) -> bool:
        return v[0] or sum(v[1:]) >= alone

    return CriterionOutcome(
        value=decided(rule, [major.value, *(m.value for m in minors)]),
        items=[major, *minors],
        notes=[
            "ICC: the major criterion alone suffices; MC identity must be confirmed by tryptase "
            "and/or CD117 immunohistochemistry (assumed when aggregates are recorded).",
            "Tryptase minor criterion needs persistence (≥2 baselines) and is not valid in SM-AMN.",
            "Tryptase is adjusted for HαT only when the TPSAB1 genotype is recorded; otherwise "
            "the raw value counts.",
            *_genotype_note(inp, params),
        ],
    )


# -- B- and C-findings --------------------------------------------------------------------------


@register_criterion(
    "b_findings",
    (
        "who_infiltration_pct_at_least",
        "who_tryptase_at_least_ng_ml",
        "who_vaf_pct_at_least",
        "who_lymph_node_cm_above",
        "icc_infiltration_pct_above",
        "icc_tryptase_above_ng_ml",
        "icc_lymph_node_cm_above",
    ),
)
def b_findings(inp: AssessmentInput, params: Params) -> CriterionOutcome:
    """B-findings (burden of disease), WHO 2022 for the status, ICC 2022 shown beside it."""
    copies = inp.alpha_tryptase_extra_copies
    latest = latest_baseline(inp)
    infiltration = marrow_value(inp, "infiltration_pct")
    vaf = marrow_value(inp, "kit_d816v_vaf_pct")
    hep, spl, lymph = (
        finding_value(inp, n) for n in ("hepatomegaly", "splenomegaly", "lymphadenopathy_cm")
    )
    organ_missing = (
        missing_if_none(hep, "findings.hepatomegaly")
        + missing_if_none(spl, "findings.splenomegaly")
        + missing_if_none(lymph, "findings.lymphadenopathy_cm")
    )
    b1_missing = (
        missing_if_none(infiltration, "bone_marrow.infiltration_pct")
        + missing_if_none(vaf, "bone_marrow.kit_d816v_vaf_pct")
        + missing_if_none(latest, "tryptase.baseline_ng_ml")
    )
    who_b1 = k_or(
        at_least(infiltration, param_float(params, "who_infiltration_pct_at_least")),
        hat_adjusted_above(
            latest, copies, param_float(params, "who_tryptase_at_least_ng_ml"), inclusive=True
        ),
        at_least(vaf, param_float(params, "who_vaf_pct_at_least")),
    )
    who_b3 = k_or(hep, spl, strictly_above(lymph, param_float(params, "who_lymph_node_cm_above")))
    icc_b1 = k_and(
        strictly_above(infiltration, param_float(params, "icc_infiltration_pct_above")),
        hat_adjusted_above(
            latest, copies, param_float(params, "icc_tryptase_above_ng_ml"), inclusive=False
        ),
    )
    icc_b3 = k_or(hep, spl, strictly_above(lymph, param_float(params, "icc_lymph_node_cm_above")))
    items = [
        ItemOutcome(
            "who_b1",
            "WHO B1: MC infiltration ≥30 % and/or tryptase ≥200 ng/mL (HαT-adjusted when the "
            "genotype is recorded, raw otherwise) and/or KIT D816V VAF ≥10 %",
            who_b1,
            missing=b1_missing,
        ),
        ItemOutcome(
            "who_b3",
            "WHO B3: hepatomegaly, splenomegaly or lymphadenopathy >2 cm without dysfunction",
            who_b3,
            missing=organ_missing,
        ),
    ]
    icc_items = [
        ItemOutcome(
            "icc_b1",
            "ICC B1: >30 % marrow cellularity by MC aggregates and tryptase >200 ng/mL",
            icc_b1,
            missing=b1_missing,
        ),
        ItemOutcome(
            "icc_b3",
            "ICC B3: hepatomegaly, splenomegaly or lymphadenopathy >1 cm",
            icc_b3,
            missing=organ_missing,
        ),
    ]

    def _summary(values: list[Tri]) -> dict[str, Any]:
        return {
            "count_present": sum(1 for v in values if v is True),
            "count_unknown": sum(1 for v in values if v is None),
        }

    return CriterionOutcome(
        value=k_or(who_b1, who_b3),
        items=items,
        details={
            "who": _summary([who_b1, who_b3]),
            "icc": {**_summary([icc_b1, icc_b3]), "items": icc_items},
        },
        notes=[
            "B2 (myeloproliferation/dysplasia or cytopenia not meeting C) needs haematopathology "
            "and is not assessed from these inputs.",
        ],
    )


@register_criterion(
    "c_findings",
    (
        "haemoglobin_below_g_dl",
        "platelets_below_10e9_l",
        "neutrophils_below_10e9_l",
        "osteolysis_cm_at_least",
    ),
)
def c_findings(inp: AssessmentInput, params: Params) -> CriterionOutcome:
    """C-findings (organ damage from MC infiltration; the same in WHO 2022 and ICC 2022)."""
    hb, plt, anc = (
        count_value(inp, n) for n in ("haemoglobin_g_dl", "platelets_10e9_l", "neutrophils_10e9_l")
    )

    def below(value: float | None, limit: float) -> Tri:
        return None if value is None else value < limit

    c1 = k_or(
        below(hb, param_float(params, "haemoglobin_below_g_dl")),
        below(plt, param_float(params, "platelets_below_10e9_l")),
        below(anc, param_float(params, "neutrophils_below_10e9_l")),
    )
    ascites = finding_value(inp, "ascites")
    spl = finding_value(inp, "splenomegaly")
    # Hypersplenism is not an input: splenomegaly leaves the item open rather than settled.
    c3: Tri = False if spl is False else None
    osteo = finding_value(inp, "osteolysis_cm")
    fracture = finding_value(inp, "pathological_fracture")
    c4 = k_and(at_least(osteo, param_float(params, "osteolysis_cm_at_least")), fracture)
    c5 = finding_value(inp, "malabsorption_weight_loss")
    items = [
        ItemOutcome(
            "c1_cytopenia",
            f"marrow dysfunction: Hb <{params['haemoglobin_below_g_dl']} g/dL and/or platelets "
            f"<{params['platelets_below_10e9_l']} ×10⁹/L and/or neutrophils "
            f"<{params['neutrophils_below_10e9_l']} ×10⁹/L",
            c1,
            observed={"haemoglobin_g_dl": hb, "platelets_10e9_l": plt, "neutrophils_10e9_l": anc},
            missing=missing_if_none(hb, "blood_counts.haemoglobin_g_dl")
            + missing_if_none(plt, "blood_counts.platelets_10e9_l")
            + missing_if_none(anc, "blood_counts.neutrophils_10e9_l"),
        ),
        ItemOutcome(
            "c2_liver",
            "hepatomegaly with impaired liver function, ascites or portal hypertension "
            "(ascites recorded here)",
            ascites,
            missing=missing_if_none(ascites, "findings.ascites"),
        ),
        ItemOutcome(
            "c3_spleen",
            "splenomegaly with hypersplenism (hypersplenism is not an input field)",
            c3,
            missing=missing_if_none(spl, "findings.splenomegaly")
            if spl is None
            else ("findings.splenomegaly",),
        ),
        ItemOutcome(
            "c4_bone",
            f"large osteolysis (≥{params['osteolysis_cm_at_least']} cm) with pathological fracture",
            c4,
            missing=missing_if_none(osteo, "findings.osteolysis_cm")
            + missing_if_none(fracture, "findings.pathological_fracture"),
        ),
        ItemOutcome(
            "c5_gi",
            "malabsorption with hypoalbuminaemia and weight loss",
            c5,
            missing=missing_if_none(c5, "findings.malabsorption_weight_loss"),
        ),
    ]
    return CriterionOutcome(
        value=k_or(*(i.value for i in items)),
        items=items,
        notes=["Any C-finding → urgent haematology referral; not for protocol management."],
    )
