"""What the physio UI says: flash messages from a fixed set (a link cannot put its own words in
the page's trusted message box), and audit-trail lines in words."""

from typing import Any

from services.referrals.schemas import TRANSITIONS, EventOut

URGENCY_WORDS = {"emergency": "emergency", "urgent": "urgent", "routine": "routine", "self_care": "self-care"}
# Each pathway as a physio would say it (SPEC §5).
PATHWAY_WORDS = {
    "emergency_department": "Emergency department now",
    "same_day_medical": "Doctor today",
    "urgent_medical": "Doctor within 24 hours",
    "medical_review": "Doctor's review within 5 days",
    "physiotherapy": "Physiotherapy",
    "self_management": "Self-management",
}
STATUS_WORDS = {status: status.replace("_", " ") for status in TRANSITIONS}

FLASH = {
    "claimed": "You have claimed this referral. It is now in review.",
    "moved": "Moved to {to}.",
    "urgency-set": "Urgency set to {to}.",
    "noted": "Note added.",
    "nothing": "Nothing to do.",
    "expired": "That form had expired. Please try again.",
    "logged-out": "You are logged out.",
    "bad-filters": "Those filters are not valid.",
    "taken": "Someone else got there first: another physio has claimed or is reviewing this referral.",
    "stale": "This referral changed while you were looking at it. Here it is as it is now; please check and try again.",
    "illegal": "That move is not possible now.",
    "urgency-invalid": "Give a reason for the change, and a pathway that fits the urgency.",
    "not-changeable": "This referral's urgency can no longer change: it is closed or declined.",
    "error": "That did not work. Please reload the page and try again.",
    # the admin console and the invitation page
    "password-set": "Your password is set. Log in with your email and new password.",
    "role-changed": "Role changed. The user's sessions have ended; their next login has the new role.",
    "user-disabled": "User disabled. Their sessions have ended.",
    "user-enabled": "User enabled.",
    "own-account": "You cannot disable, demote or reset your own account here.",
    "key-revoked": "Key revoked. Requests made with it are refused from now on.",
    "origins-saved": "Allowed origins saved.",
    "integration-saved": "FHIR integration saved.",
    "no-integration": "Save the FHIR integration first, then test it.",
    "export-retried": "The export is pending again and will be sent shortly.",
    "notifications-saved": "Notification settings saved.",
    "notification-retried": "The announcement is pending again and will be sent shortly.",
    "notification-not-dead": "Only an announcement that gave up can be retried; pending ones retry by themselves.",
    "not-dead": "Only a dead export can be retried; pending ones are retried by the worker.",
}
# The words a `{to}` in a message may take, by message.
_TO = {"moved": STATUS_WORDS, "urgency-set": URGENCY_WORDS}


def flash(code: str | None, to: str | None) -> str | None:
    """The message for a code from the query string; None for anything not in the fixed set."""
    text = FLASH.get(code or "")
    if text is None:
        return None
    if "{to}" in text:
        words = _TO[code or ""].get(to or "")
        return None if words is None else text.format(to=words)
    return text


def _setting(value: dict[str, Any]) -> str:
    return f"{URGENCY_WORDS.get(value['urgency'], value['urgency'])}, {PATHWAY_WORDS.get(value['pathway'], '?')}"


def event_words(event: EventOut) -> str:
    """One audit-trail line's what, in words (re-triage and urgency changes with from and to)."""
    detail = event.detail or {}
    if event.action == "retriaged" and detail:
        return (
            f"re-triaged under rules {detail['to']['ruleset_version']}: {_setting(detail['from'])} → "
            f"{_setting(detail['to'])}"
        )
    if event.action == "retriage_suggested" and detail:
        return f"new rules suggest {_setting(detail['suggested'])} (kept {_setting(detail['from'])})"
    if event.action == "urgency_changed" and detail:
        return f"changed the urgency: {_setting(detail['from'])} → {_setting(detail['to'])}"
    return event.action.replace("_", " ")


def last_escalation(events: list[EventOut]) -> str | None:
    """The newest re-triage that made the referral more urgent, in words."""
    for event in reversed(events):
        detail = event.detail or {}
        if event.action == "retriaged" and detail:
            before, after = detail["from"], detail["to"]
            if any(before[k] != after[k] for k in ("urgency", "pathway", "due_at")):
                return f"Made more urgent by new triage rules ({after['ruleset_version']}): {event_words(event)}."
    return None
