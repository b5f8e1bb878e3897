"""Referral queries, always within one clinic."""

from sqlalchemy import insert

from services.core.tenancy import ClinicScopedRepository
from services.referrals.models import Referral


class ReferralRepository(ClinicScopedRepository[Referral]):
    model = Referral

    async def insert(self, referral: Referral) -> None:
        # A Core insert: one round trip, no ORM identity-map work on the hot intake path.
        values = {column.name: getattr(referral, column.name) for column in Referral.__table__.columns}  # type: ignore[attr-defined]
        await self.session.execute(insert(Referral).values(**{**values, "clinic_id": self.clinic_id}))
