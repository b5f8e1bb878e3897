"""Data-rights shapes: how a patient is named, and what an export or an erasure answers."""

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, model_validator
from pydantic.config import JsonDict
from pydantic.json_schema import SkipJsonSchema

from services.core.schemas import Name, PlainText, StrictModel
from services.export.schemas import ExportItemOut
from services.intake.schemas import BirthDate, Mrn, Patient, StoredIntake
from services.referrals.schemas import EventOut, ReferralOut

NAME_FIELDS = ("given_name", "family_name", "birth_date")
# In the document too, so clients see that exactly one way is given (names: all three together).
ONE_WAY: JsonDict = {
    "oneOf": [
        {"required": ["referral_id"]},
        {"required": ["mrn"]},
        {"required": ["email"]},
        {"required": ["given_name", "family_name", "birth_date"]},
    ]
}


class PatientMatch(StrictModel):
    """Exactly one way of looking for the patient: `referral_id`, `mrn`, `email`, or `given_name`,
    `family_name` and `birth_date` together. Only the caller's clinic is searched."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=ONE_WAY)

    # SkipJsonSchema: none of these may be null; leaving one out is how it is not given.
    referral_id: uuid.UUID | SkipJsonSchema[None] = Field(
        default=None, description="A referral: its own intake, and nothing else"
    )
    mrn: Mrn | SkipJsonSchema[None] = Field(
        default=None,
        description="The clinic's patient identifier (exact); matches only intakes from the clinic's EHR "
        "(secret key, FHIR) or staff, never one typed into the public form",
    )
    email: Annotated[EmailStr, PlainText] | SkipJsonSchema[None] = Field(default=None, description="Case-insensitive")
    given_name: Name | SkipJsonSchema[None] = Field(default=None, description="Case-insensitive")
    family_name: Name | SkipJsonSchema[None] = Field(default=None, description="Case-insensitive")
    birth_date: BirthDate | SkipJsonSchema[None] = Field(default=None, description="YYYY-MM-DD")

    @model_validator(mode="after")
    def _one_way(self) -> "PatientMatch":
        given = self.model_fields_set & {"referral_id", "mrn", "email", *NAME_FIELDS}
        if any(getattr(self, name) is None for name in given):
            raise ValueError("leave out what you do not give; null is not a value here")
        names = given & set(NAME_FIELDS)
        if names and names != set(NAME_FIELDS):
            raise ValueError("given_name, family_name and birth_date are given together")
        ways = len(given - set(NAME_FIELDS)) + (1 if names else 0)
        if ways != 1:
            raise ValueError("name the patient exactly one way: referral_id, mrn, email, or name and birth date")
        return self


Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), PlainText]
Channel = Literal["publishable", "secret", "user", "fhir", "unknown"]


class Candidate(BaseModel):
    intake_id: uuid.UUID
    referral_id: uuid.UUID
    created_at: datetime
    submitted_via: Channel = Field(
        description="publishable: the public web form (anyone can type anything there); secret: the clinic's "
        "EHR over REST; fhir: over FHIR; user: staff; unknown: before this was recorded"
    )
    matched: list[Literal["referral_id", "mrn", "email", "name_and_birth_date"]]
    given_name: str
    family_name: str
    birth_date: date


class CandidateList(BaseModel):
    items: list[Candidate] = Field(description="Oldest first; a person decides which are the patient's")
    next_cursor: None = None


class RecordsIn(StrictModel):
    """The intakes chosen from a search (`intake_ids`), or one referral's own intake (`referral_id`)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"oneOf": [{"required": ["intake_ids"]},
                                                                          {"required": ["referral_id"]}]})  # fmt: skip

    intake_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=100)] | SkipJsonSchema[None] = Field(
        default=None, description="Intakes of this clinic, as POST /v1/patient-data/search listed them"
    )
    referral_id: uuid.UUID | SkipJsonSchema[None] = Field(default=None, description="A referral: its own intake only")

    @model_validator(mode="after")
    def _one_way(self) -> "RecordsIn":
        if (self.intake_ids is None) == (self.referral_id is None):
            raise ValueError("give intake_ids (from a search) or a referral_id, not both")
        if self.intake_ids is not None and len(set(self.intake_ids)) != len(self.intake_ids):
            raise ValueError("each intake id once")
        return self


class ErasureIn(RecordsIn):
    """The intakes to erase, chosen as for an export, and why their data is erased."""

    reason: Reason = Field(
        description="Why, for the audit trail (e.g. the request's reference); no patient details here"
    )


class PatientRecord(BaseModel):
    intake: StoredIntake = Field(description="The answers as accepted")
    referral: ReferralOut
    events: list[EventOut] = Field(description="The referral's whole audit trail, oldest first")
    exports: list[ExportItemOut] = Field(description="Its deliveries to the clinic's FHIR server")


class PatientExport(BaseModel):
    patient: Patient = Field(description="The patient as the latest of the chosen intakes gave them")
    records: list[PatientRecord] = Field(description="The chosen intakes, oldest first")
    exported_at: datetime


class ErasureOut(BaseModel):
    erased_at: datetime
    erased_referral_ids: list[uuid.UUID] = Field(description="Referrals whose patient data this request erased")
    already_erased_referral_ids: list[uuid.UUID] = Field(
        description="A referral named by `referral_id` that an earlier request erased"
    )
    not_found_intake_ids: list[uuid.UUID] = Field(
        description="Intake ids given that this clinic does not hold, or whose data was already erased"
    )
    intakes_erased: int
    notes_removed: int = Field(description="Notes removed from the audit trails")
    exports_stopped: int = Field(description="Pending deliveries to the clinic's FHIR server that will not be sent")
    exports_in_flight: int = Field(
        description="Deliveries a worker was sending as the erasure happened: they may reach the clinic's FHIR "
        "server (see their status in GET /v1/exports); any later attempt ends dead as erased"
    )
