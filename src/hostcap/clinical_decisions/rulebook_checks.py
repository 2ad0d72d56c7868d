"""Named checks of a rulebook (``hostcap rules check``), after libpetab's ``Check*`` tasks.

Each check returns every issue it finds, with a severity; none stops at the first. Errors make
``hostcap rules check`` exit 1 and make :func:`load_rulebook` refuse the rulebook. The checks
marked *safety* (cited, unique ids, safety rules not overridable, nothing targets a safety rule,
emergency rules present) cannot be switched off: :func:`check_rulebook` always runs them.
"""

from __future__ import annotations

from collections import Counter
from typing import ClassVar

from hostcap.citations import all_citations
from hostcap.clinical_decisions.assessment_input import input_field_paths
from hostcap.clinical_decisions.criteria_evaluation import CRITERION_EVALUATORS
from hostcap.clinical_decisions.intervention_lookup import lookup_intervention
from hostcap.clinical_decisions.phenotype_scoring import DERIVED_FEATURES
from hostcap.clinical_decisions.rule_schema import (
    CRITERION_KEYS,
    CriterionRule,
    PhenotypeRule,
    ProtocolRule,
    SafetyRule,
)
from hostcap.clinical_decisions.rulebook_loading import Rulebook
from hostcap.clinical_decisions.rulebook_probes import parameters_read, probe_contexts
from hostcap.clinical_decisions.safety_triage import (
    ALONGSIDE_EVALUATORS,
    SAFETY_EVALUATORS,
)
from hostcap.errors import Issue, Severity

__all__ = ["CHECKS", "RulebookCheck", "check_rulebook"]


class RulebookCheck:
    """One named check; ``run`` returns every issue found (an empty list when none)."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def run(self, book: Rulebook) -> list[Issue]:
        raise NotImplementedError

    def issue(
        self,
        location: str,
        message: str,
        *,
        severity: Severity = Severity.ERROR,
        value: object = None,
        expected: str | None = None,
    ) -> Issue:
        return Issue(
            location=location,
            message=message,
            severity=severity,
            value=value,
            expected=expected,
            code=self.name,
        )


class CheckRulesCited(RulebookCheck):
    name = "CheckRulesCited"
    description = "every rule's citation key exists in the citation registry"

    def run(self, book: Rulebook) -> list[Issue]:
        table = all_citations()
        out = []
        for rule in book.rules:
            if rule.citation not in table:
                out.append(
                    self.issue(
                        rule.id,
                        f"citation {rule.citation!r} is not defined",
                        value=rule.citation,
                        expected="a key under hostcap/data/citations/*.yaml",
                    )
                )
        for note in book.notes:
            key = note.get("citation", "")
            if key and key not in table:
                out.append(
                    self.issue(
                        f"notes.{note.get('id')}",
                        f"citation {key!r} is not defined",
                        value=key,
                        expected="a defined citation key",
                    )
                )
        return out


class CheckCitationsVerified(RulebookCheck):
    name = "CheckCitationsVerified"
    description = "rules resting on UNVERIFIED sources are listed (warning)"

    def run(self, book: Rulebook) -> list[Issue]:
        table = all_citations()
        return [
            self.issue(
                rule.id,
                f"cites {rule.citation!r}, marked UNVERIFIED in the citation registry "
                f"(docs/evidence.md#{rule.citation})",
                severity=Severity.WARNING,
                value=rule.citation,
            )
            for rule in book.rules
            if rule.citation in table and not table[rule.citation].verified
        ]


class CheckIdsUnique(RulebookCheck):
    name = "CheckIdsUnique"
    description = "rule ids are unique"

    def run(self, book: Rulebook) -> list[Issue]:
        counts = Counter(r.id for r in book.rules)
        return [
            self.issue(
                rule_id,
                f"rule id {rule_id!r} is defined {n} times",
                value=n,
                expected="exactly once",
            )
            for rule_id, n in sorted(counts.items())
            if n > 1
        ]


class CheckSafetyNotOverridable(RulebookCheck):
    name = "CheckSafetyNotOverridable"
    description = "every safety rule carries overridable: false"

    def run(self, book: Rulebook) -> list[Issue]:
        return [
            self.issue(
                f"{r.id}.overridable",
                "safety rules can never be overridable",
                value=True,
                expected="false",
            )
            for r in book.safety_rules
            if r.overridable
        ]


class CheckEmergencyRulesPresent(RulebookCheck):
    name = "CheckEmergencyRulesPresent"
    description = "the anaphylaxis (emergency) rules and the urgent-referral rules are present"

    def run(self, book: Rulebook) -> list[Issue]:
        levels = {r.level for r in book.safety_rules}
        return [
            self.issue(
                "rules",
                f"no safety rule with level {level!r}",
                expected=f"at least one {level} rule",
            )
            for level in ("emergency", "urgent_referral", "referral")
            if level not in levels
        ]


class CheckCurrentCompromiseFirst(RulebookCheck):
    name = "CheckCurrentCompromiseFirst"
    description = (
        "an emergency rule for current compromise of any cause (current_compromise) exists and "
        "is the first safety rule"
    )

    def run(self, book: Rulebook) -> list[Issue]:
        rules = list(book.safety_rules)
        found = [i for i, r in enumerate(rules) if r.evaluator == "current_compromise"]
        if not found:
            return [
                self.issue(
                    "rules",
                    "no emergency rule for current shock, collapse, hypotension for age or "
                    "airway compromise",
                    expected="a safety rule with evaluator 'current_compromise' and level "
                    "'emergency'",
                )
            ]
        return [
            self.issue(
                rules[i].id,
                f"current_compromise rule has level {rules[i].level!r} at position {i}",
                value=rules[i].level,
                expected="level 'emergency', first among the safety rules",
            )
            for i in found
            if rules[i].level != "emergency" or i != 0
        ]


class CheckPlanEffects(RulebookCheck):
    name = "CheckPlanEffects"
    description = (
        "only non-clonal referral rules may let a plan run alongside (clonal and organ red flags "
        "hold it), and each says why"
    )

    def run(self, book: Rulebook) -> list[Issue]:
        return [
            self.issue(
                r.id,
                f"referral rule with evaluator {r.evaluator!r} lets the plan run alongside",
                value=r.plan_effect,
                expected="plan_effect 'hold' (only evaluators "
                + ", ".join(sorted(ALONGSIDE_EVALUATORS))
                + " may run alongside)",
            )
            for r in book.safety_rules
            if r.plan_effect == "alongside" and r.evaluator not in ALONGSIDE_EVALUATORS
        ]


class CheckNothingTargetsSafety(RulebookCheck):
    name = "CheckNothingTargetsSafety"
    description = "no protocol or phenotype rule targets a safety rule"

    def run(self, book: Rulebook) -> list[Issue]:
        safety = {r.id for r in book.safety_rules}
        out = []
        for rule in book.rules:
            if isinstance(rule, PhenotypeRule | ProtocolRule):
                for ref in rule.refs:
                    if ref in safety or ref.startswith("safety."):
                        out.append(
                            self.issue(
                                f"{rule.id}.refs",
                                f"{rule.kind} rule targets safety rule {ref!r}",
                                value=ref,
                                expected="no reference to a safety rule",
                            )
                        )
                if isinstance(rule, PhenotypeRule) and rule.field.startswith("safety"):
                    out.append(
                        self.issue(
                            f"{rule.id}.field",
                            "a phenotype feature may not read a safety rule",
                            value=rule.field,
                            expected="an input field",
                        )
                    )
        return out


class CheckRefsExist(RulebookCheck):
    name = "CheckRefsExist"
    description = "every rule a rule refers to exists"

    def run(self, book: Rulebook) -> list[Issue]:
        ids = {r.id for r in book.rules}
        return [
            self.issue(
                f"{rule.id}.refs",
                f"refers to unknown rule {ref!r}",
                value=ref,
                expected="an id in the rulebook",
            )
            for rule in book.rules
            for ref in rule.refs
            if ref not in ids
        ]


class CheckInputFieldsExist(RulebookCheck):
    name = "CheckInputFieldsExist"
    description = "every input field a rule names exists in the input contract"

    def run(self, book: Rulebook) -> list[Issue]:
        known = input_field_paths()
        out = []
        for rule in book.rules:
            fields: list[tuple[str, str]] = []
            if isinstance(rule, SafetyRule | CriterionRule):
                fields = [(f"{rule.id}.inputs", f) for f in rule.inputs]
            elif isinstance(rule, PhenotypeRule):
                fields = [(f"{rule.id}.field", rule.field)]
            for where, name in fields:
                if name not in known and name not in DERIVED_FEATURES:
                    out.append(
                        self.issue(
                            where,
                            f"unknown input field {name!r}",
                            value=name,
                            expected="a field of `hostcap assess --schema` or one of "
                            + ", ".join(sorted(DERIVED_FEATURES)),
                        )
                    )
        return out


class CheckEvaluators(RulebookCheck):
    name = "CheckEvaluators"
    description = (
        "every evaluator exists, its rule defines exactly the parameters it declares, and each "
        "of them is read on some probe input (a declared parameter never read is an error)"
    )

    def run(self, book: Rulebook) -> list[Issue]:
        out = []
        probes = probe_contexts(book)
        for rule in book.rules:
            if not isinstance(rule, SafetyRule | CriterionRule):
                continue
            registry = SAFETY_EVALUATORS if isinstance(rule, SafetyRule) else CRITERION_EVALUATORS
            entry = registry.get(rule.evaluator)
            if entry is None:
                out.append(
                    self.issue(
                        f"{rule.id}.evaluator",
                        f"unknown evaluator {rule.evaluator!r}",
                        value=rule.evaluator,
                        expected="one of " + ", ".join(sorted(registry)),
                    )
                )
                continue
            needed = entry[1]
            for name in sorted(needed - set(rule.params)):
                out.append(
                    self.issue(
                        f"{rule.id}.params",
                        f"parameter {name!r} is missing",
                        expected=f"parameters {sorted(needed)}",
                    )
                )
            for name in sorted(set(rule.params) - needed):
                out.append(
                    self.issue(
                        f"{rule.id}.params.{name}",
                        f"parameter {name!r} is not declared by {rule.evaluator}",
                        value=name,
                        expected=f"parameters {sorted(needed)}",
                    )
                )
            if needed <= set(rule.params):
                for name in sorted(needed - parameters_read(probes, rule, entry[0])):
                    out.append(
                        self.issue(
                            f"{rule.id}.params.{name}",
                            f"parameter {name!r} is declared by {rule.evaluator} but never "
                            f"read on {len(probes)} probe inputs",
                            value=name,
                            expected="a parameter the evaluator reads (or remove it)",
                        )
                    )
        return out


class CheckEveryCriterionDefined(RulebookCheck):
    name = "CheckEveryCriterionDefined"
    description = "each reported criterion set is defined by exactly one rule"

    def run(self, book: Rulebook) -> list[Issue]:
        counts: Counter[str] = Counter(r.criterion for r in book.criterion_rules)
        return [
            self.issue(
                f"criteria.{key}",
                f"criterion {key!r} is defined {counts[key]} times",
                value=counts[key],
                expected="exactly one criterion rule",
            )
            for key in CRITERION_KEYS
            if counts[key] != 1
        ]


class CheckPhenotypeFeatures(RulebookCheck):
    name = "CheckPhenotypeFeatures"
    description = "phenotype transforms are complete and each of A, B, C has weighted features"

    def run(self, book: Rulebook) -> list[Issue]:
        out = []
        for rule in book.phenotype_rules:
            if rule.transform == "at_least" and rule.threshold is None:
                out.append(
                    self.issue(
                        f"{rule.id}.threshold",
                        "transform at_least needs a threshold",
                        expected="a number",
                    )
                )
            if rule.transform == "ramp" and (
                rule.ramp_from is None or rule.ramp_to is None or rule.ramp_to <= rule.ramp_from
            ):
                out.append(
                    self.issue(
                        f"{rule.id}.ramp_to",
                        "transform ramp needs ramp_from < ramp_to",
                        value=(rule.ramp_from, rule.ramp_to),
                        expected="two numbers, increasing",
                    )
                )
        for key in ("A", "B", "C"):
            if sum(r.weight for r in book.phenotype_rules if r.phenotype == key) <= 0:
                out.append(
                    self.issue(
                        f"phenotype.{key}",
                        f"phenotype {key} has no weighted feature",
                        expected="at least one feature with weight > 0",
                    )
                )
        return out


class CheckProtocols(RulebookCheck):
    name = "CheckProtocols"
    description = "every label has a protocol; phases are ordered and dose ranges increasing"

    def run(self, book: Rulebook) -> list[Issue]:
        out = []
        covered = {a for r in book.protocol_rules for a in r.applies_to}
        for label in ("A", "B", "C", "mixed", "insufficient_data"):
            if label not in covered:
                out.append(
                    self.issue(
                        "protocols",
                        f"no protocol applies to label {label!r}",
                        expected="a protocol rule whose applies_to includes it",
                    )
                )
        for rule in book.protocol_rules:
            previous_end = 0
            for i, phase in enumerate(rule.phases):
                where = f"{rule.id}.phases[{i}]"
                if phase.end_week <= phase.start_week:
                    out.append(
                        self.issue(
                            where,
                            "phase ends before it starts",
                            value=(phase.start_week, phase.end_week),
                            expected="start_week < end_week",
                        )
                    )
                if phase.start_week < previous_end:
                    out.append(
                        self.issue(
                            where,
                            "phase overlaps the previous phase",
                            value=phase.start_week,
                            expected=f">= {previous_end}",
                        )
                    )
                previous_end = phase.end_week
                for j, dose in enumerate(phase.interventions):
                    if dose.high < dose.low:
                        out.append(
                            self.issue(
                                f"{where}.interventions[{j}]",
                                "dose range decreases",
                                value=(dose.low, dose.high),
                                expected="low <= high",
                            )
                        )
        return out


class CheckInterventionsInCatalog(RulebookCheck):
    name = "CheckInterventionsInCatalog"
    description = (
        "every intervention a protocol names is in hostcap.catalog and is not a prescription drug"
    )

    def run(self, book: Rulebook) -> list[Issue]:
        out = []
        unavailable = False
        for rule in book.protocol_rules:
            for i, phase in enumerate(rule.phases):
                for j, dose in enumerate(phase.interventions):
                    where = f"{rule.id}.phases[{i}].interventions[{j}]"
                    info = lookup_intervention(dose.intervention)
                    if info.found is None:
                        unavailable = True
                    elif not info.found:
                        out.append(
                            self.issue(
                                where,
                                f"intervention {dose.intervention!r} is not in the catalog",
                                value=dose.intervention,
                                expected="an id of hostcap.catalog interventions",
                            )
                        )
                    elif info.prescription:
                        out.append(
                            self.issue(
                                where,
                                f"{dose.intervention!r} is a prescription drug; "
                                "plans never start or stop one",
                                value=dose.intervention,
                                expected="a non-prescription intervention",
                            )
                        )
                    elif info.typical_range and (
                        dose.low < info.typical_range[0] or dose.high > info.typical_range[1]
                    ):
                        out.append(
                            self.issue(
                                where,
                                f"dose {dose.low:g}-{dose.high:g} {dose.unit} lies outside the "
                                f"catalog's typical range {info.typical_range}",
                                severity=Severity.WARNING,
                                value=(dose.low, dose.high),
                                expected=f"within {info.typical_range}",
                            )
                        )
                    if (
                        info.found
                        and info.unit
                        and info.unit.replace(" ", "") != dose.unit.replace(" ", "")
                    ):
                        out.append(
                            self.issue(
                                where,
                                f"unit {dose.unit!r} differs from the catalog's {info.unit!r}",
                                severity=Severity.WARNING,
                                value=dose.unit,
                                expected=info.unit,
                            )
                        )
        if unavailable:
            out.append(
                self.issue(
                    "protocols",
                    "hostcap.catalog is not available; intervention ids were not checked",
                    severity=Severity.WARNING,
                )
            )
        return out


class CheckMonitoring(RulebookCheck):
    name = "CheckMonitoring"
    description = "labs at weeks 0, 8 and 16 at least; questionnaires every 2-4 weeks"

    def run(self, book: Rulebook) -> list[Issue]:
        schedules = [("monitoring", book.monitoring)] + [
            (f"{r.id}.monitoring", r.monitoring) for r in book.protocol_rules if r.monitoring
        ]
        out = []
        for where, m in schedules:
            missing = sorted({0, 8, 16} - set(m.lab_weeks))
            if missing:
                out.append(
                    self.issue(
                        f"{where}.lab_weeks",
                        f"lab weeks lack {missing}",
                        value=m.lab_weeks,
                        expected="weeks 0, 8 and 16 at least",
                    )
                )
            if not 2 <= m.questionnaire_every_weeks <= 4:
                out.append(
                    self.issue(
                        f"{where}.questionnaire_every_weeks",
                        "questionnaires must come every 2-4 weeks",
                        value=m.questionnaire_every_weeks,
                        expected="2, 3 or 4",
                    )
                )
        return out


#: Every check, in the order they run.
CHECKS: tuple[RulebookCheck, ...] = (
    CheckRulesCited(),
    CheckIdsUnique(),
    CheckSafetyNotOverridable(),
    CheckEmergencyRulesPresent(),
    CheckCurrentCompromiseFirst(),
    CheckPlanEffects(),
    CheckNothingTargetsSafety(),
    CheckRefsExist(),
    CheckInputFieldsExist(),
    CheckEvaluators(),
    CheckEveryCriterionDefined(),
    CheckPhenotypeFeatures(),
    CheckProtocols(),
    CheckInterventionsInCatalog(),
    CheckMonitoring(),
    CheckCitationsVerified(),
)


def check_rulebook(book: Rulebook) -> list[Issue]:
    """Run every named check; return every issue (errors, warnings) in check order."""
    issues: list[Issue] = []
    for check in CHECKS:
        issues.extend(check.run(book))
    return issues
