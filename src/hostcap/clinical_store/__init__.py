"""Clinical store: tables, migrations, validated and audited writes, export and backup.

SQLite file by default (WAL, foreign keys on); PostgreSQL by URL. One transaction per call; a
failed call writes nothing.
"""

from hostcap.clinical_store.audit import canonical_json
from hostcap.clinical_store.audit_verification import AuditVerification, verify_chain
from hostcap.clinical_store.cohort_queries import CohortRecords, cohort_records
from hostcap.clinical_store.columns import Column, ColumnType
from hostcap.clinical_store.engine import create_store_engine, head_revision
from hostcap.clinical_store.enrolment_import import NewEnrolment, add_enrolments
from hostcap.clinical_store.export import EXPORT_FILES, export_tidy, new_pseudonyms
from hostcap.clinical_store.record_kinds import KINDS, ORGAN_SYSTEMS, RecordKind
from hostcap.clinical_store.restore import RestoreReport, restore_sqlite_backup
from hostcap.clinical_store.store import ImportReport, Store, row_to_dict

__all__ = [
    "EXPORT_FILES",
    "KINDS",
    "ORGAN_SYSTEMS",
    "AuditVerification",
    "CohortRecords",
    "Column",
    "ColumnType",
    "ImportReport",
    "NewEnrolment",
    "RecordKind",
    "RestoreReport",
    "Store",
    "add_enrolments",
    "canonical_json",
    "cohort_records",
    "create_store_engine",
    "export_tidy",
    "head_revision",
    "new_pseudonyms",
    "restore_sqlite_backup",
    "row_to_dict",
    "verify_chain",
]
