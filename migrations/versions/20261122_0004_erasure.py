"""When a patient's data was erased: intakes and referrals.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD/DROP COLUMN on both databases (SQLite has both since 3.35): batch mode would
    # copy these tables on SQLite, and dropping the old copy cascades to referrals and events.
    op.add_column("intakes", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("referrals", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Erased rows stay erased (their answers are only {"erased": true}); code from before this
    # revision cannot read them, so downgrade only a database that has had no erasure.
    op.drop_column("referrals", "erased_at")
    op.drop_column("intakes", "erased_at")
