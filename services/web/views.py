"""What the queue and referral pages show, built from the domains' services: rows with the
patient and a one-line picture, counts, due times in words, the answers as the form asked them."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.principal import Principal
from services.intake import service as intake
from services.intake.schemas import StoredIntake
from services.referrals import service as referrals
from services.referrals.schemas import QueueQuery, ReferralOut, ReferralPage
from services.triage.schemas import TriageResult
from services.web import service, summary

ALERT_URGENCIES = ("emergency", "urgent")  # announced when they arrive


# The urgency, pathway and triage reasons are the referral's own and still shown with this.
UNREADABLE = "The answers could not be read (the error is logged for your administrator)."


@dataclass(frozen=True)
class Row:
    r: ReferralOut
    name: str  # the patient's, or "Erased" or "Unreadable": the link to the referral
    age: int | None
    line: str
    due: str  # "due in 3 h 20 min", "overdue by 2 h", or when it was due


@dataclass(frozen=True)
class Queue:
    page: ReferralPage
    rows: list[Row]
    counts: dict[str, dict[str, int]]  # urgency -> status -> open referrals
    waiting: list[ReferralOut]  # emergency and urgent referrals no one has claimed (on this page)


def span(seconds: float) -> str:
    minutes = int(abs(seconds) // 60)
    if minutes < 60:
        return f"{max(minutes, 1)} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"


def due_words(r: ReferralOut, now: datetime) -> str:
    if r.status not in ("new", "in_review"):
        return f"was due {r.due_at.strftime('%d %b %H:%M')}"
    left = (r.due_at - now).total_seconds()
    return f"overdue by {span(left)}" if left < 0 else f"due in {span(left)}"


async def queue(session: AsyncSession, user: Principal, query: QueueQuery, now: datetime) -> Queue:
    page = await referrals.queue(session, user, query)
    by_id = await intake.shown_by_ids(session, user.clinic_id, [r.intake_id for r in page.items])
    rows = []
    for r in page.items:
        answers = by_id.get(r.intake_id)
        triage = r.triage if isinstance(r.triage, TriageResult) else None
        if answers is None:  # erased: nothing left to show
            rows.append(Row(r, "Erased", None, "Patient data erased.", due_words(r, now)))
            continue
        if isinstance(answers, intake.Unreadable):
            rows.append(Row(r, "Unreadable", None, UNREADABLE, due_words(r, now)))
            continue
        name = f"{answers.patient.given_name} {answers.patient.family_name}"
        rows.append(Row(r, name, summary.age(answers), summary.one_line(answers, triage), due_words(r, now)))
    # Whatever the filters, the emergency and urgent referrals no one has claimed (the most
    # urgent and oldest first): these are announced, and bannered until claimed.
    unclaimed = QueueQuery.model_validate({"status": ["new"], "urgency": list(ALERT_URGENCIES), "limit": 20})
    waiting = (await referrals.queue(session, user, unclaimed)).items
    return Queue(page, rows, await referrals.open_counts(session, user.clinic_id), waiting)


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str


@dataclass(frozen=True)
class Section:
    title: str
    answers: list[Answer]


def _value(data: dict[str, Any], dotted: str) -> Any:
    value: Any = data
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _words(value: Any, options: dict[str, str], required: bool) -> str:
    if value is None:
        # A question the form requires but this intake lacks was not asked (a v1 client): unknown.
        return "Not asked" if required else "Not given"
    if value == []:
        return "None"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(options.get(str(v), str(v).replace("_", " ")) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return options.get(str(value), str(value))


def answers_as_asked(answers: StoredIntake) -> list[Section]:
    """Every question in the form's order and words (from the Questionnaire), with its answer."""
    data = answers.model_dump(mode="json")
    steps = service.form_steps()
    names = {q.id: q.name for step in steps for q in step.questions}
    sections = []
    for step in steps:
        shown = [
            Answer(q.text, _words(_value(data, q.name), dict(q.options), q.required))
            for q in step.questions
            if q.shown_when is None or _as_option(_value(data, names[q.shown_when])) in q.shown_values
        ]  # a follow-up only where the form asked it
        if shown:
            sections.append(Section(step.title, shown))
    return sections


def _as_option(value: Any) -> str:
    """An answer as the form's enableWhen compares it: "true"/"false", or the code."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


async def referral_picture(session: AsyncSession, clinic_id: uuid.UUID, r: ReferralOut) -> dict[str, Any]:
    """The referral page's clinical part: summary sentences, questions not asked, the answers."""
    answers = await intake.shown(session, clinic_id, r.intake_id)
    if isinstance(answers, intake.Unreadable):
        return {"intake": None, "unreadable": UNREADABLE, "age": None, "summary": [], "not_asked": [], "sections": []}
    return {
        "intake": answers,
        "age": summary.age(answers),
        "summary": summary.sentences(answers),
        "not_asked": summary.not_asked(answers),
        "sections": answers_as_asked(answers),
    }
