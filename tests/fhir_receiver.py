"""A small FHIR server for the export tests, run as its own process (it is not ours to control).

It accepts transaction Bundles at its base URL, honours `ifNoneExist` and conditional
PUT on identifiers (so re-sent Bundles create nothing new), and records what it got.
`POST /_control` tells it to misbehave: fail every Nth request before or after doing
the work, answer 429 or 400, go down, or stall.
"""

import asyncio
import itertools
import os
from collections import Counter, defaultdict
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI()
state: dict[str, Any] = {}


def reset() -> None:
    state.update(
        resources={},  # (type, id) -> resource
        by_identifier={},  # (type, system|value) -> id
        requests=0,
        control={"mode": "ok", "fail_every": 0, "fail_after_every": 0, "delay": 0.0, "retry_after": "1"},
        in_flight=Counter(),
        max_in_flight=0,
        delivered=Counter(),  # X-Backstride-Delivery -> successful receipts
        auth=[],
    )


reset()
ids = itertools.count(1)


def outcome(status: int, text: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "processing", "diagnostics": text}],
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type="application/fhir+json")


def identifier_of(search: str) -> str:
    return search.split("identifier=", 1)[1]


def store(resource_type: str, key: str, resource: dict[str, Any], existing: str | None) -> tuple[str, str]:
    rid = existing or str(next(ids))
    state["resources"][(resource_type, rid)] = {**resource, "id": rid}
    state["by_identifier"][(resource_type, key)] = rid
    return rid, "200 OK" if existing else "201 Created"


def apply(bundle: dict[str, Any]) -> dict[str, Any]:
    entries = []
    for entry in bundle["entry"]:
        resource, request = entry["resource"], entry["request"]
        rtype = resource["resourceType"]
        if request["method"] == "POST":
            key = identifier_of(request["ifNoneExist"])
            existing = state["by_identifier"].get((rtype, key))
            rid, status = (existing, "200 OK") if existing else store(rtype, key, resource, None)
        else:  # conditional PUT: update the match, or create
            key = identifier_of(request["url"])
            rid, status = store(rtype, key, resource, state["by_identifier"].get((rtype, key)))
        entries.append({"response": {"status": status, "location": f"{rtype}/{rid}"}})
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}


@app.post("/fhir")
async def transaction(request: Request) -> JSONResponse:
    state["requests"] += 1
    n, control = state["requests"], state["control"]
    state["auth"].append(request.headers.get("authorization"))
    if control["mode"] == "down" or (control["fail_every"] and n % control["fail_every"] == 0):
        return outcome(503, "unavailable")
    if control["mode"] == "429":
        return outcome(429, "slow down", {"Retry-After": control["retry_after"]})
    if control["mode"] == "400":
        return outcome(400, "Bundle.entry[0]: unknown profile")
    delivery = request.headers.get("x-backstride-delivery", "")
    state["in_flight"][delivery] += 1
    state["max_in_flight"] = max(state["max_in_flight"], state["in_flight"][delivery])
    try:
        if control["delay"]:
            await asyncio.sleep(control["delay"])
        bundle = await request.json()
        if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
            return outcome(400, "expected a transaction Bundle")
        result = apply(bundle)
    finally:
        state["in_flight"][delivery] -= 1
    if control["fail_after_every"] and n % control["fail_after_every"] == 0:
        return outcome(500, "done, but the answer is lost")  # the work is done; the sender cannot know
    state["delivered"][delivery] += 1
    return JSONResponse(result, media_type="application/fhir+json")


@app.post("/_control")
async def control(request: Request) -> dict[str, Any]:
    state["control"].update(await request.json())
    return dict(state["control"])


@app.post("/_reset")
async def do_reset() -> dict[str, str]:
    reset()
    return {"status": "reset"}


@app.get("/_state")
async def get_state() -> dict[str, Any]:
    counts: dict[str, int] = defaultdict(int)
    for rtype, _ in state["resources"]:
        counts[rtype] += 1
    return {
        "resources": counts,
        "requests": state["requests"],
        "max_in_flight": state["max_in_flight"],
        "in_flight": sum(state["in_flight"].values()),
        "delivered": dict(state["delivered"]),
        "auth": state["auth"][-1:],
        # Backstride's own referral status, from each stored ServiceRequest's extension.
        "service_request_statuses": [
            r["extension"][0]["valueCode"] for (t, _), r in state["resources"].items() if t == "ServiceRequest"
        ],
        "pid": os.getpid(),
    }


@app.get("/readyz")
async def ready() -> dict[str, str]:
    return {"status": "ok"}
