"""Metrics (Prometheus), request ids and JSON logs.

Logs never carry clinical data: messages name ids, types and counts only, request
bodies are never logged, and URLs hold no patient data by design (ids only).
"""

import contextvars
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter("backstride_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "backstride_http_request_duration_seconds", "HTTP request latency", ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)  # fmt: skip
INTAKES = Counter("backstride_intakes_total", "Intakes accepted, by triage urgency", ["urgency"])
EXPORTS = Counter("backstride_export_attempts_total", "Export delivery attempts, by outcome", ["outcome"])
EXPORT_QUEUE = Gauge("backstride_export_items", "Export items, by status", ["status"])
EXPORT_LAG = Gauge("backstride_export_lag_seconds", "Age of the oldest due, undelivered export")

CLIENT_CLOSED = 499

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

ScrapeHook = Callable[[AsyncSession], Awaitable[None]]
_scrape_hooks: list[ScrapeHook] = []


def on_scrape(hook: ScrapeHook) -> ScrapeHook:
    """Register a coroutine that refreshes gauges from the database before /metrics answers."""
    if hook not in _scrape_hooks:
        _scrape_hooks.append(hook)
    return hook


async def scrape(session: AsyncSession) -> tuple[bytes, str]:
    for hook in _scrape_hooks:
        await hook(session)
    return generate_latest(), CONTENT_TYPE_LATEST


class RequestContext:
    """Gives every request an id (a sane incoming X-Request-ID, else a new one), echoes it,
    puts it on log lines, and counts and times the request by route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id.set(rid)
        started, status, client_gone = time.perf_counter(), 0, False

        async def tagged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", rid.encode())]}
            await send(message)

        async def watched() -> Message:
            nonlocal client_gone
            message = await receive()
            client_gone = client_gone or message["type"] == "http.disconnect"
            return message

        try:
            await self.app(scope, watched, tagged)
        finally:
            # Nothing sent: 499 (nginx's "client closed request") when the client hung up first, so
            # monitoring does not count hang-ups as server errors; otherwise the app failed (500).
            ended = status or (CLIENT_CLOSED if client_gone else 500)
            route = getattr(scope.get("route"), "path", "unmatched")
            REQUESTS.labels(scope["method"], route, str(ended)).inc()
            LATENCY.labels(scope["method"], route).observe(time.perf_counter() - started)
            request_id.reset(token)


# Libraries that log SQL with its parameters (clinical data) when set to DEBUG: never below WARNING.
DATA_LOGGERS = ("aiosqlite", "asyncpg", "sqlalchemy.engine", "sqlalchemy.pool")


def silence_data_loggers() -> None:
    for name in DATA_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


class HideLinkTokens(logging.Filter):
    """Access log lines show a one-time link (/ui/invite/<token>) without its token: whoever
    reads the logs could otherwise set the invitee's password first."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                "/ui/invite/..." if isinstance(a, str) and a.startswith("/ui/invite/") else a for a in record.args
            )
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id.get(),
        }
        if record.exc_info:
            # The exception's type and where it happened; not its message, which can quote data.
            entry["exception"] = record.exc_info[0].__name__ if record.exc_info[0] else None
        return json.dumps(entry)


def log_config(level: str) -> dict[str, Any]:
    """logging.config.dictConfig for the API (also given to uvicorn) and the worker."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "filters": {"link_tokens": {"()": HideLinkTokens}},
        "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}},
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            **{name: {"level": "WARNING"} for name in DATA_LOGGERS},
            "uvicorn": {"handlers": ["stdout"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": ["stdout"], "level": level, "propagate": False, "filters": ["link_tokens"]},
            "uvicorn.error": {"handlers": ["stdout"], "level": level, "propagate": False},
        },
    }
