"""Indexes for the clinic dashboard's queries.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("status IN ('new', 'in_review')")
CLAIM_EVENT = sa.text("from_status = 'new' AND action IN ('claimed', 'transitioned')")


RECEIVED_INCLUDE = ["urgency_rank", "status", "due_at", "id", "focus_areas"]


def upgrade() -> None:
    # The dashboard reads windows of 12 weeks and 90 days of a clinic's referrals: at a million
    # referrals a window is a tenth of the table, and PostgreSQL read it by a sequential scan
    # rather than fetch its rows one by one from the heap (bench/dashboard.py). With the columns the
    # dashboard needs INCLUDEd, each window is an index-only range scan. (SQLite ignores INCLUDE.)
    op.create_index(
        "ix_referrals_received",
        "referrals",
        ["clinic_id", "created_at"],
        postgresql_include=RECEIVED_INCLUDE,
    )
    # Export counts by status: the same index with status carried along.
    op.drop_index("ix_export_items_clinic", table_name="export_items")
    op.create_index(
        "ix_export_items_clinic", "export_items", ["clinic_id", "created_at", "id"], postgresql_include=["status"]
    )
    # "Overdue now" counts a clinic's open referrals by urgency and due time: with due_at in a
    # partial index of the open ones, that is an index-only scan of the open queue, however many
    # referrals are closed (the queue's open index lacks due_at, so each row was a heap read).
    op.create_index(
        "ix_referrals_open_due",
        "referrals",
        ["clinic_id", "urgency_rank", "due_at"],
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )
    # Time to claim: the claims of a window, one small row per claimed referral, instead of
    # every referral's whole audit trail (views included) through ix_referral_events_referral.
    op.create_index(
        "ix_referral_events_claims",
        "referral_events",
        ["clinic_id", "at", "referral_id"],
        postgresql_where=CLAIM_EVENT,
        sqlite_where=CLAIM_EVENT,
    )


def downgrade() -> None:
    op.drop_index("ix_export_items_clinic", table_name="export_items")
    op.create_index("ix_export_items_clinic", "export_items", ["clinic_id", "created_at", "id"])
    op.drop_index("ix_referrals_received", table_name="referrals")
    op.drop_index("ix_referral_events_claims", table_name="referral_events")
    op.drop_index("ix_referrals_open_due", table_name="referrals")
