"""Service errors and their one rendering: RFC 9457 problem+json.

Business code raises a `ServiceError` subclass; the class carries its status,
so routers never pick status codes and every error path renders the same way.
"""

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("backstride.errors")

PROBLEM_JSON = "application/problem+json"


class ServiceError(Exception):
    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"
    slug: ClassVar[str] = "bad-request"
    # True when what the request wrote before failing must still be stored (a failed-login count).
    commit: ClassVar[bool] = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers = headers or {}
        self.errors = errors  # field errors ({loc, msg, type}), rendered like validation errors


class NotFound(ServiceError):
    status, title, slug = 404, "Not found", "not-found"


class Unauthorized(ServiceError):
    status, title, slug = 401, "Unauthorized", "unauthorized"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ServiceError):
    status, title, slug = 403, "Forbidden", "forbidden"


class Conflict(ServiceError):
    status, title, slug = 409, "Conflict", "conflict"


class Gone(ServiceError):
    status, title, slug = 410, "Gone", "gone"


class PreconditionFailed(ServiceError):
    status, title, slug = 412, "Precondition failed", "precondition-failed"


class PreconditionRequired(ServiceError):
    status, title, slug = 428, "Precondition required", "precondition-required"


class Unprocessable(ServiceError):
    status, title, slug = 422, "Unprocessable content", "unprocessable"


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[FieldError] | None = None


def problem_body(
    status: int, detail: str, instance: str, *, title: str | None = None, slug: str | None = None
) -> dict[str, Any]:
    return {
        "type": f"/problems/{slug}" if slug else "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": instance,
    }


FHIR_JSON = "application/fhir+json"
# OperationOutcome issue codes (http://hl7.org/fhir/issue-type) for our statuses.
_ISSUE_CODES = {400: "structure", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
                409: "conflict", 410: "deleted", 412: "conflict", 413: "too-long", 422: "invalid", 428: "required",
                429: "throttled", 503: "transient"}  # fmt: skip


def is_fhir(path: str) -> bool:
    return path == "/fhir" or path.startswith("/fhir/")


def operation_outcome(status: int, detail: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The FHIR form of an error: one issue per field error, else one for the whole request."""
    code = _ISSUE_CODES.get(status, "exception")
    issues = [
        {"severity": "error", "code": code, "diagnostics": e["msg"], "expression": [".".join(str(p) for p in e["loc"])]}
        for e in errors or []
    ] or [{"severity": "error", "code": code, "diagnostics": detail}]
    return {"resourceType": "OperationOutcome", "issue": issues}


def error_payload(
    path: str, status: int, detail: str, *, title: str | None = None, slug: str | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> tuple[dict[str, Any], str]:  # fmt: skip
    """(body, media type) of an error: OperationOutcome under /fhir, problem+json elsewhere."""
    if is_fhir(path):
        return operation_outcome(status, detail, errors), FHIR_JSON
    body = problem_body(status, detail, path, title=title, slug=slug)
    if errors is not None:
        body["errors"] = errors
    return body, PROBLEM_JSON


def problem_response(
    request: Request,
    status: int,
    detail: str,
    *,
    title: str | None = None,
    slug: str | None = None,
    headers: Mapping[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    body, media_type = error_payload(request.url.path, status, detail, title=title, slug=slug, errors=errors)
    return JSONResponse(body, status_code=status, headers=headers, media_type=media_type)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entry that documents problem answers in OpenAPI."""
    return {s: {"model": Problem, "description": HTTPStatus(s).phrase} for s in statuses}


def problems_in_openapi(document: dict[str, Any]) -> dict[str, Any]:
    """Declare every error response as application/problem+json, as they are sent.

    FastAPI documents `responses=` models (and its own 422) as application/json;
    contract tests compare the real content type with the document, so fix it here.
    """
    problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    outcome = {FHIR_JSON: {"schema": {"type": "object", "description": "A FHIR OperationOutcome"}}}
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            if "requestBody" in operation:
                # Any body can be undecodable (400), too large (413) or invalid (422); a JSON
                # body sent as another media type is 415 (core/middleware.py).
                kinds = operation["requestBody"].get("content", {})
                json_body = bool(kinds) and all(kind.endswith("json") for kind in kinds)
                for status in ("400", "413", "415", "422") if json_body else ("400", "413", "422"):
                    operation["responses"].setdefault(status, {"description": HTTPStatus(int(status)).phrase})
            for status, response in operation.get("responses", {}).items():
                if status[0] in "45":
                    response["content"] = outcome if is_fhir(path) else problem
                    if status == "422":
                        response["description"] = "Validation failed"
    schemas = document.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # `input` and `ctx` are dropped on purpose: they echo clinical values back and into logs.
    return [
        {"loc": [str(p) if not isinstance(p, int) else p for p in e.get("loc", ())], "msg": e["msg"], "type": e["type"]}
        for e in exc.errors()
    ]


# SQLSTATE classes that mean "the database is not there right now", not "the query is wrong":
# 08 connection exceptions, 57P01-03 shutdown / cannot connect now, 53 insufficient resources.
_UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03", "53")


def _unavailable(exc: DBAPIError) -> bool:
    if exc.connection_invalidated or isinstance(exc, (OperationalError, InterfaceError)):
        return True
    state = getattr(exc.orig, "sqlstate", None) or ""
    return state.startswith(_UNAVAILABLE_STATES) or isinstance(getattr(exc.orig, "__cause__", None), ConnectionError)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return problem_response(
            request, exc.status, exc.detail, title=exc.title, slug=exc.slug, headers=exc.headers, errors=exc.errors
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(
            request,
            422,
            "The request is not valid; see errors.",
            title="Validation failed",
            slug="validation",
            errors=_validation_errors(exc),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return problem_response(request, exc.status_code, detail, headers=exc.headers)

    async def _db_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", type(exc).__name__)
        return problem_response(
            request,
            503,
            "The database is unavailable; retry shortly.",
            slug="unavailable",
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(DBAPIError)
    async def _db_error(request: Request, exc: DBAPIError) -> JSONResponse:
        if _unavailable(exc):
            return await _db_down(request, exc)
        log.error("database error: %s", type(exc.orig).__name__)
        return problem_response(request, 500, "Internal error.", slug="internal")

    # Refused or reset while connecting: raised by the driver before SQLAlchemy can wrap it.
    app.add_exception_handler(ConnectionError, _db_down)
    app.add_exception_handler(TimeoutError, _db_down)
    # Every pooled connection busy for longer than the pool's timeout: the same answer, try again.
    app.add_exception_handler(PoolTimeout, _db_down)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Only the type: messages can carry request data.
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        return problem_response(request, 500, "Internal error.", slug="internal")
