"""Clinical decisions: a cited rulebook with safety triage first, MCAS and mastocytosis criteria,
hypothesis phenotypes with reasons, and sequenced protocol plans.

A pure package: it takes an :class:`AssessmentInput` and returns an :class:`AssessmentResult`.
It never diagnoses — it reports which published criteria appear met and routes danger to the
right door (emergency care, urgent or routine specialist referral).
"""

from __future__ import annotations

from hostcap.clinical_decisions.assessment import assess
from hostcap.clinical_decisions.assessment_input import (
    AssessmentInput,
    input_field_paths,
    parse_assessment_input,
)
from hostcap.clinical_decisions.assessment_result import AssessmentResult
from hostcap.clinical_decisions.criteria_evaluation import (
    hat_corrected_tryptase,
    meets_tryptase_criterion,
)
from hostcap.clinical_decisions.protocol_planning import TrajectoryProvider
from hostcap.clinical_decisions.rule_schema import rulebook_json_schema
from hostcap.clinical_decisions.rulebook_checks import check_rulebook
from hostcap.clinical_decisions.rulebook_docs import rulebook_markdown
from hostcap.clinical_decisions.rulebook_loading import Rulebook, build_rulebook, load_rulebook
from hostcap.clinical_decisions.text_rendering import render_text

__all__ = [
    "AssessmentInput",
    "AssessmentResult",
    "Rulebook",
    "TrajectoryProvider",
    "assess",
    "build_rulebook",
    "check_rulebook",
    "hat_corrected_tryptase",
    "input_field_paths",
    "load_rulebook",
    "meets_tryptase_criterion",
    "parse_assessment_input",
    "render_text",
    "rulebook_json_schema",
    "rulebook_markdown",
]
