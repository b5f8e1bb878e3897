"""The admin console's page logic: it calls the accounts, clinics and export services, puts each
change on the clinic's admin trail, and turns answers into what the pages show."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.accounts import service as accounts
from services.accounts.schemas import Role
from services.clinics import service as clinics
from services.clinics.schemas import ClinicOut, KeyCreated
from services.core import mail
from services.core.config import Settings
from services.core.errors import Unprocessable
from services.core.principal import Principal
from services.export import service as export
from services.export.schemas import IntegrationIn, IntegrationOut

Purpose = Literal["invite", "reset"]
ROLES: dict[str, str] = {"physio": "Physio", "clinic_admin": "Clinic admin"}
MAX_ORIGINS = 50


def is_admin(user: Principal | None) -> bool:
    return user is not None and user.kind == "user" and "clinic:admin" in user.scopes


def role_of(text: str) -> Role:
    if text == "physio":
        return "physio"
    if text == "clinic_admin":
        return "clinic_admin"
    raise Unprocessable("choose a role: physio or clinic admin")


@dataclass(frozen=True)
class LinkSent:
    """What the page says after an invitation or reset: the link itself only when no e-mail went
    out (shown this once, so the admin can pass it on)."""

    email: str
    purpose: Purpose
    expires_at: datetime
    link: str | None = None
    mail_problem: str | None = None


def _mail_text(clinic: str, admin: str, link: str, expires: datetime, purpose: str, role: str) -> tuple[str, str]:
    until = expires.strftime("%d %b %Y %H:%M UTC")
    if purpose == "invite":
        subject = f"You are invited to {clinic} on Backstride"
        opening = f"{admin} has invited you to {clinic} on Backstride, as {ROLES[role].lower()}."
    else:
        subject = f"Set a new Backstride password for {clinic}"
        opening = f"{admin} has reset your Backstride password at {clinic}; your old password no longer works."
    text = (f"{opening}\n\nSet your password here:\n{link}\n\nThe link works once, until {until}. If you did not "
            "expect this, you can ignore this message.\n")  # fmt: skip
    return subject, text


async def _send_link(
    session: AsyncSession, settings: Settings, admin: Principal, found: accounts.Link, purpose: Purpose
) -> LinkSent:
    """Commit first: the link must not arrive for an invitation that was never stored. Then mail
    it; when that cannot be done, hand the link to the admin instead."""
    clinic = await clinics.get_clinic(session, admin.clinic_id)
    await session.commit()
    link = f"{settings.public_base_url}/ui/invite/{found.token}"
    subject, text = _mail_text(clinic.name, admin.label, link, found.expires_at, purpose, found.user.role)
    sent = LinkSent(found.user.email, purpose, found.expires_at)
    try:
        await mail.send(settings, mail.Mail(to=found.user.email, subject=subject, text=text))
    except mail.MailNotConfigured:
        return LinkSent(**{**sent.__dict__, "link": link, "mail_problem": "no mail server is configured"})
    except mail.MailFailed as exc:
        return LinkSent(**{**sent.__dict__, "link": link, "mail_problem": f"sending failed ({exc})"})
    return sent


async def invite(session: AsyncSession, settings: Settings, admin: Principal, email: str, role: str) -> LinkSent:
    found = await accounts.invite(session, admin.clinic_id, email, role_of(role))
    await clinics.record_admin_event(session, admin, "user.invited", f"{found.user.email} as {ROLES[found.user.role]}")
    return await _send_link(session, settings, admin, found, "invite")


async def reset(session: AsyncSession, settings: Settings, admin: Principal, user_id: uuid.UUID) -> LinkSent:
    found = await accounts.reset(session, admin, user_id)
    await clinics.record_admin_event(session, admin, "user.reset", found.user.email)
    return await _send_link(session, settings, admin, found, "reset")


async def change_role(session: AsyncSession, admin: Principal, user_id: uuid.UUID, role: str) -> None:
    user = await accounts.change_role(session, admin, user_id, role_of(role))
    await clinics.record_admin_event(session, admin, "user.role_changed", f"{user.email} to {ROLES[user.role]}")


async def set_disabled(session: AsyncSession, admin: Principal, user_id: uuid.UUID, disabled: bool) -> None:
    user = await accounts.disable(session, admin, user_id, disabled)
    await clinics.record_admin_event(session, admin, "user.disabled" if disabled else "user.enabled", user.email)


async def create_key(session: AsyncSession, admin: Principal, kind: str) -> KeyCreated:
    if kind not in ("secret", "publishable"):
        raise Unprocessable("choose a kind of key: secret or publishable")
    created = await clinics.create_key(session, admin.clinic_id, "secret" if kind == "secret" else "publishable")
    await clinics.record_admin_event(session, admin, "key.created", f"{created.kind} key {created.prefix}")
    return created


async def revoke_key(session: AsyncSession, admin: Principal, key_id: uuid.UUID) -> None:
    revoked = await clinics.revoke_key(session, admin.clinic_id, key_id)
    await clinics.record_admin_event(session, admin, "key.revoked", revoked)


def origins_of(text: str) -> list[str]:
    """One origin a line (blank lines ignored)."""
    origins = [line.strip() for line in text.splitlines() if line.strip()]
    if len(origins) > MAX_ORIGINS:
        raise Unprocessable(f"at most {MAX_ORIGINS} origins")
    return origins


async def set_origins(session: AsyncSession, admin: Principal, text: str) -> ClinicOut:
    clinic = await clinics.set_allowed_origins(session, admin.clinic_id, origins_of(text))
    await clinics.record_admin_event(session, admin, "origins.changed", ", ".join(clinic.allowed_origins) or "none")
    return clinic


async def integration(session: AsyncSession, settings: Settings, admin: Principal) -> IntegrationOut | None:
    try:
        return await export.get_integration(session, admin.clinic_id, settings.public_base_url)
    except export.IntegrationNotConfigured:
        return None


# The form's fields in words, for validation errors.
FIELD_WORDS = {"base_url": "FHIR base URL", "type": "Authentication", "token": "Bearer token", "enabled": "Enabled",
               "token_url": "Token URL", "client_id": "Client id", "scope": "Scope", "algorithm": "Signing algorithm",
               "mrn_system": "MRN system"}  # fmt: skip


def validation_words(exc: ValidationError) -> list[str]:
    """Each error as "<field in words>: <what is wrong>", never echoing the value typed."""
    said = []
    for error in exc.errors():
        field = next((FIELD_WORDS[p] for p in reversed(error["loc"]) if isinstance(p, str) and p in FIELD_WORDS), "")
        message = str(error["msg"]).removeprefix("Value error, ")
        said.append(f"{field}: {message}" if field else message)
    return said


async def save_integration(
    session: AsyncSession, settings: Settings, admin: Principal, form: dict[str, str]
) -> IntegrationOut:
    """The form as PUT /v1/integrations/fhir takes it; an empty token field keeps the stored token."""
    kind = form.get("auth_type", "none")
    auth: dict[str, Any] = {"type": kind}
    if kind == "bearer":
        auth["token"] = form.get("token", "").strip() or await export.stored_token(session, admin.clinic_id)
    if kind == "smart_backend":
        auth |= {name: form.get(name, "").strip() or None for name in ("token_url", "client_id", "scope", "algorithm")}
    body = IntegrationIn.model_validate(
        {"base_url": form.get("base_url", "").strip(), "auth": auth, "enabled": form.get("enabled") == "on",
         "mrn_system": form.get("mrn_system", "").strip() or None}
    )  # fmt: skip
    saved = await export.put_integration(session, admin.clinic_id, body, settings)
    await clinics.record_admin_event(session, admin, "integration.changed", export.integration_summary(saved))
    return saved


async def retry_export(session: AsyncSession, admin: Principal, export_id: uuid.UUID) -> None:
    await export.retry(session, admin.clinic_id, export_id)
    await clinics.record_admin_event(session, admin, "export.retried", str(export_id))


def snippet(settings: Settings, publishable_key: str) -> str:
    return f'<script src="{settings.public_base_url}/embed.js" data-key="{publishable_key}"></script>'
