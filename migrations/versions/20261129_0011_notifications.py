"""Notifications: where a clinic's emergency and urgent referrals are announced (e-mail, a signed
webhook), and their outbox.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("status = 'pending'")
OPEN_URGENT = sa.text("status IN ('new', 'in_review') AND urgency_rank <= 1")


def ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "notification_settings",
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("emails", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.Column("webhook_url", sa.String(500), nullable=True),
        sa.Column("sealed_webhook_secret", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        ts("updated_at"),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_notification_settings_clinic_id_clinics"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("clinic_id", name=op.f("pk_notification_settings")),
    )
    op.create_table(
        "notification_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("urgency", sa.String(16), nullable=False),
        ts("due_at"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        ts("created_at"),
        ts("next_attempt_at"),
        ts("delivered_at", nullable=True),
        ts("lease_until", nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_notification_items_clinic_id_clinics"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_notification_items_referral_id_referrals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_items")),
        sa.UniqueConstraint(
            "referral_id",
            "kind",
            "channel",
            "target",
            name=op.f("uq_notification_items_referral_id_kind_channel_target"),
        ),
    )
    op.create_index("ix_notification_items_clinic", "notification_items", ["clinic_id", "created_at", "id"])
    op.create_index(
        "ix_notification_items_due", "notification_items", ["next_attempt_at"], postgresql_where=PENDING,
        sqlite_where=PENDING,
    )  # fmt: skip
    # The overdue scan: open emergency and urgent referrals by due time (the queue's indexes lead
    # with the clinic; this one spans clinics and holds only the few rows it reads).
    op.create_index(
        "ix_referrals_open_urgent_due", "referrals", ["due_at"], postgresql_where=OPEN_URGENT, sqlite_where=OPEN_URGENT
    )


def downgrade() -> None:
    op.drop_index("ix_referrals_open_urgent_due", table_name="referrals")
    op.drop_table("notification_items")
    op.drop_table("notification_settings")
