"""The admin console's notifications page: where emergency and urgent referrals are announced
(e-mail addresses, a signed webhook), the webhook's signing secret (shown once when made), and
the announcements that gave up, to retry. clinic_admin only, like every admin page."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from services.clinics import service as clinics
from services.core.auth import Session
from services.core.errors import ServiceError
from services.core.principal import Principal
from services.notifications import service as notifications
from services.notifications.schemas import ItemQuery, SettingsIn
from services.web.admin.access import admin_or_answer, admin_post, missing
from services.web.pages import page, redirect

router = APIRouter(include_in_schema=False)
Csrf = Annotated[str, Form(max_length=200)]
HERE = "/ui/admin/notifications"


async def _page(request: Request, session: Session, admin: Principal, status: int = 200, **extra: object) -> Response:
    current = await notifications.get_settings(session, admin.clinic_id)
    dead = await notifications.list_items(session, admin.clinic_id, ItemQuery(status="dead"))
    pending = await notifications.list_items(session, admin.clinic_id, ItemQuery(status="pending"))
    context = {"tab": "notifications", "current": current, "dead": dead, "pending": pending, **extra}
    return page(request, "admin_notifications.html", context, status)


@router.get(HERE, response_class=HTMLResponse)
async def notifications_page(request: Request, session: Session) -> Response:
    admin = await admin_or_answer(request, session)
    return admin if isinstance(admin, Response) else await _page(request, session, admin)


@router.post(HERE)
async def save(
    request: Request,
    session: Session,
    csrf: Csrf = "",
    emails: Annotated[str, Form(max_length=3000)] = "",
    webhook_url: Annotated[str, Form(max_length=600)] = "",
    enabled: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    admin = await admin_post(request, session, csrf, HERE)
    if isinstance(admin, Response):
        return admin
    addresses = [line.strip() for line in emails.replace(",", "\n").splitlines() if line.strip()]
    try:
        body = SettingsIn.model_validate(
            {"emails": addresses, "webhook_url": webhook_url.strip() or None, "enabled": enabled == "on"}
        )
        await notifications.put_settings(session, admin.clinic_id, body, request.app.state.settings)
    except ValidationError:
        error = "Check the e-mail addresses (at most 10) and the webhook URL (https://...)."
        return await _page(request, session, admin, 422, error=error)
    except ServiceError as exc:
        return await _page(request, session, admin, exc.status, error=str(exc).capitalize() + ".")
    await clinics.record_admin_event(session, admin, "notifications.changed", "on" if body.enabled else "off")
    return redirect(HERE, msg="notifications-saved")


@router.post(f"{HERE}/secret")
async def new_secret(request: Request, session: Session, csrf: Csrf = "") -> Response:
    """A new webhook signing secret, on this page only; the old one stops at once."""
    admin = await admin_post(request, session, csrf, HERE)
    if isinstance(admin, Response):
        return admin
    made = await notifications.rotate_secret(session, admin.clinic_id, request.app.state.settings)
    await clinics.record_admin_event(session, admin, "notifications.secret_rotated", "webhook")
    return await _page(request, session, admin, 201, secret=made.secret)


@router.post(f"{HERE}/{{item_id}}/retry")
async def retry(item_id: uuid.UUID, request: Request, session: Session, csrf: Csrf = "") -> Response:
    admin = await admin_post(request, session, csrf, HERE)
    if isinstance(admin, Response):
        return admin
    try:
        await notifications.retry(session, admin.clinic_id, item_id)
    except notifications.NotificationItemNotFound:
        return missing(request)
    except notifications.NotificationNotDead:
        return redirect(HERE, msg="notification-not-dead")
    await clinics.record_admin_event(session, admin, "notification.retried", str(item_id))
    return redirect(HERE, msg="notification-retried")
