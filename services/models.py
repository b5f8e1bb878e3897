"""Every table model, imported in one place for Alembic and the test suite."""

from services.accounts.models import AuthSession, Invitation, LoginThrottle, User
from services.clinics.models import AdminEvent, ApiKey, Clinic
from services.export.models import ExportItem, FhirIntegration
from services.intake.models import Intake
from services.notifications.models import NotificationItem, NotificationSettings
from services.referrals.models import Referral, ReferralEvent

__all__ = [
    "AdminEvent",
    "ApiKey",
    "AuthSession",
    "Clinic",
    "ExportItem",
    "FhirIntegration",
    "Intake",
    "Invitation",
    "LoginThrottle",
    "NotificationItem",
    "NotificationSettings",
    "Referral",
    "ReferralEvent",
    "User",
]
