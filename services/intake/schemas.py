"""The intake body of SPEC §4 and what the intake endpoints answer."""

import re
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    EmailStr,
    Field,
    StrictBool,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from services.core.schemas import Name, PlainText, StrictModel
from services.triage.schemas import Answers, Pathway, TriageResult, Urgency, age_on

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


def _age_range(value: date, info: ValidationInfo) -> date:
    if info.context and info.context.get("stored"):
        return value  # checked when accepted; a stored intake does not expire
    age = age_on(value, datetime.now(UTC).date())
    if not 12 <= age <= 110:
        raise ValueError("the patient must be 12 to 110 years old")
    return value


# A new intake's birth date: the patient is 12 to 110 years old today.
PatientBirthDate = Annotated[
    date,
    BeforeValidator(_iso_date_only),
    AfterValidator(_age_range),
    Field(description="YYYY-MM-DD; the patient is 12 to 110 years old"),
]


class Identifier(StrictModel):
    """A patient identifier from an EHR: its system (a URI) and value."""

    system: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=255, pattern=r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
    ] = Field(description="The identifier system, a URI (e.g. an OID as urn:oid:..., or https://...)")
    value: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), PlainText]


Identifiers = Annotated[
    list[Identifier], Field(max_length=10, description="v2. Up to 10 identifiers of the patient in the EHR")
]


class Patient(StrictModel):
    given_name: Name
    family_name: Name
    birth_date: PatientBirthDate
    sex: Literal["female", "male", "other", "unknown"]
    email: EmailStr | None = None
    phone: Phone | None = None
    mrn: Mrn | None = Field(default=None, description="The clinic's own patient identifier")
    identifiers: Identifiers | None = None


class EvaluatePatient(StrictModel):
    """The patient of a dry run: any part may be left out; the birth date gives the age."""

    given_name: Name | None = None
    family_name: Name | None = None
    birth_date: PatientBirthDate | None = None
    sex: Literal["female", "male", "other", "unknown"] | None = None
    email: EmailStr | None = None
    phone: Phone | None = None
    mrn: Mrn | None = None
    identifiers: Identifiers | None = None


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


class EvaluateIn(Answers):
    """The intake body for a dry run: patient and consent may be left out; `patient.birth_date`
    alone gives the age."""

    patient: EvaluatePatient | None = None
    consent: Consent | None = None


class ReferralSummary(BaseModel):
    id: uuid.UUID
    status: str
    urgency: Urgency
    pathway: Pathway
    due_at: datetime
    triage: TriageResult


class IntakeCreated(BaseModel):
    id: uuid.UUID
    created_at: datetime
    referral: ReferralSummary


Channel = Literal["publishable", "secret", "user", "fhir"]


class ResponseSource(BaseModel):
    """What an EHR's QuestionnaireResponse said beyond its answers: kept as sent, served back at
    `GET /fhir/QuestionnaireResponse/{id}` and carried into the export."""

    identifier: dict[str, str] | None = Field(default=None, description="The response's identifier {system, value}")
    subject: dict[str, Any] | None = Field(default=None, description="A Reference to the EHR's Patient")
    author: dict[str, Any] | None = Field(default=None, description="A Reference to who recorded the answers")
    authored: str | None = Field(default=None, description="When the answers were given, as written")


class StoredIntake(IntakeIn):
    """An intake as accepted (strings trimmed), with its id and time."""

    id: uuid.UUID
    created_at: datetime
    submitted_via: Channel | None = Field(
        default=None,
        description="How it came: publishable (a public web form), secret (an EHR over REST), fhir "
        "(POST /fhir/QuestionnaireResponse) or user; null for intakes from before this was kept. "
        "Identifiers typed into a public form are never used to find the EHR's patient.",
    )
    fhir_source: ResponseSource | None = Field(
        default=None, description="Set for intakes that came as a QuestionnaireResponse"
    )


class IntakeRecord(StoredIntake):
    """A stored intake with its referral's status and triage result."""

    referral: ReferralSummary
