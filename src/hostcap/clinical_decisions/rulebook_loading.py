"""Load the packaged rulebook, merge a practice's extra file, and stamp the result.

The core stays pure: the packaged YAML is read through ``importlib.resources`` and a practice
file arrives as text or as parsed data (``hostcap.services.assessment`` reads files).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import pydantic
import yaml

from hostcap.clinical_decisions.rule_schema import (
    CriterionRule,
    MonitoringSchedule,
    PhenotypeRule,
    PhenotypeSettings,
    ProtocolRule,
    Rule,
    RulebookExtraFile,
    RulebookFile,
    SafetyRule,
)
from hostcap.errors import Issue, Severity, ValidationError
from hostcap.yaml_files import load_yaml

__all__ = ["Rulebook", "build_rulebook", "load_rulebook"]


@dataclass(frozen=True)
class Rulebook:
    """A validated rulebook: every rule, settings, and its version and content hash."""

    version: str
    rules: tuple[Rule, ...]
    phenotype_settings: PhenotypeSettings
    monitoring: MonitoringSchedule
    notes: tuple[Mapping[str, str], ...] = ()
    extra_name: str | None = None
    sha256: str = field(default="")

    def get(self, rule_id: str) -> Rule:
        """The rule with this id."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        from hostcap.errors import UnknownIdError

        raise UnknownIdError("rule id", rule_id, [r.id for r in self.rules])

    @property
    def safety_rules(self) -> list[SafetyRule]:
        return [r for r in self.rules if isinstance(r, SafetyRule)]

    @property
    def criterion_rules(self) -> list[CriterionRule]:
        return [r for r in self.rules if isinstance(r, CriterionRule)]

    @property
    def phenotype_rules(self) -> list[PhenotypeRule]:
        return [r for r in self.rules if isinstance(r, PhenotypeRule)]

    @property
    def protocol_rules(self) -> list[ProtocolRule]:
        return [r for r in self.rules if isinstance(r, ProtocolRule)]

    def criterion(self, key: str) -> CriterionRule:
        """The criterion rule that evaluates output key ``key`` (``consensus_1`` ...)."""
        for rule in self.criterion_rules:
            if rule.criterion == key:
                return rule
        from hostcap.errors import UnknownIdError

        raise UnknownIdError("criterion", key, [r.criterion for r in self.criterion_rules])

    def content(self) -> dict[str, Any]:
        """Plain data of everything that decides a result (what the hash covers)."""
        return {
            "version": self.version,
            "rules": [r.model_dump(mode="json") for r in self.rules],
            "phenotype_settings": self.phenotype_settings.model_dump(mode="json"),
            "monitoring": self.monitoring.model_dump(mode="json"),
            "notes": [dict(n) for n in self.notes],
        }


def _digest(content: Mapping[str, Any]) -> str:
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _pydantic_issues(exc: pydantic.ValidationError, where: str) -> list[Issue]:
    issues = []
    for error in exc.errors():
        loc = ".".join(str(p) for p in error["loc"])
        issues.append(
            Issue(
                location=f"{where}: {loc}" if loc else where,
                message=f"{error['msg']}; got {error.get('input')!r}"[:300],
                value=error.get("input"),
                expected=str(error["msg"]),
                code=str(error["type"]),
            )
        )
    return issues


@cache
def _packaged_files() -> tuple[tuple[str, str], ...]:
    folder = resources.files("hostcap.clinical_decisions") / "rulebook"
    return tuple(
        (entry.name, entry.read_text(encoding="utf-8"))
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith((".yaml", ".yml"))
    )


def _parse_yaml(text: str, where: str) -> Any:
    try:
        return load_yaml(text) or {}
    except yaml.YAMLError as exc:
        raise ValidationError.single(where, str(exc).splitlines()[0], "valid YAML") from None


def _packaged() -> tuple[list[Rule], RulebookFile, list[Issue]]:
    rules: list[Rule] = []
    meta: dict[str, Any] = {}
    issues: list[Issue] = []
    for name, text in _packaged_files():
        where = f"rulebook/{name}"
        try:
            parsed = RulebookFile.model_validate(_parse_yaml(text, where))
        except pydantic.ValidationError as exc:
            issues.extend(_pydantic_issues(exc, where))
            continue
        rules.extend(parsed.rules)
        for key in ("rulebook_version", "phenotype_settings", "monitoring"):
            value = getattr(parsed, key)
            if value is not None:
                meta[key] = value
        meta.setdefault("notes", []).extend(parsed.notes)
    return rules, RulebookFile.model_validate(meta), issues


def _merge_extra(
    base: list[Rule], extra: RulebookExtraFile, where: str
) -> tuple[list[Rule], list[Issue]]:
    issues: list[Issue] = []
    by_id = {r.id: r for r in base}

    def refuse(location: str, value: Any, message: str, expected: str) -> None:
        issues.append(
            Issue(location=location, message=message, value=value, expected=expected, code="safety")
        )

    for i, rule_id in enumerate(extra.remove_rules):
        target = by_id.get(rule_id)
        loc = f"{where}: remove_rules[{i}]"
        if target is None:
            refuse(
                loc,
                rule_id,
                f"cannot remove unknown rule {rule_id!r}",
                "an id of a phenotype or protocol rule",
            )
        elif isinstance(target, SafetyRule):
            refuse(
                loc,
                rule_id,
                f"safety rule {rule_id!r} can never be removed by a practice file",
                "a phenotype or protocol rule id",
            )
        elif isinstance(target, CriterionRule):
            refuse(
                loc,
                rule_id,
                f"criterion rule {rule_id!r} cannot be removed",
                "a phenotype or protocol rule id",
            )
    merged = [r for r in base if r.id not in set(extra.remove_rules)]
    new_protocols: list[Rule] = []
    for i, rule in enumerate(extra.rules):
        loc = f"{where}: rules[{i}] ({rule.id})"
        existing = by_id.get(rule.id)
        if isinstance(rule, SafetyRule) or isinstance(existing, SafetyRule):
            refuse(
                loc,
                rule.id,
                f"a practice file may not add, replace or weaken safety rule {rule.id!r}",
                "phenotype or protocol rules only; safety rules are fixed",
            )
            continue
        if existing is None:
            if isinstance(rule, CriterionRule):
                refuse(
                    loc,
                    rule.id,
                    f"new criterion rule {rule.id!r} is not allowed",
                    "criterion rules are the published sets; replace an overridable one",
                )
                continue
            if isinstance(rule, ProtocolRule):
                new_protocols.append(rule)  # practice protocols take precedence
            else:
                merged.append(rule)
            continue
        if existing.kind != rule.kind:
            refuse(
                loc,
                rule.kind,
                f"rule {rule.id!r} is a {existing.kind} rule",
                f"kind {existing.kind}",
            )
            continue
        if not existing.overridable:
            refuse(
                loc,
                rule.id,
                f"rule {rule.id!r} is not overridable",
                "a rule marked overridable: true",
            )
            continue
        if (
            isinstance(existing, CriterionRule)
            and isinstance(rule, CriterionRule)
            and (rule.evaluator != existing.evaluator or rule.criterion != existing.criterion)
        ):
            refuse(
                loc,
                rule.evaluator,
                "an override may change thresholds, not the evaluator",
                existing.evaluator,
            )
            continue
        merged = [rule if r.id == rule.id else r for r in merged]
    return new_protocols + merged, issues


def build_rulebook(
    extra: str | Mapping[str, Any] | None = None,
) -> tuple[Rulebook | None, list[Issue]]:
    """Assemble the rulebook without running the named checks; (None, issues) if it cannot be.

    Parameters
    ----------
    extra
        A practice file's YAML text, or its parsed mapping, or None.
    """
    rules, meta, issues = _packaged()
    if issues:
        return None, issues
    version = meta.rulebook_version or "0"
    settings = meta.phenotype_settings or PhenotypeSettings()
    monitoring = meta.monitoring
    extra_name = None
    if extra is not None:
        where = "rulebook-extra"
        data = _parse_yaml(extra, where) if isinstance(extra, str) else dict(extra)
        try:
            parsed = RulebookExtraFile.model_validate(data)
        except pydantic.ValidationError as exc:
            return None, _pydantic_issues(exc, where)
        rules, extra_issues = _merge_extra(rules, parsed, where)
        if extra_issues:
            return None, extra_issues
        settings = parsed.phenotype_settings or settings
        monitoring = parsed.monitoring or monitoring
        extra_name = f"{parsed.name}.{parsed.version}"
        version = f"{version}+{extra_name}"
    if monitoring is None:
        return None, [
            Issue(
                "rulebook/rulebook.yaml: monitoring",
                "no monitoring schedule",
                expected="a monitoring section",
            )
        ]
    book = Rulebook(
        version=version,
        rules=tuple(rules),
        phenotype_settings=settings,
        monitoring=monitoring,
        notes=tuple(meta.notes),
        extra_name=extra_name,
    )
    return dataclasses.replace(book, sha256=_digest(book.content())), []


@cache
def _packaged_rulebook() -> Rulebook:
    return _load(None)


def _load(extra: str | Mapping[str, Any] | None) -> Rulebook:
    from hostcap.clinical_decisions.rulebook_checks import check_rulebook

    book, issues = build_rulebook(extra)
    if book is not None:
        issues = [i for i in check_rulebook(book) if i.severity == Severity.ERROR]
    if book is None or issues:
        raise ValidationError(issues, context="rulebook")
    return book


def load_rulebook(extra: str | Mapping[str, Any] | None = None) -> Rulebook:
    """The packaged rulebook, merged with a practice file when given; checked.

    Parameters
    ----------
    extra
        The practice file's YAML text or parsed mapping (read files through
        ``hostcap.services.assessment.load_rulebook_file``).

    Returns
    -------
    Rulebook
        With ``version`` (``1.0.0`` or ``1.0.0+practice.3``) and ``sha256`` of its content.

    Raises
    ------
    hostcap.errors.ValidationError
        Listing every problem: schema errors, a practice file that touches a safety rule, and
        every error of the named checks (``hostcap rules check``).
    """
    if extra is None:
        return _packaged_rulebook()
    return _load(extra)


def rules_by_id(rules: Sequence[Rule]) -> dict[str, Rule]:
    """Index rules by id."""
    return {r.id: r for r in rules}
