"""FHIR integrations, the export outbox, and an index for FHIR search by last change.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "fhir_integrations",
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("base_url", sa.String(500), nullable=False),
        sa.Column("auth_type", sa.String(16), nullable=False),
        sa.Column("auth_token", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        ts("updated_at"),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_fhir_integrations_clinic_id_clinics"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("clinic_id", name=op.f("pk_fhir_integrations")),
    )
    op.create_table(
        "export_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        ts("created_at"),
        ts("next_attempt_at"),
        ts("delivered_at", nullable=True),
        ts("lease_until", nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_export_items_clinic_id_clinics"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"], ["referrals.id"], name=op.f("fk_export_items_referral_id_referrals"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_items")),
    )
    op.create_index("ix_export_items_clinic", "export_items", ["clinic_id", "created_at", "id"])
    pending = sa.text("status = 'pending'")
    op.create_index(
        "ix_export_items_due", "export_items", ["next_attempt_at"], postgresql_where=pending, sqlite_where=pending
    )
    op.create_index("ix_export_items_referral", "export_items", ["referral_id"])
    op.create_index("ix_referrals_updated", "referrals", ["clinic_id", "updated_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_referrals_updated", table_name="referrals")
    op.drop_table("export_items")
    op.drop_table("fhir_integrations")
