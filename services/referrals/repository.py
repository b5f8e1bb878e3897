"""Referral queries, always within one clinic."""

from typing import Any

from sqlalchemy import insert

from services.core.tenancy import ClinicScopedRepository
from services.referrals.models import Referral


class ReferralRepository(ClinicScopedRepository[Referral]):
    model = Referral

    async def insert(self, values: dict[str, Any]) -> None:
        # A Core insert: one round trip, no ORM identity-map work on the hot intake path.
        await self.session.execute(insert(Referral).values(clinic_id=self.clinic_id, **values))
