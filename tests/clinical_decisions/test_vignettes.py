"""The vignette suite: clinical cases with expected outcomes, one parametrised test.

Each YAML file under ``vignettes/`` lists cases ``{id, input, expect}``. ``expect`` may hold:
``triage`` (level), ``reasons_include`` / ``reasons_exclude`` (safety rule ids), ``criteria``
(key → status), ``items`` (``criterion.item`` → status), ``missing`` (criterion → paths that
must be listed), ``score`` / ``score_range`` (rema, nicas), ``hat`` (field → value),
``phenotype`` (label), ``plan`` (protocol id, or null), ``plan_status``, ``plan_phases``
(count), ``plan_doses_withheld``,
``referral_items_include``, ``contributions_include``, ``contested``, ``details``
(dotted path → value) and ``notes_include`` (criterion → substring).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from hostcap.clinical_decisions import AssessmentResult, assess

VIGNETTES = Path(__file__).parent / "vignettes"


def _cases() -> list[Any]:
    cases = []
    for path in sorted(VIGNETTES.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text(encoding="utf-8")):
            cases.append(pytest.param(case, id=f"{path.stem}:{case['id']}"))
    return cases


CASES = _cases()


def test_the_suite_has_at_least_forty_cases_with_unique_ids() -> None:
    ids = [c.values[0]["id"] for c in CASES]
    assert len(ids) >= 40
    assert len(ids) == len(set(ids))


def _dig(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        data = data[part]
    return data


def _check(result: AssessmentResult, expect: dict[str, Any]) -> None:
    out = result.model_dump(mode="json")
    triage = out["triage"]
    fired = [r["rule_id"] for r in triage["reasons"]]
    assert set(out) == {"triage", "criteria", "phenotype", "plan", "rulebook"}
    if "triage" in expect:
        assert triage["level"] == expect["triage"], triage
    for rule_id in expect.get("reasons_include", []):
        assert rule_id in fired, fired
    for rule_id in expect.get("reasons_exclude", []):
        assert rule_id not in fired, fired
    for key, status in expect.get("criteria", {}).items():
        assert out["criteria"][key]["status"] == status, out["criteria"][key]
    for dotted, status in expect.get("items", {}).items():
        key, item_id = dotted.split(".", 1)
        items = {i["id"]: i for i in out["criteria"][key]["items"]}
        assert items[item_id]["status"] == status, items[item_id]
    for key, paths in expect.get("missing", {}).items():
        for path in paths:
            assert path in out["criteria"][key]["missing"], out["criteria"][key]["missing"]
    for key, score in expect.get("score", {}).items():
        assert out["criteria"][key]["score"] == score, out["criteria"][key]
    for key, rng in expect.get("score_range", {}).items():
        assert out["criteria"][key]["score_range"] == rng
        assert out["criteria"][key]["score"] is None
    for field, value in expect.get("hat", {}).items():
        assert out["criteria"]["hat"][field] == value, out["criteria"]["hat"]
    for key in expect.get("contested", []):
        assert out["criteria"][key]["contested"] is True
    for dotted, value in expect.get("details", {}).items():
        key, rest = dotted.split(".", 1)
        assert _dig(out["criteria"][key]["details"], rest) == value
    for key, text in expect.get("notes_include", {}).items():
        assert any(text in n for n in out["criteria"][key]["notes"]), out["criteria"][key]["notes"]
    if "phenotype" in expect:
        assert out["phenotype"]["label"] == expect["phenotype"], out["phenotype"]["scores"]
    assert out["phenotype"]["hypothesis"] is True
    contributed = [c["rule_id"] for c in out["phenotype"]["contributions"] if c["contribution"] > 0]
    for rule_id in expect.get("contributions_include", []):
        assert rule_id in contributed
    if "plan" in expect:
        if expect["plan"] is None:
            assert out["plan"] is None
        else:
            assert out["plan"]["protocol_id"] == expect["plan"]
    plan = out["plan"]
    if triage["level"] == "emergency":
        assert plan is None
        assert all(c["status"] == "suppressed" for c in out["criteria"].values())
        assert out["phenotype"]["label"] == "suppressed"
        return
    assert plan is not None
    if "plan_status" in expect:
        assert plan["status"] == expect["plan_status"], plan["hold_reasons"]
    if "plan_phases" in expect:
        assert len(plan["phases"]) == expect["plan_phases"], plan["phases"]
    if "plan_doses_withheld" in expect:
        assert plan["doses_withheld"] is expect["plan_doses_withheld"]
    if plan["status"] == "on_hold_until_specialist_review":
        assert plan["hold_reasons"], plan
    if plan["doses_withheld"]:
        assert plan["phases"] == []
    carried = [r["rule_id"] for r in plan["referrals"]]
    assert carried == fired  # every referral reason is carried on the plan
    for rule_id in expect.get("referral_items_include", []):
        assert rule_id in carried
    assert all(r["item"].startswith("refer for specialist work-up") for r in plan["referrals"])


@pytest.mark.parametrize("case", CASES)
def test_vignette(case: dict[str, Any]) -> None:
    _check(assess(case["input"]), case["expect"])
