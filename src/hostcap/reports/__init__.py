"""Reports: results rendered as Markdown, tables and figures (data in, text and figures out).

Renderers here read the results of the pure core and never open a store, a service or a face;
the services write what they return.
"""

from hostcap.reports.case_report import (
    CARE_ITEMS,
    CaseRecords,
    CaseReport,
    age_band,
    build_case_report,
    care_checklist,
    case_figure,
    case_report_html,
)
from hostcap.reports.cohort_article import (
    CHECKLIST_ITEMS,
    PackProvenance,
    article_figure_alt,
    article_html,
    methods_markdown,
    outcomes_table,
    reporting_checklist,
    table1,
)
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
from hostcap.reports.document_rendering import (
    data_uri,
    figure_png,
    figure_svg,
    format_number,
    html_to_pdf,
    render_template,
)

__all__ = [
    "CARE_ITEMS",
    "CHECKLIST_ITEMS",
    "RESPONDER_CSV_COLUMNS",
    "CaseRecords",
    "CaseReport",
    "CohortAnalysis",
    "PackProvenance",
    "age_band",
    "article_figure_alt",
    "article_html",
    "build_case_report",
    "care_checklist",
    "case_figure",
    "case_report_html",
    "cohort_summary_markdown",
    "data_uri",
    "discovery_document",
    "figure_png",
    "figure_svg",
    "format_number",
    "html_to_pdf",
    "marker_order_table",
    "methods_markdown",
    "mixed_models_table",
    "outcomes_table",
    "render_template",
    "reporting_checklist",
    "responders_csv_table",
    "summary_figures",
    "table1",
    "variant_table",
]
