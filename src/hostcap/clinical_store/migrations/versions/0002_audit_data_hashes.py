"""audit entries carry row content hashes and a keyed hash

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05 08:00:00.000000

Existing entries keep their unkeyed sha256 (``key_id`` NULL) and verify as before; ``hostcap
init``, which runs this migration, then records a keyed baseline of the stored rows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_id", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("row_hashes", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_column("row_hashes")
        batch_op.drop_column("key_id")
