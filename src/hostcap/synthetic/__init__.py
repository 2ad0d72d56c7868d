"""Synthetic cohorts with known ground truth, generated with the mechanistic model.

There is no real client data yet, so analyses are demonstrated and tested on synthetic cohorts:
clients with a true phenotype (hypothesis labels A/B/C or mixed), HαT at population prevalence,
between-client parameter variation around the model's phenotype presets, the decision model's
protocol templates, realistic visit timing, missed visits, dropout and measurement noise. The
generation here is pure (``generate_cohort`` returns frames); ``hostcap.services.synthesis``
writes the records through the clinical store, flagged ``demo`` so no report mistakes them for
real people, and saves the ground truth.

Every cohort is simulated with the Host Capacity Model or one of its competitors: synthetic data
test the analyses, never the hypothesis.
"""

from hostcap.synthetic.baseline_labels import baseline_inputs, rule_based_labels
from hostcap.synthetic.client_population import (
    AssignedProtocol,
    assign_protocols,
    client_parameters,
    draw_clients,
    protocol_templates,
)
from hostcap.synthetic.cohort_design import (
    DEFAULT_DESIGN,
    DESIGN_CITATIONS,
    MAX_CLIENTS,
    MAX_WEEKS,
    MIN_WEEKS,
    CohortDesign,
    check_options,
)
from hostcap.synthetic.cohort_generation import (
    ANALYTICS_MEASURES,
    STORE_KINDS,
    TRUTH_MEASURES,
    Enrolment,
    SyntheticCohort,
    generate_cohort,
)
from hostcap.synthetic.cohort_simulation import CohortRun, batch_steady_states, simulate_cohort
from hostcap.synthetic.record_generation import LATENT_MEASURES, latent_questionnaires

__all__ = [
    "ANALYTICS_MEASURES",
    "DEFAULT_DESIGN",
    "DESIGN_CITATIONS",
    "LATENT_MEASURES",
    "MAX_CLIENTS",
    "MAX_WEEKS",
    "MIN_WEEKS",
    "STORE_KINDS",
    "TRUTH_MEASURES",
    "AssignedProtocol",
    "CohortDesign",
    "CohortRun",
    "Enrolment",
    "SyntheticCohort",
    "assign_protocols",
    "baseline_inputs",
    "batch_steady_states",
    "check_options",
    "client_parameters",
    "draw_clients",
    "generate_cohort",
    "latent_questionnaires",
    "protocol_templates",
    "rule_based_labels",
    "simulate_cohort",
]
