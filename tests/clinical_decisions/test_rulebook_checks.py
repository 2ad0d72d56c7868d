"""Named rulebook checks that guard the safety design: each fails on the defect it names."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from hostcap.clinical_decisions.rule_schema import SafetyRule
from hostcap.clinical_decisions.rulebook_checks import (
    CheckCurrentCompromiseFirst,
    CheckEvaluators,
    CheckPlanEffects,
)
from hostcap.clinical_decisions.rulebook_loading import Rulebook, load_rulebook
from hostcap.clinical_decisions.safety_triage import SAFETY_EVALUATORS


def _with_rules(book: Rulebook, rules: list[Any]) -> Rulebook:
    return dataclasses.replace(book, rules=tuple(rules))


def test_packaged_rulebook_passes_the_safety_design_checks() -> None:
    book = load_rulebook()
    for check in (CheckEvaluators(), CheckCurrentCompromiseFirst(), CheckPlanEffects()):
        assert check.run(book) == [], check.name


def test_a_declared_parameter_the_evaluator_never_reads_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def reads_only_threshold(inp: Any, ctx: Any, params: Any) -> bool | None:
        return inp.hs_crp_mg_l is not None and inp.hs_crp_mg_l > float(params["threshold"])

    monkeypatch.setitem(
        SAFETY_EVALUATORS, "probe_reads_one", (reads_only_threshold, frozenset({"threshold", "x"}))
    )
    book = load_rulebook()
    rule = SafetyRule(
        id="safety.referral.probe",
        version=1,
        kind="safety",
        level="referral",
        title="probe rule",
        evaluator="probe_reads_one",
        params={"threshold": 10, "x": 1},
        message="a probe rule for the test",
        evidence_grade="P",
        citation="hostcap_operational",
    )
    issues = CheckEvaluators().run(_with_rules(book, [*book.rules, rule]))
    assert [i.location for i in issues] == ["safety.referral.probe.params.x"], issues
    assert "never read" in issues[0].message


def test_a_clonal_referral_marked_alongside_is_an_error() -> None:
    book = load_rulebook()
    rules = [
        r.model_copy(
            update={"plan_effect": "alongside", "alongside_reason": "a practice would like it"}
        )
        if r.id == "safety.referral.kit_d816v_positive"
        else r
        for r in book.rules
    ]
    issues = CheckPlanEffects().run(_with_rules(book, rules))
    assert [i.location for i in issues] == ["safety.referral.kit_d816v_positive"]


def test_current_compromise_rule_must_exist_and_come_first() -> None:
    book = load_rulebook()
    without = [r for r in book.rules if r.id != "safety.emergency.current_compromise"]
    assert CheckCurrentCompromiseFirst().run(_with_rules(book, without))
    first = next(r for r in book.rules if r.id == "safety.emergency.current_compromise")
    moved = [r for r in without if isinstance(r, SafetyRule)] + [first]
    others = [r for r in book.rules if not isinstance(r, SafetyRule)]
    assert CheckCurrentCompromiseFirst().run(_with_rules(book, moved + others))


def test_alongside_without_a_reason_or_on_an_urgent_rule_is_refused_by_the_schema() -> None:
    base = {
        "id": "safety.referral.x",
        "version": 1,
        "kind": "safety",
        "title": "probe rule",
        "evaluator": "hs_crp_above",
        "params": {"hs_crp_above_mg_l": 10},
        "message": "a probe rule for the test",
        "evidence_grade": "P",
        "citation": "hostcap_operational",
    }
    with pytest.raises(ValueError, match="alongside_reason"):
        SafetyRule.model_validate({**base, "level": "referral", "plan_effect": "alongside"})
    with pytest.raises(ValueError, match="only for level 'referral'"):
        SafetyRule.model_validate(
            {
                **base,
                "level": "urgent_referral",
                "plan_effect": "alongside",
                "alongside_reason": "because it is urgent",
            }
        )
