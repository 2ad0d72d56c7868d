"""Evaluators of the published criteria: consensus-1 and -2 MCAS, WHO 2022 and ICC 2022 SM,
B- and C-findings, REMA, NICAS and HαT handling.

Each evaluator reads an :class:`AssessmentInput` and the thresholds of its rule (``params`` in
``rulebook/criteria.yaml``) and returns a :class:`CriterionOutcome` in three-valued logic: a
criterion is ``met``, ``not_met`` or ``indeterminate`` — the last with the input fields whose
absence kept it open, until those can no longer change it. Missing data is never "not met". The
tool reports which criteria *appear* met; it never diagnoses.

The evaluators live in :mod:`mcas_criteria`, :mod:`mastocytosis_criteria` and
:mod:`clonality_scores`; importing this module registers them all in
:data:`CRITERION_EVALUATORS`.
"""

from __future__ import annotations

from hostcap.clinical_decisions import clonality_scores, mastocytosis_criteria, mcas_criteria
from hostcap.clinical_decisions.criteria_readings import (
    CRITERION_EVALUATORS,
    CriterionOutcome,
    ItemOutcome,
    ScoreRange,
    hat_adjusted_above,
    hat_corrected_tryptase,
)
from hostcap.clinical_decisions.mcas_criteria import meets_tryptase_criterion

__all__ = [
    "CRITERION_EVALUATORS",
    "CriterionOutcome",
    "ItemOutcome",
    "ScoreRange",
    "hat_adjusted_above",
    "hat_corrected_tryptase",
    "meets_tryptase_criterion",
]

#: The modules whose evaluators are registered (imported for that effect).
EVALUATOR_MODULES = (mcas_criteria, mastocytosis_criteria, clonality_scores)
