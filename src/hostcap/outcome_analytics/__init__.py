"""Outcome analytics: who responded, which marker moved first, what differs by phenotype.

A pure package: tidy frames in (``measurements``: client, measure, week, value [, phase];
``clients``: client, phenotype, protocol [, sex, age_years, baseline features]; see
:mod:`hostcap.outcome_analytics.input_frames`), result objects out. No database, no files.

* :mod:`~hostcap.outcome_analytics.measure_specs` — what counts as a real change per measure.
* :mod:`~hostcap.outcome_analytics.reliable_change` — change from baseline, responders, composite.
* :mod:`~hostcap.outcome_analytics.marker_order` — time to sustained improvement, Kaplan–Meier,
  order of improvement, model variants' predicted orders beside the observed one.
* :mod:`~hostcap.outcome_analytics.cohort_models` — mixed models with convergence reported.
* :mod:`~hostcap.outcome_analytics.phenotype_discovery` — Gaussian mixtures vs rule labels.
* :mod:`~hostcap.outcome_analytics.outcome_timelines` — time to response and bands per phenotype.
* :mod:`~hostcap.outcome_analytics.variant_ranking` — cohort ranking of model variants.
* :mod:`~hostcap.outcome_analytics.figures` — matplotlib figures of the results.

Phenotypes A/B/C are hypothesis labels (``docs/evidence.md#hostcap_phenotype_hypothesis``);
nothing here treats them as established.
"""

from hostcap.outcome_analytics.cohort_models import (
    MIXED_MODEL_COLUMNS,
    MixedModelFit,
    fit_mixed_models,
    mixed_model_frame,
)
from hostcap.outcome_analytics.figures import (
    forest_figure,
    km_figure,
    spaghetti_figure,
    variant_figure,
)
from hostcap.outcome_analytics.input_frames import (
    CLIENT_COLUMNS,
    MEASUREMENT_COLUMNS,
    PHENOTYPE_LABELS,
    baseline_rows,
    validate_clients,
    validate_measurements,
)
from hostcap.outcome_analytics.marker_order import (
    KaplanMeierCurve,
    MarkerOrder,
    OrderComparison,
    compare_orders,
    kaplan_meier,
    km_not_improved,
    marker_order,
    predicted_order,
    time_to_improvement,
)
from hostcap.outcome_analytics.measure_specs import (
    CORE_MEASURES,
    FALLBACK_THRESHOLDS,
    MEASURES,
    MeasureSpec,
    Rule,
    get_measure,
    log_normal_rcv_limits,
    measure_specs,
    reliable_change_index,
    symmetric_rcv_pct,
)
from hostcap.outcome_analytics.outcome_timelines import (
    OutcomeTimelines,
    composite_response_times,
    outcome_timelines,
    trajectory_bands,
)
from hostcap.outcome_analytics.phenotype_discovery import (
    PhenotypeDiscovery,
    default_features,
    discover_phenotypes,
)
from hostcap.outcome_analytics.record_frames import (
    FEATURE_COVERAGE,
    CohortFrames,
    frames_from_records,
)
from hostcap.outcome_analytics.reliable_change import (
    RESPONDER_COLUMNS,
    composite_responders,
    follow_up_changes,
    responder_table,
)
from hostcap.outcome_analytics.variant_ranking import (
    VARIANT_COMPARISON_COLUMNS,
    VariantComparison,
    compare_variants,
)

__all__ = [
    "CLIENT_COLUMNS",
    "CORE_MEASURES",
    "FALLBACK_THRESHOLDS",
    "FEATURE_COVERAGE",
    "MEASUREMENT_COLUMNS",
    "MEASURES",
    "MIXED_MODEL_COLUMNS",
    "PHENOTYPE_LABELS",
    "RESPONDER_COLUMNS",
    "VARIANT_COMPARISON_COLUMNS",
    "CohortFrames",
    "KaplanMeierCurve",
    "MarkerOrder",
    "MeasureSpec",
    "MixedModelFit",
    "OrderComparison",
    "OutcomeTimelines",
    "PhenotypeDiscovery",
    "Rule",
    "VariantComparison",
    "baseline_rows",
    "compare_orders",
    "compare_variants",
    "composite_responders",
    "composite_response_times",
    "default_features",
    "discover_phenotypes",
    "fit_mixed_models",
    "follow_up_changes",
    "forest_figure",
    "frames_from_records",
    "get_measure",
    "kaplan_meier",
    "km_figure",
    "km_not_improved",
    "log_normal_rcv_limits",
    "marker_order",
    "measure_specs",
    "mixed_model_frame",
    "outcome_timelines",
    "predicted_order",
    "reliable_change_index",
    "responder_table",
    "spaghetti_figure",
    "symmetric_rcv_pct",
    "time_to_improvement",
    "trajectory_bands",
    "validate_clients",
    "validate_measurements",
    "variant_figure",
]
