"""ASGI middleware: request body size and encoding, security headers."""

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.core.errors import error_payload

FORMS = (b"application/x-www-form-urlencoded", b"multipart/form-data")
FORM_ENDPOINTS = ("/v1/auth/token",)  # OAuth's password grant is a form


def _json_only(path: str) -> bool:
    """Endpoints whose bodies are JSON (FHIR's included)."""
    return path.startswith(("/v1/", "/fhir/")) and path not in FORM_ENDPOINTS


def _is_json(content_type: bytes) -> bool:
    media = content_type.split(b";", 1)[0].strip()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


def _utf8(body: bytes) -> bool:
    """Whether the body is UTF-8 text that a JSON parser will also read as UTF-8.

    JSON between systems must be UTF-8 (RFC 8259 section 8.1), but Python's json guesses UTF-16
    and UTF-32 from the bytes (`json.detect_encoding`) and would accept and store such bodies.
    """
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return json.detect_encoding(body) in ("utf-8", "utf-8-sig")


class BodyLimit:
    """Refuse bodies over `max_bytes` with 413, and bodies other than forms that are not
    UTF-8 with 400, before any endpoint reads them.

    The body is buffered (it is small by definition) so a lying or missing
    Content-Length cannot smuggle a larger one past the check.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._too_large(scope, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(scope, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        content_type = headers.get(b"content-type", b"").lower()
        if body and _json_only(scope["path"]) and content_type and not _is_json(content_type):
            # Otherwise the body is never read and the answer is a 422 "field required",
            # which does not say what went wrong.
            detail = "send the body as JSON with Content-Type: application/json" + (
                " (or application/fhir+json)" if scope["path"].startswith("/fhir") else ""
            )
            await _refuse(scope, send, 415, detail, "Unsupported media type", "unsupported-media-type")
            return
        if not content_type.startswith(FORMS) and not _utf8(body):
            await _refuse(scope, send, 400, "request bodies must be UTF-8 encoded", "Bad request", "not-utf8")
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, send: Send) -> None:
        detail = f"request bodies are limited to {self.max_bytes} bytes"
        await _refuse(scope, send, 413, detail, "Payload too large", "payload-too-large")


async def _refuse(scope: Scope, send: Send, status: int, detail: str, title: str, slug: str) -> None:
    body, media_type = error_payload(scope.get("path", ""), status, detail, title=title, slug=slug)
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", media_type.encode()),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class SecurityHeaders:
    """Headers every response gets; pages may set a stricter or looser CSP of their own
    (the embedded form names the origins allowed to frame it)."""

    DEFAULTS = (
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"strict-origin-when-cross-origin"),
        (
            b"content-security-policy",
            b"default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
        ),
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        path = scope["path"]
        # The interactive API docs (off in production) load their scripts from a CDN: no CSP of ours there.
        skip = {b"content-security-policy"} if path in ("/docs", "/redoc") else set()
        # Nothing that may carry patient data is kept by browsers or proxies; only the static
        # assets (the form's script and styles) may be cached.
        cache = () if path.startswith("/static/") or path == "/embed.js" else ((b"cache-control", b"no-store"),)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])} | skip
                extra = [(name, value) for name, value in (*self.DEFAULTS, *cache) if name not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)
