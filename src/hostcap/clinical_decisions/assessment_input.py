"""The assessment input contract (``hostcap assess --schema``): what a client's assessment holds.

Every field except ``sex`` and ``age_years`` is optional, and a field that is absent means *not
known* — never *absent* or *normal*. Criteria that need an absent field report
``indeterminate`` and name it. Units are in the field names.

Pydantic validation errors are rewritten into one :class:`hostcap.errors.ValidationError` whose
issues name every problem: the field path, the value received and what was expected.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Literal, get_args, get_origin

import pydantic
from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from hostcap.errors import Issue, ValidationError

__all__ = [
    "AssessmentInput",
    "BloodCounts",
    "BoneMarrow",
    "CurrentEpisode",
    "Episode",
    "Findings",
    "History",
    "OrganSystem",
    "Questionnaires",
    "Tryptase",
    "TryptaseEvent",
    "input_field_paths",
    "parse_assessment_input",
]


class OrganSystem(StrEnum):
    """Organ systems an episode can involve."""

    skin = "skin"
    gastrointestinal = "gastrointestinal"
    cardiovascular = "cardiovascular"
    respiratory = "respiratory"
    naso_ocular = "naso_ocular"
    neurological = "neurological"


def _scalar_kind(annotation: Any) -> str | None:
    """Which strict check a field needs: "bool", "number" (int/float) or None (none)."""
    args = [a for a in (get_args(annotation) or (annotation,)) if a is not type(None)]
    if get_origin(annotation) is list:
        return None
    if len(args) == 1 and args[0] is bool:
        return "bool"
    if args and all(a in (int, float) for a in args):
        return "number"
    return None


def _strict_value(kind: str | None, value: Any) -> None:
    # Yes/no fields take only true/false, and numbers never a bool or a string: `"yes"`, 1 or
    # `true` in their place is a data-entry error to name, not a value to coerce.
    if kind == "bool" and value is not None and not isinstance(value, bool):
        raise PydanticCustomError("bool_type", "Input should be a valid boolean")
    if kind == "number" and isinstance(value, bool | str):
        raise PydanticCustomError("float_type", "Input should be a valid number")


def _coercible(item: Any) -> bool:
    if isinstance(item, bool):
        return True
    try:
        float(item)
    except (TypeError, ValueError):
        return False
    return isinstance(item, str)


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    @pydantic.field_validator("*", mode="before")
    @classmethod
    def _no_coercion(cls, value: Any, info: pydantic.ValidationInfo) -> Any:
        if info.field_name is None:
            return value
        annotation = cls.model_fields[info.field_name].annotation
        _strict_value(_scalar_kind(annotation), value)
        inner = [a for a in get_args(annotation) if get_origin(a) is list]
        if inner and isinstance(value, list):
            item_kind = _scalar_kind(get_args(inner[0])[0])
            for item in value:
                # Items pydantic refuses anyway it names with their index; only the ones it
                # would silently coerce are refused here.
                if _coercible(item):
                    _strict_value(item_kind, item)
        return value


class CurrentEpisode(_Part):
    """Signs of an episode happening now (drives the emergency rules).

    Any current shock, collapse (``hypotension_or_collapse``, ``syncope``), systolic pressure
    below the age limit or > 30 % below ``baseline_systolic_bp_mmhg``, or airway / breathing
    compromise (``laryngeal``: laryngeal oedema or stridor; ``respiratory_compromise``) is an
    emergency whatever its cause and whatever else is known; the anaphylaxis criteria (WAO 2020,
    NIAID/FAAN 2006) are evaluated as well.
    """

    onset_minutes_ago: float | None = Field(None, ge=0)
    skin_mucosal: bool | None = None
    respiratory_compromise: bool | None = None
    hypotension_or_collapse: bool | None = None
    syncope: bool | None = None
    severe_gi: bool | None = None
    laryngeal: bool | None = None
    known_allergen_exposure: bool | None = None
    systolic_bp_mmhg: float | None = Field(None, gt=0, le=300)
    baseline_systolic_bp_mmhg: float | None = Field(None, gt=0, le=300)


class Episode(_Part):
    """One past episode of symptoms."""

    organ_systems: list[OrganSystem] | None = None
    urticaria: bool | None = None
    angioedema: bool | None = None
    pruritus: bool | None = None
    flushing: bool | None = None
    presyncope_or_syncope: bool | None = Field(
        None, description="presyncope (near-fainting) and/or syncope during the episode"
    )
    syncope: bool | None = Field(
        None, description="syncope: loss of consciousness during the episode (not presyncope)"
    )
    anaphylaxis: bool | None = None
    hymenoptera_sting: bool | None = None
    trigger_identified: bool | None = Field(
        None,
        description="an allergen or other trigger was identified (the episode is not "
        "idiopathic); NICAS applies only to idiopathic anaphylaxis",
    )

    @pydantic.model_validator(mode="after")
    def _syncope_is_part_of_presyncope_or_syncope(self) -> Episode:
        if self.syncope is True and self.presyncope_or_syncope is False:
            raise ValueError(
                "syncope is true but presyncope_or_syncope is false; syncope is one of "
                "presyncope_or_syncope, so set it true (or leave it out)"
            )
        return self


class TryptaseEvent(_Part):
    """An acute tryptase sample with its paired baseline.

    ``hours_after_onset`` is the time from the onset of the event to the acute draw (consensus-1:
    within 4 h; earlier samples count). ``baseline_hours_after_resolution`` is the time from the
    end of all symptoms of the event to the baseline draw: at least 24 h for a post-event
    baseline; a *negative* value records a baseline drawn before the event (a pre-event
    baseline, which consensus-1 accepts).
    """

    acute_ng_ml: float | None = Field(None, ge=0, le=100000)
    hours_after_onset: float | None = Field(None, ge=0, le=10000)
    baseline_ng_ml: float | None = Field(None, ge=0, le=100000)
    baseline_hours_after_resolution: float | None = Field(None, ge=-10000, le=100000)


class Tryptase(_Part):
    """Serum tryptase: serial baselines (oldest first) and acute events."""

    baseline_ng_ml: list[float] | None = Field(None, description="serial baselines, oldest first")
    events: list[TryptaseEvent] | None = None

    @pydantic.field_validator("baseline_ng_ml")
    @classmethod
    def _non_negative(cls, values: list[float] | None) -> list[float] | None:
        if values is not None:
            for value in values:
                if not 0 <= value <= 100000:
                    raise ValueError(
                        f"every baseline must be between 0 and 100000 ng/mL, got {value}"
                    )
        return values


class BoneMarrow(_Part):
    """Bone-marrow (or extracutaneous organ) histology, immunophenotype and molecular results."""

    dense_aggregates_15_plus: bool | None = None
    spindle_or_atypical_pct: float | None = Field(None, ge=0, le=100)
    cd25_cd2_cd30_expression: bool | None = None
    infiltration_pct: float | None = Field(None, ge=0, le=100)
    kit_d816v_vaf_pct: float | None = Field(None, ge=0, le=100)


class BloodCounts(_Part):
    """Full blood count values used by the C-findings."""

    haemoglobin_g_dl: float | None = Field(None, gt=0, le=30)
    platelets_10e9_l: float | None = Field(None, ge=0, le=5000)
    neutrophils_10e9_l: float | None = Field(None, ge=0, le=500)


class Findings(_Part):
    """Examination and imaging findings."""

    hepatomegaly: bool | None = None
    splenomegaly: bool | None = None
    lymphadenopathy_cm: float | None = Field(None, ge=0, le=50)
    ascites: bool | None = None
    osteolysis_cm: float | None = Field(None, ge=0, le=100)
    pathological_fracture: bool | None = None
    osteoporosis_unexplained: bool | None = None
    malabsorption_weight_loss: bool | None = None
    monomorphic_skin_lesions: bool | None = None
    gi_alarm_features: bool | None = None


class History(_Part):
    """History items used by the phenotype features."""

    antibiotic_courses_2y: int | None = Field(None, ge=0, le=100)
    food_reactions_count: int | None = Field(None, ge=0, le=1000)
    beighton_score: int | None = Field(None, ge=0, le=9)
    orthostatic_hr_rise_bpm: float | None = Field(None, ge=-100, le=250)
    heds: bool | None = Field(None, alias="hEDS")
    cfs_or_fibromyalgia: bool | None = None
    cognitive_complaints: bool | None = None


class Questionnaires(_Part):
    """Questionnaire scores (scoring definitions in ``hostcap.catalog``)."""

    gsrs_mean: float | None = Field(None, ge=1, le=7)
    fss_mean: float | None = Field(None, ge=1, le=7)
    compass31_total: float | None = Field(None, ge=0, le=100)
    mct_total: float | None = Field(None, ge=0, le=20)


class AssessmentInput(_Part):
    """Everything the decision model reads about one client at one time point.

    Only ``sex`` and ``age_years`` are required; a missing field means *unknown*.

    Examples
    --------
    >>> AssessmentInput(sex="female", age_years=34).tryptase is None
    True
    """

    sex: Literal["female", "male", "other"]
    age_years: float = Field(ge=0, le=125)
    current_episode: CurrentEpisode | None = None
    episodes: list[Episode] | None = None
    symptom_pattern: Literal["episodic", "chronic_daily", "mixed"] | None = None
    tryptase: Tryptase | None = None
    alpha_tryptase_extra_copies: int | None = Field(None, ge=0, le=10)
    kit_d816v: Literal["positive", "negative", "not_tested"] | None = None
    bone_marrow: BoneMarrow | None = None
    blood_counts: BloodCounts | None = None
    findings: Findings | None = None
    hs_crp_mg_l: float | None = Field(None, ge=0, le=1000)
    response_to_mediator_therapy: bool | None = None
    history: History | None = None
    questionnaires: Questionnaires | None = None


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _expected(error: Mapping[str, Any]) -> str:
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    bounds = {
        "greater_than": "a number > {gt}",
        "greater_than_equal": "a number >= {ge}",
        "less_than": "a number < {lt}",
        "less_than_equal": "a number <= {le}",
    }
    if kind in bounds:
        return bounds[kind].format(**ctx)
    if kind == "extra_forbidden":
        return "only the fields listed by `hostcap assess --schema`"
    if kind == "missing":
        return "a value (this field is required)"
    if kind in {"literal_error", "enum"}:
        return f"one of {ctx.get('expected', '')}"
    if kind.startswith("bool"):
        return "true or false"
    if kind.startswith("int"):
        return "a whole number"
    if kind.startswith("float"):
        return "a number"
    if kind in {"list_type"}:
        return "a list"
    if kind in {"model_type", "dict_type", "model_attributes_type"}:
        return "an object"
    return str(error.get("msg", "a valid value"))


def parse_assessment_input(data: Any) -> AssessmentInput:
    """Validate plain data (parsed JSON/YAML) into an :class:`AssessmentInput`.

    Parameters
    ----------
    data
        A mapping shaped as ``hostcap assess --schema`` describes, or an ``AssessmentInput``.

    Returns
    -------
    AssessmentInput

    Raises
    ------
    hostcap.errors.ValidationError
        With one issue per problem, each naming the field path, the value and the expectation.
    """
    if isinstance(data, AssessmentInput):
        return data
    if not isinstance(data, Mapping):
        raise ValidationError.single("(input)", type(data).__name__, "a JSON object")
    try:
        return AssessmentInput.model_validate(dict(data))
    except pydantic.ValidationError as exc:
        issues = []
        for error in exc.errors():
            where = _path(tuple(error["loc"])) or "(input)"
            value = None if error["type"] == "missing" else error.get("input")
            expected = _expected(error)
            message = (
                f"unknown field {where!r}; expected {expected}"
                if error["type"] == "extra_forbidden"
                else f"{error['msg']}; got {'nothing' if value is None else repr(value)}; "
                f"expected {expected}"
            )
            issues.append(
                Issue(
                    location=where,
                    message=message,
                    value=value,
                    expected=expected,
                    code=str(error["type"]),
                )
            )
        raise ValidationError(issues, context="assessment input") from None


def _collect(model: type[BaseModel], prefix: str, out: set[str]) -> None:
    for name, info in model.model_fields.items():
        key = info.alias or name
        path = f"{prefix}.{key}" if prefix else key
        out.add(path)
        annotation = info.annotation
        for arg in getattr(annotation, "__args__", ()) or ():
            inner = arg
            if getattr(inner, "__origin__", None) is list:
                inner = inner.__args__[0]
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                _collect(inner, path, out)


def input_field_paths() -> frozenset[str]:
    """Every field path of the input (``tryptase.events.hours_after_onset``; list indices dropped).

    The rulebook checks use this to prove that every input a rule names exists.
    """
    out: set[str] = set()
    _collect(AssessmentInput, "", out)
    return frozenset(out)
