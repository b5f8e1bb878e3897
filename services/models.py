"""Every table model, imported in one place for Alembic and the test suite."""

from services.accounts.models import AuthSession, LoginThrottle, User
from services.clinics.models import ApiKey, Clinic
from services.export.models import ExportItem, FhirIntegration
from services.intake.models import Intake
from services.notifications.models import NotificationItem, NotificationSettings
from services.referrals.models import Referral, ReferralEvent

__all__ = [
    "ApiKey",
    "AuthSession",
    "Clinic",
    "ExportItem",
    "FhirIntegration",
    "Intake",
    "LoginThrottle",
    "NotificationItem",
    "NotificationSettings",
    "Referral",
    "ReferralEvent",
    "User",
]
