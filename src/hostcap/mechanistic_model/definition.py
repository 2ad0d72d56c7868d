"""The model as data: pydantic schema of the packaged definition, variants and phenotype presets.

The packaged YAML under ``hostcap/mechanistic_model/data`` is the single source of truth:
``base.yaml`` (states, parameters, expressions, rate laws, causal edges, inputs, observables),
``variants.yaml`` (competing hypotheses as edits of the base) and ``phenotypes.yaml`` (parameter
presets). Everything else (right-hand side, Jacobian, SBML, Antimony, the model card) is derived
from a :class:`ModelDefinition` returned by :func:`load_definition`.

The model is a HYPOTHESIS (the seed essay's Host Capacity chain); it is implemented faithfully as
one variant beside competitors, and every output that rests on it says so.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any, Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field

from hostcap.errors import Issue, UnknownIdError, ValidationError

__all__ = [
    "HYPOTHESIS_NOTE",
    "PHENOTYPES",
    "VARIANTS",
    "Edge",
    "ExpressionSpec",
    "InputMapping",
    "InputSpec",
    "ModelDefinition",
    "NoiseModel",
    "ObservableSpec",
    "ParameterSpec",
    "PhenotypePreset",
    "StateSpec",
    "VariantSpec",
    "load_definition",
    "phenotype_preset",
    "phenotype_presets",
    "variant_specs",
]

#: The sentence every output resting on the model carries.
HYPOTHESIS_NOTE = (
    "HYPOTHESIS: simulated with the Host Capacity Model, an untested hypothesis about MCAS; "
    "not a prediction for any real person and not medical advice."
)

#: Variant names, in the order the model card lists them.
VARIANTS: tuple[str, ...] = ("essay", "biochemical", "butyrate_direct", "null")
#: Phenotype preset names.
PHENOTYPES: tuple[str, ...] = ("healthy", "A", "B", "C")

Grade = Literal["E", "A", "P", "S"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StateSpec(_Frozen):
    """One state variable: its SBML species id is ``id``."""

    id: str
    unit: str
    compartment: str
    timescale: Literal["fast", "medium", "slow"]
    bounded: bool = Field(description="True for fractions that must stay in [0, 1]")
    initial: float
    meaning: str


class ParameterSpec(_Frozen):
    """One parameter: value, unit, plausible population range, source and rationale."""

    id: str
    value: float
    unit: str
    range: tuple[float, float]
    source: str
    rationale: str
    estimation: Literal["calibrated", "fixed"] | None = Field(
        default=None,
        description="calibrated: fitted to the literature calibration results "
        "(hostcap.model_validation); fixed: set from its source and not fitted",
    )


class ExpressionSpec(_Frozen):
    """A named algebraic intermediate (an SBML assignment rule)."""

    id: str
    expression: str
    unit: str
    meaning: str


class InputSpec(_Frozen):
    """A piecewise-constant model input that protocols drive."""

    id: str
    unit: str
    meaning: str


class InputMapping(_Frozen):
    """How a catalog intervention's dose becomes a model input (``input = potency * dose``)."""

    intervention: str
    input: str
    potency: float = Field(gt=0)
    rationale: str


class Edge(_Frozen):
    """A causal edge with its evidence grade (E, A, P, S) and citation key."""

    id: str
    source: str = Field(alias="from")
    target: str = Field(alias="to")
    sign: Literal["+", "-"]
    grade: Grade
    citation: str
    note: str = ""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class NoiseModel(_Frozen):
    """Measurement error of an observable."""

    distribution: Literal["lognormal", "normal", "binomial"]
    cv: float | None = None
    sd: float | None = None
    n: int | None = None
    lower: float | None = None
    upper: float | None = None


class ObservableSpec(_Frozen):
    """What a client feels or a lab measures, derived algebraically from the state."""

    id: str
    expression: str
    unit: str
    meaning: str
    noise: NoiseModel
    citation: str
    loinc: str | None = None
    note: str = ""


class VariantSpec(_Frozen):
    """A competing hypothesis: a named edit of the shared base."""

    id: str
    title: str
    description: str
    citation: str
    set_expressions: dict[str, str] = {}
    set_rates: dict[str, str] = {}
    add_parameters: dict[str, dict[str, Any]] = {}
    set_parameters: dict[str, float] = {}
    remove_edges: tuple[str, ...] = ()
    add_edges: tuple[dict[str, Any], ...] = ()
    initial: dict[str, str] = {}


class PhenotypePreset(_Frozen):
    """A phenotype preset: parameter values changed from the healthy defaults."""

    id: str
    title: str
    description: str
    parameters: dict[str, float] = {}


class ModelDefinition(_Frozen):
    """One variant of the model, resolved: the base with the variant's edits applied.

    Attributes
    ----------
    parameters
        Only the parameters the variant's equations use (plus none unused), by id.
    initial_overrides
        Expressions (in parameters) replacing a state's initial value after the steady state;
        the ``null`` variant's enrolment flare.
    """

    id: str
    version: str
    variant: str
    variant_title: str
    variant_description: str
    time_unit: str
    compartments: dict[str, str]
    inputs: tuple[InputSpec, ...]
    input_map: dict[str, InputMapping]
    states: tuple[StateSpec, ...]
    parameters: tuple[ParameterSpec, ...]
    expressions: tuple[ExpressionSpec, ...]
    rates: dict[str, str]
    edges: tuple[Edge, ...]
    observables: tuple[ObservableSpec, ...]
    initial_overrides: dict[str, str] = {}

    @property
    def state_ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.states)

    @property
    def parameter_ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.parameters)

    @property
    def input_ids(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.inputs)

    def parameter(self, pid: str) -> ParameterSpec:
        """The parameter ``pid``; ``UnknownIdError`` lists the known ids."""
        for p in self.parameters:
            if p.id == pid:
                return p
        raise UnknownIdError("parameter", pid, self.parameter_ids)

    def citation_keys(self) -> list[str]:
        """Every citation key the variant rests on, in first-use order."""
        keys = [p.source for p in self.parameters]
        keys += [e.citation for e in self.edges]
        keys += [o.citation for o in self.observables]
        return list(dict.fromkeys(keys))


def _read(name: str) -> Any:
    folder = resources.files("hostcap.mechanistic_model") / "data"
    return yaml.safe_load((folder / name).read_text(encoding="utf-8"))


def _parse(model: type[BaseModel], body: dict[str, Any], where: str, issues: list[Issue]) -> Any:
    try:
        return model.model_validate(body)
    except pydantic.ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            issues.append(
                Issue(
                    location=f"{where}.{loc}" if loc else where,
                    message=err["msg"],
                    value=err.get("input"),
                    expected=err["type"],
                )
            )
        return None


@cache
def variant_specs() -> dict[str, VariantSpec]:
    """Every packaged variant, by name."""
    issues: list[Issue] = []
    raw = _read("variants.yaml") or {}
    found = {
        k: _parse(VariantSpec, {"id": k, **v}, f"variants.yaml:{k}", issues) for k, v in raw.items()
    }
    if issues:
        raise ValidationError(issues, context="model variants")
    return found


@cache
def phenotype_presets() -> dict[str, PhenotypePreset]:
    """Every packaged phenotype preset, by name."""
    issues: list[Issue] = []
    raw = _read("phenotypes.yaml") or {}
    found = {
        str(k): _parse(PhenotypePreset, {"id": str(k), **v}, f"phenotypes.yaml:{k}", issues)
        for k, v in raw.items()
    }
    if issues:
        raise ValidationError(issues, context="phenotype presets")
    return found


def phenotype_preset(name: str) -> PhenotypePreset:
    """The preset ``name`` (``healthy``, ``A``, ``B``, ``C``; case-insensitive for letters)."""
    table = phenotype_presets()
    key = name.upper() if name.upper() in table else name.lower()
    if key not in table:
        raise UnknownIdError("phenotype", name, table)
    return table[key]


def _symbols_in(text: str) -> set[str]:
    import re

    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))


@cache
def load_definition(variant: str = "essay") -> ModelDefinition:
    """The base definition with ``variant``'s edits applied.

    Parameters
    ----------
    variant
        One of ``essay``, ``biochemical``, ``butyrate_direct``, ``null``.

    Returns
    -------
    ModelDefinition
        Frozen; parameters no equation of this variant uses are dropped.

    Raises
    ------
    UnknownIdError
        For an unknown variant.
    ValidationError
        When the packaged data is inconsistent (every problem listed).
    """
    specs = variant_specs()
    if variant not in specs:
        raise UnknownIdError("model variant", variant, specs)
    spec = specs[variant]
    base = _read("base.yaml")
    issues: list[Issue] = []

    params: dict[str, dict[str, Any]] = {k: dict(v) for k, v in base["parameters"].items()}
    for k, v in spec.add_parameters.items():
        if k in params:
            issues.append(Issue(f"variants.yaml:{variant}.add_parameters.{k}", "already in base"))
        params[k] = dict(v)
    for k, value in spec.set_parameters.items():
        if k not in params:
            issues.append(Issue(f"variants.yaml:{variant}.set_parameters.{k}", "unknown", value=k))
        else:
            params[k]["value"] = value
    # Keeps the YAML (dependency) order.
    expressions = {k: dict(v) for k, v in base["expressions"].items()}
    for k, text in spec.set_expressions.items():
        if k not in expressions:
            issues.append(Issue(f"variants.yaml:{variant}.set_expressions.{k}", "unknown", value=k))
        else:
            expressions[k]["expression"] = text
    rates = dict(base["rates"])
    for k, text in spec.set_rates.items():
        if k not in rates:
            issues.append(Issue(f"variants.yaml:{variant}.set_rates.{k}", "unknown state", value=k))
        rates[k] = text
    edges = [e for e in base["edges"] if e["id"] not in spec.remove_edges]
    missing = set(spec.remove_edges) - {e["id"] for e in base["edges"]}
    issues += [
        Issue(f"variants.yaml:{variant}.remove_edges", "unknown edge", value=m)
        for m in sorted(missing)
    ]
    edges += list(spec.add_edges)

    # Drop parameters nothing in this variant uses (e.g. the essay's DNMT3A rate in `biochemical`).
    used: set[str] = set()
    for text in [*rates.values(), *(e["expression"] for e in expressions.values())]:
        used |= _symbols_in(text)
    used |= {s for o in base["observables"].values() for s in _symbols_in(o["expression"])}
    used |= {s for t in spec.initial.values() for s in _symbols_in(t)}
    edge_nodes = {e["from"] for e in edges} | {e["to"] for e in edges}
    used |= edge_nodes & set(params)

    data = {
        "id": base["id"],
        "version": base["version"],
        "variant": variant,
        "variant_title": spec.title,
        "variant_description": spec.description,
        "time_unit": base["time_unit"],
        "compartments": {k: v["meaning"] for k, v in base["compartments"].items()},
        "inputs": [{"id": k, **v} for k, v in base["inputs"].items()],
        "input_map": {
            k: {"intervention": k, **v} for k, v in (base.get("input_map") or {}).items()
        },
        "states": [{"id": k, **v} for k, v in base["states"].items()],
        "parameters": [{"id": k, **v} for k, v in params.items() if k in used],
        "expressions": [{"id": k, **v} for k, v in expressions.items()],
        "rates": rates,
        "edges": edges,
        "observables": [{"id": k, **v} for k, v in base["observables"].items()],
        "initial_overrides": dict(spec.initial),
    }
    model = _parse(ModelDefinition, data, f"model[{variant}]", issues)
    if model is not None:
        issues += _check_consistency(model)
    if issues:
        raise ValidationError(issues, context=f"model definition (variant {variant})")
    assert isinstance(model, ModelDefinition)
    return model


def _check_consistency(m: ModelDefinition) -> list[Issue]:
    """Every name resolves, every state has a rate law, edges point at known nodes."""
    issues: list[Issue] = []
    known = set(m.state_ids) | set(m.parameter_ids) | set(m.input_ids)
    names = [*m.state_ids, *m.parameter_ids, *m.input_ids, *(e.id for e in m.expressions)]
    dupes = sorted({n for n in names if names.count(n) > 1})
    issues += [
        Issue("names", "defined twice", value=d, expected="one definition per id") for d in dupes
    ]
    for e in m.expressions:
        for s in _symbols_in(e.expression) - known:
            issues.append(
                Issue(f"expressions.{e.id}", "unknown name", value=s, expected="a defined id")
            )
        known.add(e.id)
    for sid in m.state_ids:
        if sid not in m.rates:
            issues.append(Issue(f"rates.{sid}", "state has no rate law", value=sid))
    for sid, text in m.rates.items():
        if sid not in m.state_ids:
            issues.append(Issue(f"rates.{sid}", "rate law for an unknown state", value=sid))
        for s in _symbols_in(text) - known:
            issues.append(Issue(f"rates.{sid}", "unknown name", value=s, expected="a defined id"))
    for o in m.observables:
        for s in _symbols_in(o.expression) - known:
            issues.append(
                Issue(f"observables.{o.id}", "unknown name", value=s, expected="a defined id")
            )
    nodes = known | {o.id for o in m.observables}
    for edge in m.edges:
        for end in (edge.source, edge.target):
            if end not in nodes:
                issues.append(Issue(f"edges.{edge.id}", "edge end is not a model name", value=end))
    for p in m.parameters:
        lo, hi = p.range
        if not lo <= p.value <= hi:
            issues.append(
                Issue(
                    f"parameters.{p.id}",
                    "value outside its range",
                    value=p.value,
                    expected=f"[{lo}, {hi}]",
                )
            )
    for k, mapping in m.input_map.items():
        if mapping.input not in m.input_ids:
            issues.append(Issue(f"input_map.{k}", "unknown model input", value=mapping.input))
    return issues
