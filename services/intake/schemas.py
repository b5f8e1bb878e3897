"""The intake body of SPEC §4 and what the intake endpoints answer."""

import re
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    EmailStr,
    Field,
    StrictBool,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from services.core.schemas import Name, Note2000, PlainText, StrictModel
from services.triage.schemas import Answers, TriageResult, Urgency

Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9 ().-]{3,32}$")]
Mrn = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), PlainText]


def _iso_date_only(value: object) -> object:
    # Pydantic would also take datetimes and Unix timestamps; the contract says YYYY-MM-DD.
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("birth_date is a date written YYYY-MM-DD")
    return value


# A date written YYYY-MM-DD, without the age range a new intake's birth date must fall in.
BirthDate = Annotated[date, BeforeValidator(_iso_date_only)]


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


class Patient(StrictModel):
    given_name: Name
    family_name: Name
    birth_date: Annotated[date, BeforeValidator(_iso_date_only)] = Field(
        description="YYYY-MM-DD; the patient is 12 to 110 years old"
    )
    sex: Literal["female", "male", "other", "unknown"]
    email: EmailStr | None = None
    phone: Phone | None = None
    mrn: Mrn | None = Field(default=None, description="The clinic's own patient identifier")

    @field_validator("birth_date")
    @classmethod
    def _age_range(cls, value: date, info: ValidationInfo) -> date:
        if info.context and info.context.get("stored"):
            return value  # checked when accepted; a stored intake does not expire
        age = age_on(value, datetime.now(UTC).date())
        if not 12 <= age <= 110:
            raise ValueError("the patient must be 12 to 110 years old")
        return value


class Consent(StrictModel):
    data_processing: StrictBool = Field(description="Must be true: the runner agrees to their data being processed")
    contact_ok: StrictBool | None = None

    @field_validator("data_processing")
    @classmethod
    def _must_consent(cls, value: bool) -> bool:
        if value is not True:
            raise ValueError("consent to data processing is required")
        return value


class IntakeIn(Answers):
    """A runner's answers, as the embedded form or an EHR integration sends them."""

    patient: Patient
    consent: Consent
    notes: Note2000 | None = None


class EvaluateIn(Answers):
    """The intake body for a dry run: patient and consent may be left out."""

    patient: Patient | None = None
    consent: Consent | None = None
    notes: Note2000 | None = None


class ReferralSummary(BaseModel):
    id: uuid.UUID
    status: str
    urgency: Urgency
    due_at: datetime
    triage: TriageResult


class IntakeCreated(BaseModel):
    id: uuid.UUID
    created_at: datetime
    referral: ReferralSummary


class StoredIntake(IntakeIn):
    """An intake as accepted (strings trimmed), with its id and time."""

    id: uuid.UUID
    created_at: datetime


class IntakeRecord(StoredIntake):
    """A stored intake with its referral's status and triage result."""

    referral: ReferralSummary
