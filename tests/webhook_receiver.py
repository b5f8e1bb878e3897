"""A clinic's webhook endpoint for the notification tests, run as its own process.

It checks each request as a receiver should: the timestamp within five minutes, and
`X-Backstride-Signature: v1=<hex HMAC-SHA256(secret, "{timestamp}.{raw body}")>` compared in
constant time (401 otherwise, counted as `bad_signatures`). It records receipts by
`X-Backstride-Delivery` and de-duplicates on it: `receipts` counts every accepted request per id,
`processed` the ids it acted on (once each). `POST /_control` sets the secret and tells it to
fail every Nth request before the work (503), or after it (500: the answer is lost), or to hold
each request `delay` seconds before doing the work.

    uvicorn tests.webhook_receiver:app
"""

import asyncio
import hashlib
import hmac
import json
import time
from collections import Counter
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI()
CONTROL: dict[str, Any] = {"secret": "", "fail_every": 0, "fail_after_every": 0, "delay": 0.0}
state: dict[str, Any] = {}
TOLERANCE = 300  # seconds a timestamp may be off


def reset() -> None:
    state.update(control=dict(CONTROL), requests=0, in_flight=0, receipts=Counter(), processed=[], bodies=[],
                 bad_signatures=0, stale=0)  # fmt: skip


reset()


def verified(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """What a clinic's receiver does with the three headers (the README's example)."""
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"v1={expected}", signature)


@app.post("/hook")
async def hook(request: Request) -> JSONResponse:
    state["requests"] += 1
    n, control = state["requests"], state["control"]
    if control["fail_every"] and n % control["fail_every"] == 0:
        return JSONResponse({"error": "unavailable"}, status_code=503)
    body = await request.body()
    timestamp = request.headers.get("x-backstride-timestamp", "")
    if not verified(control["secret"], timestamp, body, request.headers.get("x-backstride-signature", "")):
        state["bad_signatures"] += 1
        return JSONResponse({"error": "bad signature"}, status_code=401)
    delivery = request.headers.get("x-backstride-delivery", "")
    state["in_flight"] += 1
    try:
        if control["delay"]:
            await asyncio.sleep(control["delay"])
        state["receipts"][delivery] += 1
        if delivery not in state["processed"]:  # de-duplicated by the delivery id
            state["processed"].append(delivery)
            state["bodies"].append(json.loads(body))
    finally:
        state["in_flight"] -= 1
    if control["fail_after_every"] and n % control["fail_after_every"] == 0:
        return JSONResponse({"error": "done, but the answer is lost"}, status_code=500)
    return JSONResponse({"ok": True})


@app.post("/_control")
async def set_control(request: Request) -> dict[str, Any]:
    state["control"].update(await request.json())
    return dict(state["control"])


@app.post("/_reset")
async def do_reset() -> dict[str, str]:
    reset()
    return {"status": "reset"}


@app.get("/_state")
async def get_state() -> dict[str, Any]:
    return {k: v for k, v in state.items() if k != "control"}


@app.get("/readyz")
async def ready() -> dict[str, str]:
    return {"status": "ok"}
