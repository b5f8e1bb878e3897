"""The clinic dashboard (/ui/dashboard): any logged-in user of the clinic."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.core.auth import Session
from services.core.db import utcnow
from services.web.dashboard import charts
from services.web.dashboard.service import URGENCIES, gather
from services.web.pages import current_user, page, redirect

router = APIRouter(include_in_schema=False)


@router.get("/ui/dashboard", response_class=HTMLResponse)
async def dashboard(request: Request, session: Session) -> Response:
    user = await current_user(request, session)
    if user is None:
        return redirect("/ui/login")
    board = await gather(session, user, utcnow())
    context = {"board": board, "charts": charts.charts(board), "urgencies": URGENCIES, "colours": charts.COLOURS,
               "duration": charts.duration, "due_window": charts.due_window}  # fmt: skip
    return page(request, "dashboard.html", context)
