"""Every table model, imported in one place for Alembic and the test suite."""

from services.core.models import ApiKey, Clinic, User
from services.export.models import ExportItem, FhirIntegration
from services.intake.models import Intake
from services.referrals.models import Referral, ReferralEvent

__all__ = ["ApiKey", "Clinic", "ExportItem", "FhirIntegration", "Intake", "Referral", "ReferralEvent", "User"]
