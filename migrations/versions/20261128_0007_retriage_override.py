"""Re-triage and urgency overrides: which ruleset a referral was last checked against, a person's
urgency override, and event details (from/to, the suggested result).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("referrals", sa.Column("rules_checked_version", sa.String(32), nullable=True))
    op.add_column("referrals", sa.Column("urgency_override", JSON, nullable=True))
    op.add_column("referral_events", sa.Column("detail", JSON, nullable=True))
    # "retriage_suggested" is longer than 16. Nothing refers to the audit trail, so copying it
    # (SQLite's batch mode) cascades nowhere.
    with op.batch_alter_table("referral_events") as batch:
        batch.alter_column("action", type_=sa.String(32), existing_type=sa.String(16), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("referral_events") as batch:
        batch.alter_column("action", type_=sa.String(16), existing_type=sa.String(32), existing_nullable=False)
    op.drop_column("referral_events", "detail")
    op.drop_column("referrals", "urgency_override")
    op.drop_column("referrals", "rules_checked_version")
