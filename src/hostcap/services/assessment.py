"""Assessment services: read an input file or a stored client, load the rulebook (with a
practice file), assess, and format the result. Faces call these; nothing here prints.

The pure core (``hostcap.clinical_decisions``) never reads files; this module does, and it
wires in the mechanistic model's expected trajectory band when that package provides one.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import yaml

from hostcap.clinical_decisions import (
    AssessmentInput,
    AssessmentResult,
    Rulebook,
    TrajectoryProvider,
    assess,
    build_rulebook,
    check_rulebook,
    load_rulebook,
    parse_assessment_input,
    render_text,
    rulebook_json_schema,
)
from hostcap.clinical_decisions.assessment_result import PhasePlan
from hostcap.errors import (
    HostcapError,
    InputError,
    Issue,
    Severity,
    ValidationError,
)
from hostcap.yaml_files import load_yaml

if TYPE_CHECKING:
    from hostcap.clinical_store import Store

__all__ = [
    "AssessmentSummary",
    "ClientAssessment",
    "StoredAssessment",
    "assess_client",
    "assess_data",
    "assess_file",
    "assess_stored_client",
    "assess_stored_clients",
    "check_rules",
    "format_result",
    "input_schema_json",
    "load_rulebook_file",
    "model_protocol",
    "read_input_file",
    "rulebook_schema_json",
    "skipped_note",
    "stored_client_input",
    "stored_client_input_checked",
    "trajectory_provider",
]

OutputFormat = Literal["json", "text"]


def _read_text(path: Path, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            f"{what} file {str(path)!r} does not exist",
            field=what,
            value=str(path),
            expected="a readable file",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"{what} file {str(path)!r} cannot be read: {exc}",
            field=what,
            value=str(path),
            expected="a readable UTF-8 file",
        ) from None


def read_input_file(path: Path) -> Any:
    """Parse an assessment input file: JSON, or YAML for ``.yaml``/``.yml``."""
    text = _read_text(path, "--input")
    try:
        if Path(path).suffix.lower() in {".yaml", ".yml"}:
            return load_yaml(text)
        return json.loads(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0]
        kind = "JSON" if isinstance(exc, json.JSONDecodeError) else "YAML"
        raise InputError(
            f"--input file {str(path)!r} is not valid {kind}: {first}",
            field="--input",
            value=str(path),
            expected="a JSON object as `hostcap assess --schema` describes",
        ) from None


def load_rulebook_file(extra: Path | None = None) -> Rulebook:
    """The packaged rulebook, merged with the practice file at ``extra`` when given."""
    if extra is None:
        return load_rulebook()
    return load_rulebook(_read_text(extra, "--rulebook-extra"))


def _band_function() -> Callable[..., Any]:
    # Imported on use: the mechanistic model (numba, sympy) is needed only for the band, which
    # `assess --no-trajectory` and the pure core's users never compute.
    from hostcap.mechanistic_model import expected_trajectory_band

    return cast("Callable[..., Any]", expected_trajectory_band)


def _slug(text: str, index: int) -> str:
    slug = "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")
    return f"phase_{index + 1}_{slug}"[:60]


def model_protocol(phenotype: str, phases: Sequence[PhasePlan]) -> Any:
    """The plan's phases as a mechanistic-model protocol, each dose at the middle of its range."""
    from hostcap.mechanistic_model import protocol_from_mapping

    data = {
        "id": f"plan_{phenotype.lower()}",
        "phenotype": phenotype,
        "phases": [
            {
                "id": _slug(phase.name, i),
                "start_week": phase.start_week,
                "interventions": [
                    {"id": d.intervention, "dose": (d.low + d.high) / 2, "unit": d.unit}
                    for d in phase.interventions
                ],
            }
            for i, phase in enumerate(phases)
        ],
    }
    return protocol_from_mapping(data)


def trajectory_provider() -> TrajectoryProvider | None:
    """``f(phenotype, phases) -> (band, note)`` from ``hostcap.mechanistic_model``, if present.

    The plan's phases are simulated with each dose at the middle of its range; when the model
    cannot take them (an intervention it does not model, a unit it does not use) the band is
    the untreated course and the note says so. Returns None when the package or
    ``expected_trajectory_band`` is missing; a band whose computation fails answers None, and
    the plan then says "trajectory band unavailable".
    """
    band = _band_function()

    def provide(phenotype: str, phases: Sequence[PhasePlan]) -> Any:
        weeks = max((p.end_week for p in phases), default=16)
        try:
            protocol = model_protocol(phenotype, phases)
            told = (
                "Simulated under this plan's phases, each dose at the middle of its range, "
                f"{weeks} weeks."
            )
        except (HostcapError, ImportError, AttributeError) as exc:
            protocol = None
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            told = (
                "Untreated course (no interventions): the plan's phases could not be "
                f"simulated ({first})."
            )
        try:
            return band(phenotype, protocol=protocol, weeks=weeks, variant="essay"), told
        except (HostcapError, ValueError, ArithmeticError):
            return None

    return provide


def _cached(provider: TrajectoryProvider | None) -> TrajectoryProvider | None:
    """One band per phenotype preset and plan per call: a cohort loop simulates only a few."""
    if provider is None:
        return None
    bands: dict[str, Any] = {}

    def provide(phenotype: str, phases: Sequence[PhasePlan]) -> Any:
        key = json.dumps([phenotype, [p.model_dump(mode="json") for p in phases]], sort_keys=True)
        if key not in bands:
            bands[key] = provider(phenotype, phases)
        return bands[key]

    return provide


def assess_data(
    data: Any,
    extra_rulebook: Path | None = None,
    *,
    with_trajectory: bool = True,
) -> AssessmentResult:
    """Validate plain data and assess it."""
    inp = parse_assessment_input(data)
    book = load_rulebook_file(extra_rulebook)
    provider = trajectory_provider() if with_trajectory else None
    return assess(inp, book, trajectory_provider=provider)


def assess_file(
    path: Path,
    extra_rulebook: Path | None = None,
    *,
    with_trajectory: bool = True,
) -> AssessmentResult:
    """Assess the input in ``path`` (JSON or YAML) with the packaged or extended rulebook."""
    return assess_data(read_input_file(path), extra_rulebook, with_trajectory=with_trajectory)


def format_result(result: AssessmentResult, fmt: OutputFormat) -> str:
    """The result as JSON (the output contract) or as text (triage first)."""
    if fmt == "json":
        return json.dumps(result.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
    return render_text(result)


# -- stored clients -------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientAssessment:
    """One stored client's assessment and, when it was saved, its id in the store."""

    code: str
    input: AssessmentInput
    result: AssessmentResult
    assessment_id: int | None
    skipped: tuple[Issue, ...] = ()


@dataclass(frozen=True)
class StoredAssessment:
    """An assessment as the store holds it: input and result exactly as they were produced."""

    id: int
    code: str
    created_at: dt.datetime
    rulebook_version: str
    rulebook_sha256: str
    package_version: str
    triage_level: str
    input: dict[str, Any]
    result: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the stored result unchanged, with what produced it."""
        return {
            "id": self.id,
            "code": self.code,
            "created_at": self.created_at.isoformat(),
            "rulebook_version": self.rulebook_version,
            "rulebook_sha256": self.rulebook_sha256,
            "package_version": self.package_version,
            "triage_level": self.triage_level,
            "input": self.input,
            "result": self.result,
        }


@dataclass(frozen=True)
class AssessmentSummary:
    """What a cohort loop or the demo needs from one client's assessment.

    ``error`` names every problem when the client's stored data could not be assessed (the
    other fields are then None/empty); one client's bad data never stops the loop.
    """

    code: str
    triage_level: str | None
    triage_reasons: tuple[str, ...]
    criteria: dict[str, str]
    phenotype_label: str | None
    phenotype_scores: dict[str, float]
    protocol_id: str | None
    assessment_id: int | None
    rulebook_version: str
    rulebook_sha256: str
    error: str | None = None
    result: AssessmentResult | None = field(default=None, repr=False, compare=False)
    notes: tuple[str, ...] = ()


def _store_services() -> Any:
    # Imported on use: the store services pull in the database layer, which file-only
    # assessments (and the pure core's users) never need.
    from hostcap.services import store

    return store


def _location_parts(location: str) -> list[str | int]:
    parts: list[str | int] = []
    for piece in location.split("."):
        name, _, rest = piece.partition("[")
        if name:
            parts.append(name)
        for index in rest.replace("]", "").split("[") if rest else []:
            if index.isdigit():
                parts.append(int(index))
    return parts


def _drop(data: Any, location: str) -> Any:
    """Remove the value at ``location`` from ``data``; returns it, or raises KeyError."""
    parts = _location_parts(location)
    if not parts or parts[0] in ("sex", "age_years"):
        raise KeyError(location)
    node = data
    for part in parts[:-1]:
        node = node[part]
    last = parts[-1]
    value = node[last]
    del node[last]
    return value


def stored_client_input_checked(
    store: Store, code: str
) -> tuple[AssessmentInput, tuple[Issue, ...]]:
    """The assessment input built from ``code``'s stored records, and what had to be skipped.

    A stored value the input contract refuses (a finding stored before findings were checked,
    a measured value outside the contract's range) is left out and named in a warning, and the
    input is built from the rest: one bad value must never stop the safety triage.

    Raises
    ------
    hostcap.errors.NotFoundError
        When the store holds no client ``code``.
    hostcap.errors.ValidationError
        When the client's own row does not make a valid input (nothing to skip).
    """
    data, notes = _store_services().stored_input_data(store, code)
    skipped: list[Issue] = list(notes)
    for _ in range(100):
        try:
            return parse_assessment_input(data), tuple(skipped)
        except ValidationError as exc:
            removed = False
            for issue in exc.issues:
                try:
                    value = _drop(data, issue.location)
                except (KeyError, IndexError, TypeError):
                    continue
                removed = True
                skipped.append(
                    Issue(
                        location=issue.location,
                        message=f"stored value {issue.location} = {value!r} was skipped: "
                        f"{issue.message}",
                        severity=Severity.WARNING,
                        value=value,
                        expected=issue.expected,
                        code="skipped_stored_value",
                    )
                )
            if not removed:
                raise ValidationError(
                    exc.issues,
                    context=f"the stored records of {code} do not make a valid assessment "
                    "input (record corrected values, e.g. `hostcap finding add`, then assess "
                    "again)",
                ) from None
    raise ValidationError.single(code, "stored records", "an assessment input")  # pragma: no cover


def stored_client_input(store: Store, code: str) -> AssessmentInput:
    """The validated assessment input built from ``code``'s stored records.

    Stored values the contract refuses are skipped (``stored_client_input_checked`` names them).

    Raises
    ------
    hostcap.errors.NotFoundError
        When the store holds no client ``code``.
    """
    return stored_client_input_checked(store, code)[0]


def skipped_note(issue: Issue) -> str:
    """One line for a stored value that an assessment had to leave out."""
    return f"NOTE: assessed without a stored value — {issue.message}"


def _input_json(inp: AssessmentInput) -> dict[str, Any]:
    # Exactly the fields the store supplied (by their contract names), nothing filled in.
    return inp.model_dump(mode="json", by_alias=True, exclude_unset=True)


def assess_stored_client(
    store: Store,
    code: str,
    rulebook: Rulebook | None = None,
    *,
    provider: TrajectoryProvider | None = None,
    save: bool = True,
    actor: str | None = None,
) -> ClientAssessment:
    """Build ``code``'s input from the store, validate it, assess it and (by default) save it.

    The saved row holds the input and the result exactly as produced, the rulebook version and
    sha256 (the store adds the package version), so it can be shown unchanged later whatever
    happens to the rulebook.
    """
    inp, skipped = stored_client_input_checked(store, code)
    book = rulebook or load_rulebook()
    result = assess(inp, book, trajectory_provider=provider)
    assessment_id = None
    if save:
        assessment_id = store.save_assessment(
            code,
            input_json=_input_json(inp),
            result_json=result.model_dump(mode="json"),
            rulebook_version=book.version,
            rulebook_sha256=book.sha256,
            triage_level=result.triage.level,
            actor=actor,
            skipped=[issue.message for issue in skipped],
        )
    return ClientAssessment(
        code=code, input=inp, result=result, assessment_id=assessment_id, skipped=skipped
    )


def assess_client(
    code: str,
    database_url: str | None = None,
    extra_rulebook: Path | None = None,
    *,
    with_trajectory: bool = True,
    save: bool = True,
) -> ClientAssessment:
    """Assess a stored client from the store at ``database_url`` (``hostcap assess CODE``).

    Raises
    ------
    hostcap.errors.ConfigurationError
        When the store services cannot build an assessment input.
    hostcap.errors.NotFoundError
        When the store holds no client ``code``.
    hostcap.errors.ValidationError
        When the stored records do not make a valid input.
    """
    book = load_rulebook_file(extra_rulebook)
    store = _store_services().open_store(database_url)
    try:
        provider = trajectory_provider() if with_trajectory else None
        return assess_stored_client(store, code, book, provider=provider, save=save)
    finally:
        store.dispose()


def _summary(code: str, book: Rulebook, outcome: ClientAssessment) -> AssessmentSummary:
    r = outcome.result
    criteria = r.criteria.model_dump()
    return AssessmentSummary(
        code=code,
        triage_level=r.triage.level,
        triage_reasons=tuple(reason.rule_id for reason in r.triage.reasons),
        criteria={key: str(value["status"]) for key, value in criteria.items()},
        phenotype_label=r.phenotype.label,
        phenotype_scores=dict(r.phenotype.scores),
        protocol_id=None if r.plan is None else r.plan.protocol_id,
        assessment_id=outcome.assessment_id,
        rulebook_version=book.version,
        rulebook_sha256=book.sha256,
        result=r,
        notes=tuple(skipped_note(i) for i in outcome.skipped),
    )


def assess_stored_clients(
    store: Store,
    codes: Sequence[str] | None = None,
    save: bool = True,
    *,
    rulebook: Rulebook | None = None,
    with_trajectory: bool = True,
    actor: str | None = None,
) -> list[AssessmentSummary]:
    """Assess every stored client (or those in ``codes``), saving each assessment by default.

    For ``make run``'s demo and the synthetic cohort loop. A client whose stored data cannot
    be assessed gets a summary with ``error`` (every problem named) instead of stopping the
    loop; an unknown code in ``codes`` is such an error too. The mechanistic model's band is
    computed once per phenotype preset.
    """
    book = rulebook or load_rulebook()
    if codes is None:
        codes = [str(c["code"]) for c in store.list_clients()]
    provider = _cached(trajectory_provider()) if with_trajectory else None
    out: list[AssessmentSummary] = []
    for code in codes:
        try:
            outcome = assess_stored_client(
                store, code, book, provider=provider, save=save, actor=actor
            )
        except HostcapError as exc:
            detail = exc.report() if isinstance(exc, ValidationError) else str(exc)
            out.append(
                AssessmentSummary(
                    code=code,
                    triage_level=None,
                    triage_reasons=(),
                    criteria={},
                    phenotype_label=None,
                    phenotype_scores={},
                    protocol_id=None,
                    assessment_id=None,
                    rulebook_version=book.version,
                    rulebook_sha256=book.sha256,
                    error=f"{exc}" if detail == str(exc) else f"{exc}\n{detail}",
                )
            )
            continue
        out.append(_summary(code, book, outcome))
    return out


def check_rules(extra_rulebook: Path | None = None) -> list[Issue]:
    """Every issue of every named rulebook check (``hostcap rules check``)."""
    extra = None if extra_rulebook is None else _read_text(extra_rulebook, "--rulebook-extra")
    book, issues = build_rulebook(extra)
    if book is None:
        return issues
    return check_rulebook(book)


def input_schema_json() -> str:
    """The JSON Schema of the assessment input (``hostcap assess --schema``)."""
    schema = AssessmentInput.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def rulebook_schema_json() -> str:
    """The JSON Schema of rulebook files (packaged or ``--rulebook-extra``), for editors."""
    return rulebook_json_schema()
