"""Users, the referral audit trail, and the queue's indexes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        ts("locked_until", nullable=True),
        ts("created_at"),
        ts("disabled_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_users_clinic_id_clinics"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_index(op.f("ix_users_clinic_id"), "users", ["clinic_id"])
    op.create_table(
        "referral_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        ts("at"),
        sa.Column("actor_type", sa.String(8), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_label", sa.String(254), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_referral_events_clinic_id_clinics"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_referral_events_referral_id_referrals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_events")),
    )
    op.create_index("ix_referral_events_referral", "referral_events", ["referral_id", "at", "id"])
    op.create_index(
        "ix_referrals_queue_status", "referrals", ["clinic_id", "status", "urgency_rank", "created_at", "id"]
    )
    op.create_index(
        "ix_referrals_queue_assignee", "referrals", ["clinic_id", "assignee_id", "urgency_rank", "created_at", "id"]
    )
    open_queue = sa.text("status IN ('new', 'in_review')")
    op.create_index(
        "ix_referrals_queue_open",
        "referrals",
        ["clinic_id", "urgency_rank", "created_at", "id"],
        postgresql_where=open_queue,
        sqlite_where=open_queue,
    )
    # SQLite cannot add a foreign key in place; batch mode copies the table there.
    with op.batch_alter_table("referrals") as batch:
        batch.create_foreign_key(
            op.f("fk_referrals_assignee_id_users"), "users", ["assignee_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("referrals") as batch:
        batch.drop_constraint(op.f("fk_referrals_assignee_id_users"), type_="foreignkey")
    op.drop_index("ix_referrals_queue_open", table_name="referrals")
    op.drop_index("ix_referrals_queue_assignee", table_name="referrals")
    op.drop_index("ix_referrals_queue_status", table_name="referrals")
    op.drop_table("referral_events")
    op.drop_index(op.f("ix_users_clinic_id"), table_name="users")
    op.drop_table("users")
