"""Clonality scores and HαT handling: REMA (Alvarez-Twose 2010), NICAS (Carter 2018) and the
HαT-corrected baseline tryptase with its genotyping suggestion.

REMA and NICAS were derived in adults (indeterminate under 18); NICAS only in idiopathic
anaphylaxis. A score outside its population reports no score at all.
"""

from __future__ import annotations

from collections.abc import Sequence

from hostcap.clinical_decisions.assessment_input import AssessmentInput, Episode
from hostcap.clinical_decisions.criteria_readings import (
    CriterionOutcome,
    ItemOutcome,
    Params,
    ScoreRange,
    any_episode,
    finding_value,
    hat_corrected_tryptase,
    latest_baseline,
    missing_if_none,
    param_float,
    register_criterion,
)
from hostcap.clinical_decisions.three_valued_logic import (
    Tri,
    at_least,
    k_and,
    k_or,
    strictly_above,
)

__all__ = ["hat", "nicas", "rema"]

# -- scores ---------------------------------------------------------------------------------------


def _points(value: Tri, if_true: int, if_false: int) -> tuple[int, int]:
    if value is None:
        return min(if_true, if_false), max(if_true, if_false)
    return (if_true, if_true) if value else (if_false, if_false)


def _score_item(
    item_id: str,
    description: str,
    value: Tri,
    if_true: int,
    if_false: int,
    missing: tuple[str, ...],
) -> ItemOutcome:
    low, high = _points(value, if_true, if_false)
    return ItemOutcome(
        item_id,
        description,
        value,
        points=low if low == high else None,
        points_range=(low, high),
        missing=missing if value is None else (),
    )


def _sex_item(inp: AssessmentInput, params: Params) -> ItemOutcome:
    male: Tri = {"male": True, "female": False}.get(inp.sex)
    return _score_item(
        "sex",
        f"male {int(params['male']):+d} / female {int(params['female']):+d}",
        male,
        int(params["male"]),
        int(params["female"]),
        ("sex (male or female)",),
    )


def _score_outcome(items: list[ItemOutcome], cut_off: int, notes: list[str]) -> CriterionOutcome:
    low = sum(i.points_range[0] for i in items if i.points_range)
    high = sum(i.points_range[1] for i in items if i.points_range)
    rng = ScoreRange(low, high)
    value: Tri = True if low >= cut_off else (False if high < cut_off else None)
    return CriterionOutcome(
        value=value,
        items=items,
        details={"score": rng.exact, "score_range": [low, high], "cut_off": cut_off},
        notes=notes,
    )


def _outside_population(
    outcome: CriterionOutcome, applies: Tri, reason: str, missing: Sequence[str] = ()
) -> CriterionOutcome:
    """A score outside (or not known to be inside) the population it was derived in.

    Its status is ``indeterminate`` with the reason; when the person is certainly outside the
    population no score is reported at all (``score`` and ``score_range`` null), so that no
    rule can read it.
    """
    if applies is True:
        return outcome
    details = dict(outcome.details)
    details["applicable"] = applies
    if applies is False:
        details.update(score=None, score_range=None)
    return CriterionOutcome(
        value=None,
        items=outcome.items if applies is None else [],
        details=details,
        notes=[reason, *outcome.notes],
        missing_extra=list(missing),
    )


def _adult(inp: AssessmentInput, params: Params) -> bool:
    return inp.age_years >= param_float(params, "adult_from_years")


_ADULTS_ONLY = (
    "{name} was derived and validated in adults; for a person under {years:g} it does not "
    "apply (indeterminate), whatever the items say."
)


def _episodes_for_score(inp: AssessmentInput) -> list[Episode] | None:
    # The scores apply to people with episodes of systemic MC activation; none recorded = unknown.
    return inp.episodes or None


@register_criterion(
    "rema",
    (
        "male",
        "female",
        "skin_all_absent",
        "skin_any_present",
        "presyncope_or_syncope",
        "tryptase_below_ng_ml",
        "tryptase_below_points",
        "tryptase_above_ng_ml",
        "tryptase_above_points",
        "cut_off",
        "adult_from_years",
    ),
)
def rema(inp: AssessmentInput, params: Params) -> CriterionOutcome:
    """REMA score (Alvarez-Twose 2010): ≥2 → high probability of clonal MC disease.

    Item points as listed in docs/evidence.md#alvarez_twose2010_rema, UNVERIFIED against the
    primary table.
    """
    episodes = _episodes_for_score(inp)
    skin_any = k_or(*(any_episode(episodes, a) for a in ("pruritus", "urticaria", "angioedema")))
    syncope = any_episode(episodes, "presyncope_or_syncope")
    latest = latest_baseline(inp)
    low_t, high_t = (
        param_float(params, "tryptase_below_ng_ml"),
        param_float(params, "tryptase_above_ng_ml"),
    )
    if latest is None:
        t_range = (int(params["tryptase_below_points"]), int(params["tryptase_above_points"]))
    elif latest < low_t:
        t_range = (int(params["tryptase_below_points"]),) * 2
    elif latest > high_t:
        t_range = (int(params["tryptase_above_points"]),) * 2
    else:
        t_range = (0, 0)
    tryptase_item = ItemOutcome(
        "baseline_tryptase",
        f"baseline tryptase <{low_t:g} ng/mL {int(params['tryptase_below_points']):+d}; "
        f">{high_t:g} ng/mL {int(params['tryptase_above_points']):+d}",
        None if latest is None else True,
        observed=latest,
        points=t_range[0] if t_range[0] == t_range[1] else None,
        points_range=(min(t_range), max(t_range)),
        missing=missing_if_none(latest, "tryptase.baseline_ng_ml"),
    )
    ep_missing = ("episodes",) if episodes is None else ()
    items = [
        _sex_item(inp, params),
        _score_item(
            "skin_signs",
            "pruritus, urticaria and angioedema all absent "
            f"{int(params['skin_all_absent']):+d}; "
            f"any present {int(params['skin_any_present']):+d}",
            None if skin_any is None else not skin_any,
            int(params["skin_all_absent"]),
            int(params["skin_any_present"]),
            ep_missing or ("episodes[].urticaria", "episodes[].angioedema", "episodes[].pruritus"),
        ),
        _score_item(
            "presyncope_or_syncope",
            f"presyncope and/or syncope {int(params['presyncope_or_syncope']):+d}",
            syncope,
            int(params["presyncope_or_syncope"]),
            0,
            ep_missing or ("episodes[].presyncope_or_syncope",),
        ),
        tryptase_item,
    ]
    notes = [
        "Item points UNVERIFIED against Alvarez-Twose 2010 "
        "(docs/evidence.md#alvarez_twose2010_rema); cut-off ≥2 confirmed by secondary sources. "
        "For adults without typical skin lesions."
    ]
    if finding_value(inp, "monomorphic_skin_lesions") is True:
        notes.append(
            "Monomorphic skin lesions are recorded: REMA was derived in patients without typical "
            "skin lesions, and the lesions are a referral reason by themselves."
        )
    outcome = _score_outcome(items, int(params["cut_off"]), notes)
    return _outside_population(
        outcome,
        _adult(inp, params),
        _ADULTS_ONLY.format(name="REMA", years=param_float(params, "adult_from_years")),
    )


@register_criterion(
    "nicas",
    (
        "male",
        "female",
        "angioedema_absent",
        "flushing_present",
        "urticaria_present",
        "syncope",
        "tryptase_threshold_ng_ml",
        "tryptase_below_points",
        "tryptase_at_least_points",
        "kit_negative",
        "kit_positive",
        "cut_off",
        "adult_from_years",
    ),
)
def nicas(inp: AssessmentInput, params: Params) -> CriterionOutcome:
    """NICAS (NIH idiopathic clonal anaphylaxis score, Carter 2018): ≥2 → bone marrow indicated.

    Carter 2018 derived it in adults with idiopathic anaphylaxis; it applies only where some
    recorded episode was anaphylaxis with no sting and no identified trigger. Elsewhere it is
    ``indeterminate`` with the reason. Its +3 item is syncope (loss of consciousness), not
    presyncope.
    """
    episodes = _episodes_for_score(inp)
    ep_missing = ("episodes",) if episodes is None else ()
    angio = any_episode(episodes, "angioedema")
    latest = latest_baseline(inp)
    threshold = param_float(params, "tryptase_threshold_ng_ml")
    kit: Tri = {"positive": True, "negative": False}.get(inp.kit_d816v or "")
    items = [
        _sex_item(inp, params),
        _score_item(
            "angioedema_absent",
            f"angioedema absent {int(params['angioedema_absent']):+d}",
            None if angio is None else not angio,
            int(params["angioedema_absent"]),
            0,
            ep_missing or ("episodes[].angioedema",),
        ),
        _score_item(
            "flushing",
            f"flushing {int(params['flushing_present']):+d}",
            any_episode(episodes, "flushing"),
            int(params["flushing_present"]),
            0,
            ep_missing or ("episodes[].flushing",),
        ),
        _score_item(
            "urticaria",
            f"urticaria {int(params['urticaria_present']):+d}",
            any_episode(episodes, "urticaria"),
            int(params["urticaria_present"]),
            0,
            ep_missing or ("episodes[].urticaria",),
        ),
        _score_item(
            "syncope",
            f"syncope (loss of consciousness; presyncope does not count) "
            f"{int(params['syncope']):+d}",
            None if episodes is None else k_or(*(_syncope(e) for e in episodes)),
            int(params["syncope"]),
            0,
            ep_missing or ("episodes[].syncope",),
        ),
        _score_item(
            "baseline_tryptase",
            f"tryptase ≥{threshold:g} ng/mL {int(params['tryptase_at_least_points']):+d}; "
            f"below {int(params['tryptase_below_points']):+d}",
            at_least(latest, threshold),
            int(params["tryptase_at_least_points"]),
            int(params["tryptase_below_points"]),
            ("tryptase.baseline_ng_ml",),
        ),
        _score_item(
            "kit_d816v_blood",
            f"blood KIT D816V (ASO-PCR) positive {int(params['kit_positive']):+d}; negative "
            f"{int(params['kit_negative']):+d}",
            kit,
            int(params["kit_positive"]),
            int(params["kit_negative"]),
            ("kit_d816v",),
        ),
    ]
    outcome = _score_outcome(
        items,
        int(params["cut_off"]),
        [
            "Item points from the medicalalgorithms.com implementation "
            "(docs/evidence.md#carter2018_nicas)."
        ],
    )
    if not _adult(inp, params):
        return _outside_population(
            outcome,
            False,
            _ADULTS_ONLY.format(name="NICAS", years=param_float(params, "adult_from_years")),
        )
    idiopathic = (
        None
        if episodes is None
        else k_or(
            *(
                k_and(
                    e.anaphylaxis,
                    None if e.hymenoptera_sting is None else not e.hymenoptera_sting,
                    None if e.trigger_identified is None else not e.trigger_identified,
                )
                for e in episodes
            )
        )
    )
    return _outside_population(
        outcome,
        idiopathic,
        "NICAS was derived in idiopathic anaphylaxis (Carter 2018): it applies only where a "
        "recorded episode was anaphylaxis with no sting and no identified trigger"
        + (
            "; none is recorded, so it does not apply."
            if idiopathic is False
            else "; whether one is, is not recorded (indeterminate)."
        ),
        ()
        if idiopathic is False
        else (
            "episodes[].anaphylaxis",
            "episodes[].hymenoptera_sting",
            "episodes[].trigger_identified",
        ),
    )


def _syncope(e: Episode) -> Tri:
    """Loss of consciousness in an episode: recorded directly, or ruled out by 'no presyncope or
    syncope'; 'presyncope or syncope' alone leaves it open."""
    if e.syncope is not None:
        return e.syncope
    return False if e.presyncope_or_syncope is False else None


# -- HαT ------------------------------------------------------------------------------------------


def _symptomatic(inp: AssessmentInput) -> Tri:
    if inp.episodes or inp.current_episode is not None or inp.symptom_pattern is not None:
        return True
    return None


@register_criterion(
    "hat",
    (
        "genotyping_above_ng_ml",
        "genotyping_requires_symptoms",
        "uninterpretable_above_ng_ml",
        "upper_limit_per_copy_ng_ml",
    ),
)
def hat(inp: AssessmentInput, params: Params) -> CriterionOutcome:
    """HαT: corrected baseline tryptase and whether TPSAB1 genotyping (ddPCR) is suggested.

    ``met`` means a genotype with ≥1 extra α-tryptase copy is recorded (HαT present),
    ``not_met`` none, ``indeterminate`` no genotype.
    """
    copies = inp.alpha_tryptase_extra_copies
    latest = latest_baseline(inp)
    corrected = hat_corrected_tryptase(latest, copies)
    suggested: Tri
    if copies is not None:
        suggested = False
    else:
        above = strictly_above(latest, param_float(params, "genotyping_above_ng_ml"))
        needs = bool(params["genotyping_requires_symptoms"])
        suggested = k_and(above, _symptomatic(inp)) if needs else above
        if suggested is None and above is True:
            suggested = None
    notes = []
    if (
        copies is None
        and latest is not None
        and latest > param_float(params, "uninterpretable_above_ng_ml")
    ):
        notes.append(
            f"Baseline tryptase above {params['uninterpretable_above_ng_ml']} ng/mL without a "
            "TPSAB1 genotype: HαT may explain part of it, but until a genotype is recorded the "
            "raw value counts for the WHO/ICC criteria and for every referral threshold."
        )
    notes.append(
        "HαT is associated with, not proven to cause, symptoms; about 2/3 of carriers have few "
        "or none."
    )
    upper = (
        None if copies is None else param_float(params, "upper_limit_per_copy_ng_ml") * (1 + copies)
    )
    return CriterionOutcome(
        value=None if copies is None else copies >= 1,
        items=[
            ItemOutcome(
                "genotype",
                "TPSAB1 extra α-tryptase copies (ddPCR)",
                None if copies is None else copies >= 1,
                observed=copies,
                missing=missing_if_none(copies, "alpha_tryptase_extra_copies"),
            )
        ],
        details={
            "corrected_baseline_tryptase_ng_ml": None if corrected is None else round(corrected, 3),
            "genotyping_suggested": suggested,
            "baseline_tryptase_ng_ml": latest,
            "extra_alpha_copies": copies,
            "genotype_upper_limit_ng_ml": upper,
            "genotyping_threshold_ng_ml": param_float(params, "genotyping_above_ng_ml"),
        },
        notes=notes,
    )
