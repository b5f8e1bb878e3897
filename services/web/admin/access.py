"""Who may use the admin console: the clinic admin logged in. Anyone else logged in gets 403;
nobody logged in goes to the login page."""

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.principal import Principal
from services.web.admin import service
from services.web.pages import current_user, form_ok, page, redirect


async def admin_or_answer(request: Request, session: AsyncSession) -> Principal | Response:
    """The clinic admin logged in, or the answer for anyone else."""
    user = await current_user(request, session)
    if user is None:
        return redirect("/ui/login")
    if not service.is_admin(user):
        text = "Only a clinic admin can use the admin console."
        return page(request, "notice.html", {"title": "Not allowed", "text": text}, 403)
    return user


async def admin_post(request: Request, session: AsyncSession, csrf: str, back: str) -> Principal | Response:
    """A form post of the console: its clinic admin, or the answer (403, the login page, or back
    to `back` when the form's CSRF token or origin is not ours)."""
    admin = await admin_or_answer(request, session)
    if isinstance(admin, Response) or form_ok(request, csrf):
        return admin
    return redirect(back, msg="expired")


def missing(request: Request) -> Response:
    text = "There is no such item in your clinic."
    return page(request, "notice.html", {"title": "Not found", "text": text}, 404)
