"""FHIR that real servers accept: each intake from a QuestionnaireResponse keeps what the response
said about itself (identifier, subject, author, authored) and is found again by its identifier;
a referral remembers being declined (closed afterwards, it was still never done); an integration
names the system of the clinic's MRNs and may authenticate with SMART Backend Services, with
key pairs kept sealed.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("intakes", sa.Column("fhir_source", JSON, nullable=True))
    op.add_column("intakes", sa.Column("response_identifier", sa.String(64), nullable=True))
    # A unique index, not a constraint: SQLite would add a constraint by copying the table, and
    # dropping the old intakes table would cascade to every referral.
    op.create_index("ix_intakes_response_identifier", "intakes", ["clinic_id", "response_identifier"], unique=True)
    op.add_column("referrals", sa.Column("declined_at", sa.DateTime(timezone=True), nullable=True))
    # Referrals declined before this was kept: the audit trail says when.
    op.execute(
        """
        UPDATE referrals SET declined_at = (
            SELECT min(e.at) FROM referral_events e
            WHERE e.referral_id = referrals.id AND e.to_status = 'declined'
        )
        WHERE status IN ('declined', 'closed')
        """
    )
    for name, length in (("token_url", 500), ("client_id", 255), ("scope", 1000), ("mrn_system", 255)):
        op.add_column("fhir_integrations", sa.Column(name, sa.String(length), nullable=True))
    op.add_column("fhir_integrations", sa.Column("signing_algorithm", sa.String(8), nullable=True))
    op.create_table(
        "integration_keys",
        sa.Column("kid", sa.String(64), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("algorithm", sa.String(8), nullable=False),
        sa.Column("public_jwk", JSON, nullable=False),
        sa.Column("sealed_private_key", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_integration_keys_clinic_id_clinics"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_integration_keys")),
    )
    op.create_index("ix_integration_keys_clinic_id", "integration_keys", ["clinic_id"])


def downgrade() -> None:
    op.drop_index("ix_integration_keys_clinic_id", table_name="integration_keys")
    op.drop_table("integration_keys")
    for name in ("signing_algorithm", "mrn_system", "scope", "client_id", "token_url"):
        op.drop_column("fhir_integrations", name)
    op.drop_column("referrals", "declined_at")
    op.drop_index("ix_intakes_response_identifier", table_name="intakes")
    op.drop_column("intakes", "response_identifier")
    op.drop_column("intakes", "fhir_source")
