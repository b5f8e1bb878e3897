"""Triage v2: each referral's pathway, and each intake's date (the day its age is taken on).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A referral triaged before v2 takes its urgency's usual pathway (SPEC §5a).
USUAL_PATHWAY = {
    "emergency": "emergency_department",
    "urgent": "urgent_medical",
    "routine": "physiotherapy",
    "self_care": "self_management",
}


def upgrade() -> None:
    # NOT NULL with a default, so SQLite can add it in place (no batch copy of the table,
    # which would cascade to the audit trail; see 0004); the UPDATE then sets the real value.
    op.add_column("referrals", sa.Column("pathway", sa.String(32), nullable=False, server_default="physiotherapy"))
    referrals = sa.table("referrals", sa.column("urgency", sa.String), sa.column("pathway", sa.String))
    op.execute(
        referrals.update().values(
            pathway=sa.case(*((referrals.c.urgency == u, p) for u, p in USUAL_PATHWAY.items()), else_="physiotherapy")
        )
    )
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("referrals", "pathway", server_default=None)
    # Null for intakes stored before v2: their date is the day they arrived (created_at).
    op.add_column("intakes", sa.Column("intake_date", sa.Date(), nullable=True))


def downgrade() -> None:
    op.drop_column("intakes", "intake_date")
    op.drop_column("referrals", "pathway")
