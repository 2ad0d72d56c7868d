"""Reports: results rendered as Markdown, tables and figures (data in, text and figures out).

Renderers here read the results of the pure core and never open a store, a service or a face;
the services write what they return.
"""

from hostcap.reports.cohort_files import (
    RESPONDER_CSV_COLUMNS,
    discovery_document,
    marker_order_table,
    mixed_models_table,
    responders_csv_table,
    summary_figures,
    variant_table,
)
from hostcap.reports.cohort_summary import CohortAnalysis, cohort_summary_markdown

__all__ = [
    "RESPONDER_CSV_COLUMNS",
    "CohortAnalysis",
    "cohort_summary_markdown",
    "discovery_document",
    "marker_order_table",
    "mixed_models_table",
    "responders_csv_table",
    "summary_figures",
    "variant_table",
]
