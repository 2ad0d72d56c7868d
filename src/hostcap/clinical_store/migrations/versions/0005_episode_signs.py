"""episode signs: urticaria, angioedema, pruritus, flushing, (pre)syncope, sting, trigger

Yes/no signs of a recorded episode that the REMA and NICAS scores and the anaphylaxis criteria
read; NULL means not recorded (unknown), never "no". Nullable columns change no stored row's
content hash (NULL columns are left out of it).

Revision ID: 0005_episode_signs
Revises: 0004_web_users
Create Date: 2026-12-05 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_episode_signs"
down_revision: str | None = "0004_web_users"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SIGNS = (
    "urticaria",
    "angioedema",
    "pruritus",
    "flushing",
    "presyncope_or_syncope",
    "syncope",
    "hymenoptera_sting",
    "trigger_identified",
)


def upgrade() -> None:
    for name in SIGNS:
        op.add_column("episodes", sa.Column(name, sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("episodes") as batch:
        for name in reversed(SIGNS):
            batch.drop_column(name)
