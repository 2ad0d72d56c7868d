"""``hostcap assess --input`` / ``--schema`` and ``hostcap rules check``: the file-input contract.

Every test runs the real CLI (``main([...])``) on real files; nothing is mocked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from hostcap.cli.main import main

RESULT_KEYS = {"triage", "criteria", "phenotype", "plan", "rulebook"}
CRITERIA_KEYS = {
    "consensus_1",
    "consensus_2",
    "who_2022_sm",
    "icc_2022_sm",
    "b_findings",
    "c_findings",
    "rema",
    "nicas",
    "hat",
}

EMERGENCY_WITH_PATTERN_A: dict[str, Any] = {
    "sex": "female",
    "age_years": 34,
    "current_episode": {
        "onset_minutes_ago": 20,
        "skin_mucosal": True,
        "respiratory_compromise": True,
    },
    "history": {"antibiotic_courses_2y": 6, "food_reactions_count": 5},
    "questionnaires": {"gsrs_mean": 5.5},
}

PATTERN_A: dict[str, Any] = {
    "sex": "female",
    "age_years": 34,
    "history": {"antibiotic_courses_2y": 6, "food_reactions_count": 5},
    "questionnaires": {"gsrs_mean": 5.5, "fss_mean": 2.0},
    "episodes": [{"organ_systems": ["gastrointestinal", "skin"]}],
}


def _write(tmp_path: Path, name: str, data: Any) -> Path:
    path = tmp_path / name
    if name.endswith((".yaml", ".yml")):
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    else:
        path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(list(args))
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_schema_lists_every_top_level_input_field_and_forbids_unknown_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rc, out, _ = _run(capsys, "assess", "--schema")
    assert rc == 0
    schema = json.loads(out)
    assert set(schema["required"]) == {"sex", "age_years"}
    assert {
        "current_episode",
        "episodes",
        "symptom_pattern",
        "tryptase",
        "alpha_tryptase_extra_copies",
        "kit_d816v",
        "bone_marrow",
        "blood_counts",
        "findings",
        "hs_crp_mg_l",
        "response_to_mediator_therapy",
        "history",
        "questionnaires",
    } <= set(schema["properties"])
    assert schema["additionalProperties"] is False


def test_emergency_json_has_every_contract_key_no_plan_and_exit_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "emergency.json", EMERGENCY_WITH_PATTERN_A)
    rc, out, _ = _run(capsys, "assess", "--input", str(path), "--format", "json")
    assert rc == 0
    result = json.loads(out)
    assert set(result) == RESULT_KEYS
    assert result["triage"]["level"] == "emergency"
    assert result["plan"] is None
    assert set(result["criteria"]) == CRITERIA_KEYS
    assert {c["status"] for c in result["criteria"].values()} == {"suppressed"}
    assert result["phenotype"]["label"] == "suppressed"
    assert result["phenotype"]["hypothesis"] is True
    for reason in result["triage"]["reasons"]:
        assert set(reason) >= {"rule_id", "message", "citation"}
    assert set(result["rulebook"]) == {"version", "sha256"}


def test_routine_json_carries_scores_hat_fields_phenotype_and_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "a.yaml", PATTERN_A)
    rc, out, _ = _run(capsys, "assess", "--input", str(path), "--format", "json", "--no-trajectory")
    assert rc == 0
    result = json.loads(out)
    assert result["triage"]["level"] == "routine"
    assert "score" in result["criteria"]["rema"] and "score" in result["criteria"]["nicas"]
    hat = result["criteria"]["hat"]
    assert {"corrected_baseline_tryptase_ng_ml", "genotyping_suggested"} <= set(hat)
    assert result["phenotype"]["label"] == "A"
    assert {"scores", "label", "contributions", "hypothesis"} <= set(result["phenotype"])
    plan = result["plan"]
    assert plan["protocol_id"] == "protocol.pattern_a"
    assert "discuss any change with the prescriber" in plan["conventional_therapy"]
    assert plan["trajectory_band"]["available"] is False
    assert "trajectory band unavailable" in plan["trajectory_band"]["note"]


def test_text_output_puts_triage_first_and_labels_hypotheses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = PATTERN_A | {"findings": {"splenomegaly": True}}
    path = _write(tmp_path, "a.json", data)
    rc, out, _ = _run(capsys, "assess", "--input", str(path), "--no-trajectory")
    assert rc == 0
    lines = out.splitlines()
    assert lines[0] == "=== TRIAGE: ! REFERRAL ! ==="
    assert "safety.referral.organomegaly" in out
    assert "HYPOTHESIS LABEL (unvalidated)" in out
    assert "PLAN — HYPOTHESIS-BASED" in out
    assert out.index("TRIAGE") < out.index("CRITERIA") < out.index("PHENOTYPE")


def test_bad_input_exits_non_zero_naming_every_field_value_and_expectation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = {
        "sex": "unknown",
        "age_years": -3,
        "tryptase": {"baseline_ng_ml": ["high"]},
        "history": {"antibiotic_courses": 2},
    }
    path = _write(tmp_path, "bad.json", data)
    rc, out, err = _run(capsys, "assess", "--input", str(path))
    assert rc != 0
    assert out == ""
    for needle in (
        "sex",
        "'unknown'",
        "age_years",
        "-3",
        "tryptase.baseline_ng_ml[0]",
        "'high'",
        "history.antibiotic_courses",
    ):
        assert needle in err, needle
    assert "expected" in err


def test_missing_required_fields_and_malformed_json_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "empty.json", {})
    rc, _, err = _run(capsys, "assess", "--input", str(path))
    assert rc != 0 and "sex" in err and "age_years" in err
    broken = tmp_path / "broken.json"
    broken.write_text('{"sex": "male",', encoding="utf-8")
    rc, _, err = _run(capsys, "assess", "--input", str(broken))
    assert rc != 0 and "not valid JSON" in err


def test_assess_needs_exactly_one_of_code_input_and_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, _, err = _run(capsys, "assess")
    assert rc != 0 and "exactly one" in err
    path = _write(tmp_path, "a.json", PATTERN_A)
    rc, _, err = _run(capsys, "assess", "SOME-CODE", "--input", str(path))
    assert rc != 0 and "exactly one" in err
    rc, _, err = _run(capsys, "assess", "--input", str(path), "--history")
    assert rc != 0 and "--history" in err


def test_rules_check_passes_on_the_packaged_rulebook(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(capsys, "rules", "check")
    assert rc == 0
    assert "0 error(s)" in out and "rulebook valid" in out


WEAKEN_SAFETY = {
    "name": "practice",
    "version": "1",
    "rules": [
        {
            "id": "safety.urgent.tryptase_200",
            "version": 2,
            "kind": "safety",
            "level": "referral",
            "title": "Baseline tryptase ≥ 500 ng/mL",
            "evaluator": "baseline_tryptase_at_least",
            "params": {"tryptase_at_least_ng_ml": 500},
            "inputs": ["tryptase.baseline_ng_ml"],
            "message": "Weakened: only refer at 500 ng/mL.",
            "evidence_grade": "E",
            "citation": "sm_b_c_findings_2023",
            "overridable": False,
        }
    ],
}


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        pytest.param(WEAKEN_SAFETY, "safety.urgent.tryptase_200", id="weaken"),
        pytest.param(
            {"name": "practice", "version": "1", "remove_rules": ["safety.urgent.tryptase_200"]},
            "can never be removed",
            id="remove",
        ),
    ],
)
def test_a_practice_file_that_weakens_or_removes_a_safety_rule_is_rejected(
    extra: dict[str, Any], named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "practice.yaml", extra)
    rc, out, _ = _run(capsys, "rules", "check", "--rulebook-extra", str(path))
    assert rc == 1
    assert named in out and "error" in out and "INVALID" in out
    # The same file cannot be used to assess either, and the error names the rule.
    data = _write(tmp_path, "in.json", {"sex": "male", "age_years": 50})
    rc, _, err = _run(capsys, "assess", "--input", str(data), "--rulebook-extra", str(path))
    assert rc != 0 and named in err


def test_rules_check_names_a_practice_protocol_with_an_unknown_intervention(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = {
        "name": "practice",
        "version": "1",
        "rules": [
            {
                "id": "protocol.practice_a",
                "version": 1,
                "kind": "protocol",
                "title": "Practice pattern A",
                "applies_to": ["A"],
                "rationale": "practice preference",
                "evidence_grade": "S",
                "citation": "hostcap_phenotype_hypothesis",
                "phases": [
                    {
                        "name": "one",
                        "start_week": 0,
                        "end_week": 8,
                        "interventions": [
                            {"intervention": "unicorn_powder", "low": 1, "high": 2, "unit": "g/d"}
                        ],
                        "entry_criteria": ["triage is not emergency"],
                        "exit_criteria": ["tolerated"],
                    }
                ],
            }
        ],
    }
    path = _write(tmp_path, "practice.yaml", extra)
    rc, out, _ = _run(capsys, "rules", "check", "--rulebook-extra", str(path))
    assert rc == 1
    assert "unicorn_powder" in out


def test_practice_phenotype_weights_change_scores_and_the_rulebook_stamp(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _write(tmp_path, "a.json", PATTERN_A)
    rc, out, _ = _run(capsys, "assess", "--input", str(data), "--format", "json", "--no-trajectory")
    base = json.loads(out)
    phenotype_rules = yaml.safe_load(
        (
            Path(__file__).parents[2] / "src/hostcap/clinical_decisions/rulebook/phenotype.yaml"
        ).read_text(encoding="utf-8")
    )["rules"]
    gsrs = next(r for r in phenotype_rules if r["id"] == "phenotype.a.gsrs")
    extra = {"name": "practice", "version": "7", "rules": [gsrs | {"version": 2, "weight": 0}]}
    path = _write(tmp_path, "practice.yaml", extra)
    rc, out, _ = _run(capsys, "rules", "check", "--rulebook-extra", str(path))
    assert rc == 0, out
    rc, out, _ = _run(
        capsys,
        "assess",
        "--input",
        str(data),
        "--format",
        "json",
        "--no-trajectory",
        "--rulebook-extra",
        str(path),
    )
    assert rc == 0
    practice = json.loads(out)

    def gsrs_weight(result: dict[str, Any]) -> float:
        row = next(c for c in result["phenotype"]["contributions"] if c["feature"] == gsrs["title"])
        return float(row["weight"])

    assert gsrs_weight(base) == gsrs["weight"] and gsrs_weight(practice) == 0
    assert practice["rulebook"]["version"].endswith("+practice.7")
    assert practice["rulebook"]["sha256"] != base["rulebook"]["sha256"]
    # Safety is untouched by the practice file.
    assert practice["triage"] == base["triage"]


def test_a_practice_protocol_template_cannot_unhold_a_clonal_plan_or_dose_a_child(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = {
        "id": "protocol.practice_all",
        "version": 1,
        "kind": "protocol",
        "title": "Practice template for every label",
        "applies_to": ["A", "B", "C", "mixed", "insufficient_data"],
        "rationale": "practice preference",
        "evidence_grade": "S",
        "citation": "hostcap_phenotype_hypothesis",
        "phases": [
            {
                "name": "one",
                "start_week": 0,
                "end_week": 8,
                "interventions": [
                    {
                        "intervention": "nicotinamide_riboside",
                        "low": 250,
                        "high": 500,
                        "unit": "mg/d",
                    }
                ],
                "entry_criteria": ["triage is not emergency"],
                "exit_criteria": ["tolerated"],
            }
        ],
    }
    path = _write(tmp_path, "practice.yaml", {"name": "p", "version": "1", "rules": [template]})
    rc, out, _ = _run(capsys, "rules", "check", "--rulebook-extra", str(path))
    assert rc == 0, out
    cases = {
        "kit.json": {**PATTERN_A, "kit_d816v": "positive"},
        "child.json": {**PATTERN_A, "age_years": 9},
    }
    for name, data in cases.items():
        rc, out, _ = _run(
            capsys,
            "assess",
            "--input",
            str(_write(tmp_path, name, data)),
            "--format",
            "json",
            "--no-trajectory",
            "--rulebook-extra",
            str(path),
        )
        assert rc == 0, out
        plan = json.loads(out)["plan"]
        assert plan["protocol_id"] == "protocol.practice_all"
        assert plan["status"] == "on_hold_until_specialist_review", (name, plan)
        assert any(r["item"].startswith("refer for specialist work-up") for r in plan["referrals"])
        if name == "child.json":
            assert plan["phases"] == [] and plan["doses_withheld"] is True
