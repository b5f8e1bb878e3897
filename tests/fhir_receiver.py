"""A small FHIR server for the export tests, run as its own process (it is not ours to control).

It accepts transaction Bundles at its base URL, honours `ifNoneExist` and conditional
PUT on identifiers (so re-sent Bundles create nothing new), and records what it got.
`POST /_control` tells it to misbehave: fail every Nth request before or after doing
the work, answer 429 or 400, go down, or stall; with `one_at_a_time` it works one transaction
at a time, as Medplum's in-memory server does, and the others wait their turn.

It is also a SMART Backend Services token endpoint (`POST /token`): given a JWKS and a client
id through `/_control`, it checks client assertions as an EHR's authorisation server does
(signature, audience, lifetime, a jti used once) and, with `require_token`, lets only the
access tokens it issued through to `/fhir`. `{"revoke": true}` forgets every token it issued.

`uvicorn tests.fhir_receiver:app` keeps its state in memory. `python -m tests.fhir_receiver
--port P --state-file F` also writes it to F after every request that did work and reads it
back at start, so a receiver killed and started again still knows what it was sent.
"""

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import secrets
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI()
state: dict[str, Any] = {}
state_file: Path | None = None


CONTROL = {"mode": "ok", "fail_every": 0, "fail_after_every": 0, "delay": 0.0, "one_at_a_time": False,
           "retry_after": "1", "jwks": {"keys": []}, "client_id": "", "token_lifetime": 300, "require_token": False,
           "token_mode": "ok"}  # fmt: skip


generation = itertools.count()  # a reset starts a new one: requests of the old one do not count


def reset() -> None:
    state.update(
        generation=next(generation),
        resources={},  # (type, id) -> resource
        by_identifier={},  # (type, system|value) -> id
        requests=0,
        control=dict(CONTROL),
        in_flight=Counter(),
        max_in_flight=0,  # of one delivery
        max_held=0,  # transactions in the server at once, whoever sent them
        turn=asyncio.Lock(),  # for one_at_a_time
        delivered=Counter(),  # X-Backstride-Delivery -> successful receipts
        auth=[],
        tokens={},  # access token -> when it expires (time.time())
        jtis=[],  # of every client assertion accepted
        token_requests=0,
        refused_tokens=0,  # /fhir requests turned away for their token
    )


reset()
ids = itertools.count(1)


def save() -> None:
    if state_file is None:
        return
    persisted = {
        "resources": [[t, rid, r] for (t, rid), r in state["resources"].items()],
        "by_identifier": [[t, key, rid] for (t, key), rid in state["by_identifier"].items()],
        "requests": state["requests"],
        "delivered": state["delivered"],
    }
    # Written whole and renamed: a receiver killed mid-write leaves the previous state, not half of one.
    partial = state_file.with_name(state_file.name + ".partial")
    partial.write_text(json.dumps(persisted))
    partial.replace(state_file)


def load() -> None:
    global ids
    if state_file is None or not state_file.exists():
        return
    persisted = json.loads(state_file.read_text())
    state["resources"] = {(t, rid): r for t, rid, r in persisted["resources"]}
    state["by_identifier"] = {(t, key): rid for t, key, rid in persisted["by_identifier"]}
    state["requests"] = persisted["requests"]
    state["delivered"] = Counter(persisted["delivered"])
    ids = itertools.count(max((int(rid) for _, rid in state["resources"]), default=0) + 1)


def outcome(status: int, text: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "processing", "diagnostics": text}],
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type="application/fhir+json")


# What a validating server (Medplum) answers for a resource it will not store.
REFUSED = {
    "resourceType": "OperationOutcome",
    "issue": [
        {"severity": "error", "code": "invariant", "details": {"text": "Invalid code"},
         "expression": ["ServiceRequest.status"]},
        {"severity": "error", "code": "structure", "details": {"text": "Missing required property"},
         "expression": ["Patient.name"]},
    ],
}  # fmt: skip


def bearer_refused(authorization: str | None) -> bool:
    token = (authorization or "").removeprefix("Bearer ")
    expires = state["tokens"].get(token)
    return expires is None or time.time() >= expires


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
        return JSONResponse(REFUSED, status_code=400, media_type="application/fhir+json")
    if control["require_token"] and bearer_refused(request.headers.get("authorization")):
        state["refused_tokens"] += 1
        return outcome(401, "invalid or expired access token")
    delivery = request.headers.get("x-backstride-delivery", "")
    started = state["generation"]
    state["in_flight"][delivery] += 1
    state["max_in_flight"] = max(state["max_in_flight"], state["in_flight"][delivery])
    state["max_held"] = max(state["max_held"], sum(state["in_flight"].values()))
    try:
        async with state["turn"] if control["one_at_a_time"] else contextlib.nullcontext():
            if control["delay"]:
                await asyncio.sleep(control["delay"])
            if state["generation"] != started:  # reset while it waited: not this test's to store
                return outcome(503, "reset")
            bundle = await request.json()
            if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
                return outcome(400, "expected a transaction Bundle")
            result = apply(bundle)
    finally:
        # A request from before a reset (an earlier test's, still sleeping) must not count down
        # this test's requests: the count would go below zero and a wait for "in flight" pass early.
        if state["generation"] == started:
            state["in_flight"][delivery] -= 1
    if control["fail_after_every"] and n % control["fail_after_every"] == 0:
        save()
        return outcome(500, "done, but the answer is lost")  # the work is done; the sender cannot know
    state["delivered"][delivery] += 1
    save()
    return JSONResponse(result, media_type="application/fhir+json")


@app.get("/fhir/metadata")
async def metadata(request: Request) -> JSONResponse:
    """The CapabilityStatement: what a "test connection" asks for (down and tokens as for /fhir)."""
    state["auth"].append(request.headers.get("authorization"))
    if state["control"]["mode"] == "down":
        return outcome(503, "unavailable")
    if state["control"]["require_token"] and bearer_refused(request.headers.get("authorization")):
        state["refused_tokens"] += 1
        return outcome(401, "invalid or expired access token")
    statement = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "kind": "instance",
        "date": "2026-11-29",
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "software": {"name": "Test receiver", "version": "1.0"},
    }
    return JSONResponse(statement, media_type="application/fhir+json")


def token_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


@app.post("/token")
async def token(request: Request) -> JSONResponse:
    """Client credentials with a JWT assertion (SMART Backend Services, RFC 7523)."""
    state["token_requests"] += 1
    control = state["control"]
    if control["token_mode"] == "503":
        return token_error(503, "temporarily_unavailable", "try again later")
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
    if form.get("grant_type") != "client_credentials" or not form.get("scope"):
        return token_error(400, "invalid_request", "grant_type client_credentials and a scope are required")
    if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
        return token_error(400, "invalid_request", "client_assertion_type")
    assertion = form.get("client_assertion", "")
    try:
        header = jwt.get_unverified_header(assertion)
        keys = [k for k in control["jwks"]["keys"] if k.get("kid") == header.get("kid")]
        if not keys or header.get("alg") not in ("RS384", "ES384") or keys[0].get("alg") != header["alg"]:
            return token_error(401, "invalid_client", "no such key in the registered JWKS")
        claims = jwt.decode(
            assertion, jwt.PyJWK(keys[0]).key, algorithms=[header["alg"]], audience=str(request.url),
            issuer=control["client_id"], options={"require": ["exp", "iat", "jti", "iss", "sub", "aud"]},
        )  # fmt: skip
    except jwt.PyJWTError as exc:
        return token_error(401, "invalid_client", f"client assertion: {exc}")
    if claims["sub"] != control["client_id"] or claims["exp"] - claims["iat"] > 300:
        return token_error(401, "invalid_client", "sub must be the client id; at most 5 minutes")
    if claims["jti"] in state["jtis"]:
        return token_error(401, "invalid_client", "client assertion replayed")
    state["jtis"].append(claims["jti"])
    value = secrets.token_urlsafe(24)
    state["tokens"][value] = time.time() + control["token_lifetime"]
    answer = {"access_token": value, "token_type": "bearer", "expires_in": control["token_lifetime"],
              "scope": form["scope"]}  # fmt: skip
    return JSONResponse(answer)


@app.post("/_control")
async def control(request: Request) -> dict[str, Any]:
    settings = await request.json()
    if settings.pop("revoke", False):
        state["tokens"].clear()
    state["control"].update(settings)
    return dict(state["control"])


@app.post("/_reset")
async def do_reset() -> dict[str, str]:
    reset()
    save()
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
        "max_held": state["max_held"],
        "in_flight": sum(state["in_flight"].values()),
        "delivered": dict(state["delivered"]),
        "auth": state["auth"][-1:],
        "token_requests": state["token_requests"],
        "jtis": state["jtis"],
        "tokens_issued": len(state["jtis"]),
        "refused_tokens": state["refused_tokens"],
        # Backstride's own referral status, from each stored ServiceRequest's extension.
        "service_request_statuses": [
            r["extension"][0]["valueCode"] for (t, _), r in state["resources"].items() if t == "ServiceRequest"
        ],
        # The same, by the identifier value the ServiceRequest was stored under (Backstride's referral id).
        "service_requests": {
            key.rsplit("|", 1)[-1]: state["resources"][(t, rid)]["extension"][0]["valueCode"]
            for (t, key), rid in state["by_identifier"].items()
            if t == "ServiceRequest"
        },
        "pid": os.getpid(),
    }


@app.get("/readyz")
async def ready() -> dict[str, str]:
    return {"status": "ok"}


def main() -> None:
    parser = argparse.ArgumentParser(description="A FHIR receiver for Backstride's export tests")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-file", type=Path, help="keep the state here, across restarts")
    args = parser.parse_args()
    global state_file
    state_file = args.state_file
    load()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
