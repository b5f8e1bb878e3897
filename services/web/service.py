"""What the web pages need: the form's questions, cookie sessions and CSRF tokens."""

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from services.accounts import service as accounts
from services.core.auth import authenticate
from services.core.config import Settings
from services.core.errors import NotFound, ServiceError, Unauthorized
from services.core.principal import Principal
from services.export import service as export
from services.referrals import service as referrals
from services.referrals.schemas import TRANSITIONS, EventOut, UrgencyIn
from services.referrals.service import IllegalTransition, ReferralClaimed, StaleVersion
from services.referrals.urgency import PathwayNotOfUrgency, UrgencyNotChangeable
from services.triage import service as triage

EMERGENCY_ANSWER = "urn:backstride:fhir:StructureDefinition/emergency-answer"
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"


@dataclass
class Question:
    id: str  # the HTML id: the linkId with dots as dashes
    name: str  # the linkId: the field's dotted name in the intake body
    text: str
    kind: str
    required: bool
    options: list[tuple[str, str]] = field(default_factory=list)  # (code, words)
    repeats: bool = False
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    shown_when: str | None = None  # the id of the question this one follows up
    shown_values: list[str] = field(default_factory=list)  # its answers that show this one
    emergency_if: str | None = None  # "true": this answer alone means emergency care (from the ruleset)


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
        options=[(o["valueCoding"]["code"], o["valueCoding"]["display"]) for o in item.get("answerOption", [])],
        repeats=item.get("repeats", False),
        minimum=bounds.get(MIN_VALUE),
        maximum=bounds.get(MAX_VALUE),
        max_length=item.get("maxLength"),
        shown_when=condition["question"].replace(".", "-") if condition else None,
        shown_values=_shown_values(condition, items) if condition else [],
        emergency_if=next(
            (str(e["valueBoolean"]).lower() for e in item.get("extension", []) if e["url"] == EMERGENCY_ANSWER),
            None,
        ),
    )


# The form's steps. Warning signs come right after "About you", so an answer that means
# emergency care is met, and warned about, before anything else is asked.
STEPS: list[tuple[str, str, list[str]]] = [
    ("you", "About you", ["patient"]),
    ("nerves", "Warning signs: legs, bladder and bowel", [
        "neuro.saddle_numbness", "neuro.bladder_or_bowel_change", "neuro.sexual_function_change",
        "neuro.walking_difficulty", "neuro.leg_weakness", "neuro.weakness_progressing",
        "neuro.numbness_or_tingling", "neuro.numbness_side", "pain.radiates_to_leg", "pain.leg_pain_side",
    ]),
    ("health", "Warning signs: your health", [
        "history.fever", "history.fever_or_unwell", "history.abdominal_pain_or_faintness", "pain.night_pain",
        "pain.hurts_to_hop_or_bear_weight", "history.recent_trauma", "history.recent_trauma_kind",
        "history.unexplained_weight_loss", "history.iv_drug_use", "history.recent_infection_or_procedure",
    ]),
    ("pain", "Your back pain", ["pain", "function"]),
    ("history", "Medical history", ["history"]),
    ("running", "Your running", ["running", "self_report"]),
    ("consent", "Check and send", ["notes", "consent"]),
]  # fmt: skip


def form_steps() -> list[Step]:
    """The intake form in short steps, drawn from the same Questionnaire the FHIR API serves.
    A question goes to the first step that names it, or else its section."""
    items = export.intake_questionnaire()["item"]
    # Every question by linkId; groups inside a section (identifiers an EHR fills in) are not
    # asked of the person.
    questions = [q for i in items for q in (i["item"] if i["type"] == "group" else [i]) if q["type"] != "group"]
    by_link = {q["linkId"]: q for q in questions}
    placed: list[list[tuple[int, int, dict[str, Any]]]] = [[] for _ in STEPS]
    for order, question in enumerate(questions):
        link_id = question["linkId"]
        section = link_id.split(".")[0]
        index, names = next((n, names) for n, (_, _, names) in enumerate(STEPS) if link_id in names or section in names)
        # In the order the step names them: questions by name first, then whole sections.
        rank = names.index(link_id) if link_id in names else len(names) + names.index(section)
        placed[index].append((rank, order, question))
    return [
        Step(step_id, title, [_question(q, by_link) for _, _, q in sorted(placed[n], key=lambda p: p[:2])])
        for n, (step_id, title, _) in enumerate(STEPS)
    ]


def early_alert() -> str:
    """What the form says the moment an answer means emergency care: the ruleset's own words."""
    return triage.current_ruleset().pathway_advice["emergency_department"]


async def publishable_clinic(session: AsyncSession, settings: Settings, key: str) -> Principal:
    """The clinic behind a form's publishable key; a 404 for anything else."""
    try:
        principal = await authenticate(session, settings, key)
    except Unauthorized as exc:
        raise NotFound("no such form") from exc
    if principal.kind != "publishable":
        raise NotFound("no such form")
    return principal


async def log_in(session: AsyncSession, settings: Settings, email: str, password: str, address: str) -> str:
    """The UI cookie's token: it names a server-side session, which logging out ends."""
    return await accounts.ui_session(session, settings, email, password, address)


async def log_out(session: AsyncSession, settings: Settings, cookie: str | None) -> None:
    if cookie:
        await accounts.logout(session, settings, cookie)


async def user_of(session: AsyncSession, settings: Settings, cookie: str | None) -> Principal | None:
    if not cookie:
        return None
    try:
        principal = await authenticate(session, settings, cookie)
    except Unauthorized:
        return None
    return principal if principal.kind == "user" else None


def csrf_token(settings: Settings, cookie: str) -> str:
    """Bound to the session (or, on the login page, to its own cookie): a form from another site
    cannot know it."""
    return hmac.new(
        settings.secret_key.get_secret_value().encode(), f"csrf:{cookie}".encode(), hashlib.sha256
    ).hexdigest()


def new_login_cookie() -> str:
    """The login page's own random cookie, which its CSRF token is bound to (login CSRF)."""
    return secrets.token_urlsafe(24)


def same_origin(origin: str | None, referer: str | None, own: str) -> bool:
    """A UI POST comes from our own pages: Origin (or, without it, Referer) names this origin.
    Neither sent is allowed (the CSRF token still has to match)."""
    if origin is not None:
        return origin.rstrip("/").lower() == own
    if referer:
        parts = urlsplit(referer)
        return f"{parts.scheme}://{parts.netloc}".lower() == own
    return True


def csrf_ok(settings: Settings, cookie: str | None, token: str | None) -> bool:
    return bool(cookie and token) and hmac.compare_digest(csrf_token(settings, cookie or ""), token or "")


def new_idempotency_key() -> str:
    return f"form-{uuid.uuid4()}"


async def act(
    session: AsyncSession,
    user: Principal,
    referral_id: uuid.UUID,
    action: str,
    *,
    to: str,
    version: str,
    note: str,
    pathway: str = "",
) -> dict[str, str]:
    """A physio's button press on a referral page; returns the flash message's code (and its `to`)."""
    if action == "claim":
        await referrals.claim(session, user, referral_id)
        return {"msg": "claimed"}
    if action == "transition":
        if to not in TRANSITIONS:
            raise IllegalTransition("unknown status")
        await referrals.transition(session, user, referral_id, to, note.strip() or None, f'"{version}"')  # type: ignore[arg-type]
        return {"msg": "moved", "to": to}
    if action == "urgency":
        body = UrgencyIn.model_validate({"urgency": to, "pathway": pathway or None, "reason": note.strip() or ""})
        await referrals.change_urgency(session, user, referral_id, body, f'"{version}"')
        return {"msg": "urgency-set", "to": to}
    if action == "note" and note.strip():
        await referrals.add_note(session, user, referral_id, note.strip())
        return {"msg": "noted"}
    return {"msg": "nothing"}


def open_suggestion(events: list[EventOut]) -> dict[str, Any] | None:
    """The newest re-triage suggestion no person has acted on since (by changing the urgency)."""
    for event in reversed(events):
        if event.action == "urgency_changed":
            return None
        if event.action == "retriage_suggested" and event.detail:
            suggested: dict[str, Any] = event.detail["suggested"]
            return suggested
    return None


def in_words(error: ServiceError) -> str:
    """409/412 and friends as a flash message's code."""
    if isinstance(error, ReferralClaimed):
        return "taken"
    if isinstance(error, StaleVersion):
        return "stale"
    if isinstance(error, IllegalTransition):
        return "illegal"
    if isinstance(error, UrgencyNotChangeable):
        return "not-changeable"
    if isinstance(error, PathwayNotOfUrgency):
        return "urgency-invalid"
    return "error"
