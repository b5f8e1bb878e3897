"""What the web pages need: the form's questions, cookie sessions and CSRF tokens."""

import hashlib
import hmac
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core import security
from services.core import service as core
from services.core.config import Settings
from services.core.db import utcnow
from services.core.errors import NotFound, ServiceError, Unauthorized
from services.core.service import Principal
from services.export import service as export
from services.referrals import service as referrals
from services.referrals.schemas import TRANSITIONS
from services.referrals.service import IllegalTransition, ReferralClaimed, StaleVersion

UI_SESSION = timedelta(hours=8)
# Each pathway as a physio would say it (SPEC §5).
PATHWAY_WORDS = {
    "emergency_department": "Emergency department now",
    "same_day_medical": "Doctor today",
    "urgent_medical": "Doctor within 24 hours",
    "medical_review": "Doctor's review within 5 days",
    "physiotherapy": "Physiotherapy",
    "self_management": "Self-management",
}
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"


@dataclass
class Question:
    id: str  # the HTML id: the linkId with dots as dashes
    name: str  # the linkId: the field's dotted name in the intake body
    text: str
    kind: str
    required: bool
    options: list[str] = field(default_factory=list)
    repeats: bool = False
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    shown_when: str | None = None  # the id of the question this one follows up
    shown_values: list[str] = field(default_factory=list)  # its answers that show this one


@dataclass
class Step:
    id: str
    title: str
    questions: list[Question]


def _shown_values(condition: dict[str, Any], items: dict[str, dict[str, Any]]) -> list[str]:
    """The answers of the controlling question that enable a follow-up (enableWhen = or !=)."""
    if "answerBoolean" in condition:
        answer = "true" if condition["answerBoolean"] else "false"
        options = ["true", "false"]
    else:
        answer = condition["answerCoding"]["code"]
        options = [o["valueCoding"]["code"] for o in items[condition["question"]].get("answerOption", [])]
    return [answer] if condition["operator"] == "=" else [o for o in options if o != answer]


def _question(item: dict[str, Any], items: dict[str, dict[str, Any]]) -> Question:
    bounds = {e["url"]: e.get("valueInteger", e.get("valueDecimal")) for e in item.get("extension", [])}
    condition = item.get("enableWhen", [None])[0]
    return Question(
        id=item["linkId"].replace(".", "-"),
        name=item["linkId"],
        text=item["text"],
        kind=item["type"],
        required=item.get("required", False),
        options=[o["valueCoding"]["code"] for o in item.get("answerOption", [])],
        repeats=item.get("repeats", False),
        minimum=bounds.get(MIN_VALUE),
        maximum=bounds.get(MAX_VALUE),
        max_length=item.get("maxLength"),
        shown_when=condition["question"].replace(".", "-") if condition else None,
        shown_values=_shown_values(condition, items) if condition else [],
    )


def form_steps() -> list[Step]:
    """The intake form in short steps, drawn from the same Questionnaire the FHIR API serves."""
    items = export.intake_questionnaire()["item"]
    groups = {g["linkId"]: g for g in items if g["type"] == "group"}
    # Every question by linkId; groups inside a section (identifiers an EHR fills in) are not
    # asked of the person.
    questions = {q["linkId"]: q for g in groups.values() for q in g["item"] if q["type"] != "group"}
    loose = [_question(i, questions) for i in items if i["type"] != "group"]

    def step(step_id: str, title: str, *sections: str) -> Step:
        asked = [item for name in sections for item in groups[name]["item"] if item["type"] != "group"]
        return Step(step_id, title, [_question(item, questions) for item in asked])

    steps = [
        step("you", "About you", "patient"),
        step("pain", "Your back pain", "pain", "function"),
        step("nerves", "Numbness and weakness", "neuro"),
        step("history", "Medical history", "history"),
        step("running", "Your running", "running", "self_report"),
        step("consent", "Check and send", "consent"),
    ]
    steps[-1].questions = loose + steps[-1].questions  # notes, then consent, last
    return steps


async def publishable_clinic(session: AsyncSession, settings: Settings, key: str) -> Principal:
    """The clinic behind a form's publishable key; a 404 for anything else."""
    try:
        principal = await core.authenticate(session, settings, key)
    except Unauthorized as exc:
        raise NotFound("no such form") from exc
    if principal.kind != "publishable":
        raise NotFound("no such form")
    return principal


async def log_in(session: AsyncSession, settings: Settings, email: str, password: str) -> str:
    """A session token for the UI cookie (a longer-lived access token)."""
    token = await core.login(session, settings, email, password)
    claims = security.read_token(settings.secret_key.get_secret_value(), token.access_token)
    assert claims is not None  # just issued
    return security.issue_token(
        settings.secret_key.get_secret_value(), claims.user_id, claims.clinic_id, utcnow(), UI_SESSION
    )


async def user_of(session: AsyncSession, settings: Settings, cookie: str | None) -> Principal | None:
    if not cookie:
        return None
    try:
        principal = await core.authenticate(session, settings, cookie)
    except Unauthorized:
        return None
    return principal if principal.kind == "user" else None


def csrf_token(settings: Settings, cookie: str) -> str:
    """Bound to the session: a form from another site cannot know it."""
    return hmac.new(
        settings.secret_key.get_secret_value().encode(), f"csrf:{cookie}".encode(), hashlib.sha256
    ).hexdigest()


def csrf_ok(settings: Settings, cookie: str | None, token: str | None) -> bool:
    return bool(cookie and token) and hmac.compare_digest(csrf_token(settings, cookie or ""), token or "")


def new_idempotency_key() -> str:
    return f"form-{uuid.uuid4()}"


async def act(
    session: AsyncSession, user: Principal, referral_id: uuid.UUID, action: str, *, to: str, version: str, note: str
) -> str:
    """A physio's button press on a referral page; returns what to tell them."""
    if action == "claim":
        await referrals.claim(session, user, referral_id)
        return "You have claimed this referral. It is now in review."
    if action == "transition":
        if to not in TRANSITIONS:
            raise IllegalTransition("unknown status")
        await referrals.transition(session, user, referral_id, to, note.strip() or None, f'"{version}"')  # type: ignore[arg-type]
        return f"Moved to {to.replace('_', ' ')}."
    if action == "note" and note.strip():
        await referrals.add_note(session, user, referral_id, note.strip())
        return "Note added."
    return "Nothing to do."


def in_words(error: ServiceError) -> str:
    """409/412 and friends, as a physio would want to hear them."""
    if isinstance(error, ReferralClaimed):
        return f"Someone else got there first: {error.detail}."
    if isinstance(error, StaleVersion):
        return (
            "This referral changed while you were looking at it. Here it is as it is now; please check and try again."
        )
    if isinstance(error, IllegalTransition):
        return f"That move is not possible now ({error.detail})."
    return str(error.detail)
