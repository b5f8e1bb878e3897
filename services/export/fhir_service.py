"""The FHIR API's rules: the Questionnaire, intakes arriving as QuestionnaireResponses,
and referrals read and searched as ServiceRequests."""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.db import utcnow
from services.core.errors import Forbidden, ServiceError, Unprocessable
from services.core.principal import Principal
from services.export import service as export
from services.export.fhir import identifiers as ids
from services.export.fhir import response_in
from services.export.fhir import search as fhir_search
from services.export.fhir.capability import capability_statement
from services.export.fhir.mapping import build_bundle, service_request
from services.export.fhir.questionnaire import AnswerError, intake_body, questionnaire, to_questionnaire_response
from services.intake import service as intake
from services.intake.schemas import IntakeIn, ReferralSummary, ResponseSource, StoredIntake
from services.referrals import service as referrals
from services.referrals.service import ReferralNotFound

SEARCH_PARAMETERS = {"status", "_lastUpdated", "_count", "_cursor"}
QUESTIONNAIRE_PARAMETERS = {"url", "version"}
URGENCY_EXTENSION = "urn:backstride:fhir:StructureDefinition/triage-urgency"
REFERRAL_EXTENSION = "urn:backstride:fhir:StructureDefinition/referral"

__all__ = [
    "capability",
    "questionnaire",
    "questionnaire_search",
    "read_response",
    "read_service_request",
    "refuse_unknown_parameters",
    "search",
    "submit_response",
]


class InvalidResource(Unprocessable):
    title, slug = "Invalid resource", "invalid-resource"


def capability(base_url: str, version: str) -> dict[str, Any]:
    return capability_statement(base_url, version)


@dataclass(frozen=True)
class Submitted:
    """What `POST /fhir/QuestionnaireResponse` answers: the stored response, 201 when it was
    made now, 200 when a conditional create found the one its identifier made before."""

    resource: dict[str, Any]
    status: int


def _checked(resource: Any) -> tuple[str, dict[str, Any]]:
    """(questionnaire version, what is kept beyond the answers) of a response fit to be an intake."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "QuestionnaireResponse":
        raise ServiceError("the body must be a QuestionnaireResponse resource")
    try:
        QuestionnaireResponse.model_validate(resource)
    except ValidationError as exc:
        raise InvalidResource("not a valid FHIR R4 QuestionnaireResponse", errors=_errors(exc)) from exc
    except RecursionError as exc:
        raise ServiceError("the resource is nested too deeply") from exc
    canonical, _, version = str(resource.get("questionnaire", "")).partition("|")
    if canonical != ids.QUESTIONNAIRE_URL:
        raise InvalidResource(f"questionnaire must be {ids.QUESTIONNAIRE_URL}")
    version = version or ids.QUESTIONNAIRE_VERSION  # a canonical without a version is the current one
    if version not in ids.QUESTIONNAIRE_VERSIONS:
        accepted = ", ".join(ids.QUESTIONNAIRE_VERSIONS)
        raise InvalidResource(f"questionnaire version {version[:20]!r} is not accepted; use one of {accepted}")
    if resource.get("status") not in ("completed", "amended"):
        raise InvalidResource("only a completed QuestionnaireResponse can be submitted")
    try:
        response_in.check_modifiers(resource)
        return version, response_in.source(resource)
    except response_in.Refused as exc:
        raise InvalidResource(str(exc), errors=[{"loc": [exc.where], "msg": str(exc), "type": "value_error"}]) from exc


async def submit_response(
    session: AsyncSession,
    principal: Principal,
    resource: Any,
    idempotency_key: str | None,
    if_none_exist: str | None = None,
) -> Submitted:
    """Accept a QuestionnaireResponse as an intake, once per identifier (conditional create)."""
    if principal.kind == "publishable":  # SPEC §2: web-page keys are for the embedded form's two calls
        raise Forbidden("a publishable key cannot be used for this operation")
    version, kept = _checked(resource)
    try:
        key = response_in.conditional_key(if_none_exist, kept)
    except response_in.BadCondition as exc:
        raise ServiceError(str(exc)) from exc
    except response_in.Refused as exc:
        raise InvalidResource(str(exc), errors=[{"loc": [exc.where], "msg": str(exc), "type": "value_error"}]) from exc
    if key is not None:
        kept["identifier"] = key
        found = await intake.by_response(session, principal.clinic_id, key)
        if found is not None:  # made before: FHIR's conditional create answers 200 with it
            return Submitted(await _served(session, principal.clinic_id, found.id, found.referral), 200)
    intake_date = _authored_date(resource.get("authored"))
    try:
        body = IntakeIn.model_validate(intake_body(resource, version))
    except AnswerError as exc:
        raise InvalidResource(str(exc), errors=[{"loc": [exc.link_id], "msg": str(exc), "type": "answer"}]) from exc
    except ValidationError as exc:
        raise InvalidResource("the answers are not a valid intake", errors=_errors(exc)) from exc
    source = ResponseSource.model_validate(kept)
    created, replayed = await intake.submit(
        session, principal, body, idempotency_key, intake_date, via="fhir", source=source
    )
    served = await _served(session, principal.clinic_id, created.id, created.referral)
    return Submitted(served, 200 if replayed and key is not None else 201)


async def read_response(
    session: AsyncSession, principal: Principal, response_id: str, version: str | None = None
) -> dict[str, Any]:
    """A stored intake as the QuestionnaireResponse it is (every intake is one, however it came);
    reading it goes on the referral's audit trail. Responses have one version: 1."""
    try:
        intake_id = uuid.UUID(response_id)
    except ValueError as exc:
        raise intake.IntakeNotFound(f"no QuestionnaireResponse {response_id[:64]!r}") from exc
    if version is not None and version != "1":
        raise intake.IntakeNotFound(f"QuestionnaireResponse {intake_id} has no version {version[:20]!r}")
    record = await intake.get(session, principal, intake_id)
    return await _served(session, principal.clinic_id, intake_id, record.referral, record)


async def _served(
    session: AsyncSession,
    clinic_id: uuid.UUID,
    intake_id: uuid.UUID,
    referral: ReferralSummary,
    stored: StoredIntake | None = None,
) -> dict[str, Any]:
    """The stored response: what the EHR said of it (identifier, subject, author, authored) as it
    said it, the referral's id and urgency in extensions."""
    stored = stored or await intake.stored(session, clinic_id, intake_id)
    source = stored.fhir_source
    response = to_questionnaire_response(stored, None)
    own = ids.system(clinic_id, "intake")
    kept = source.model_dump(exclude_none=True) if source else {}
    response.update(
        id=str(intake_id),
        meta={"versionId": "1", "lastUpdated": stored.created_at.isoformat()},
        identifier=response_in.stored_identifier(kept, own, str(intake_id)),
        **{k: v for k, v in kept.items() if k in ("subject", "author", "authored")},
        extension=[
            {"url": URGENCY_EXTENSION, "valueCode": referral.urgency},
            {"url": REFERRAL_EXTENSION, "valueReference": {"reference": f"ServiceRequest/{referral.id}"}},
        ],
    )
    return QuestionnaireResponse.model_validate(response).model_dump(mode="json")


def questionnaire_search(base: str, url: list[str], version: list[str]) -> dict[str, Any]:
    """`GET /fhir/Questionnaire?url=&version=`: a searchset with the intake Questionnaire if it
    matches (`url` may carry `|version`, as a canonical does), else none."""
    wanted_url = {u.partition("|")[0] for u in url}
    wanted_version = {v for v in version} | {u.partition("|")[2] for u in url if "|" in u}
    matches = wanted_url <= {ids.QUESTIONNAIRE_URL} and wanted_version <= {ids.QUESTIONNAIRE_VERSION}
    entries = (
        [
            {
                "fullUrl": f"{base}/Questionnaire/backstride-intake",
                "resource": questionnaire(),
                "search": {"mode": "match"},
            }
        ]
        if matches
        else []
    )
    params = [("url", u) for u in url] + [("version", v) for v in version]
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(entries),
        "link": [{"relation": "self", "url": f"{base}/Questionnaire?{urlencode(params)}"}],
        "entry": entries,
    }


def _authored_date(authored: Any) -> date | None:
    """The intake date a response's `authored` gives (the date as written, in its own time zone),
    or None when it gives no whole date: then the day it arrives is used."""
    if not isinstance(authored, str) or len(authored) < 10:
        return None
    written = date.fromisoformat(authored[:10])  # the model validated it as a FHIR dateTime
    # A day of slack for time zones ahead of UTC; beyond that the response claims a future date.
    if written > utcnow().date() + timedelta(days=1):
        raise InvalidResource(
            "authored is in the future", errors=[{"loc": ["authored"], "msg": "in the future", "type": "value_error"}]
        )
    return written


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    # As in /v1: locations (for intakes, the linkIds) and messages, never the submitted values.
    return [{"loc": [".".join(str(p) for p in e["loc"])], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]


def _referral_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError as exc:
        raise ReferralNotFound(f"no ServiceRequest {text[:64]!r}") from exc


async def read_service_request(session: AsyncSession, principal: Principal, referral_id: str) -> dict[str, Any]:
    referral = await referrals.view(session, principal, _referral_id(referral_id))
    if referral.erased_at is not None:  # FHIR's answer for a resource that existed and was deleted
        raise referrals.ReferralErased(f"ServiceRequest {referral_id} was erased")
    answers = await intake.stored(session, principal.clinic_id, referral.intake_id)
    mrn_system = await export.mrn_system(session, principal.clinic_id)
    return service_request(build_bundle(answers, referral, mrn_system=mrn_system), referral)


def refuse_unknown_parameters(names: Iterable[str], known: set[str] = SEARCH_PARAMETERS) -> None:
    unknown = sorted(set(names) - known)
    if unknown:
        raise ServiceError(f"unsupported search parameters: {', '.join(unknown)}")


async def search(
    session: AsyncSession,
    principal: Principal,
    base: str,
    status: list[str],
    last_updated: list[str],
    count: int,
    cursor: str | None,
) -> dict[str, Any]:
    window = fhir_search.last_updated(last_updated)
    statuses = fhir_search.statuses(status) if status else ()
    found, next_cursor = await referrals.changed(session, principal, statuses, window.start, window.end, cursor, count)
    entries = []
    mrn_system = await export.mrn_system(session, principal.clinic_id)
    for referral in found:
        try:
            answers = await intake.stored(session, principal.clinic_id, referral.intake_id)
        except intake.IntakeErased:  # erased since the page was read: left out, like every erased referral
            continue
        resource = service_request(build_bundle(answers, referral, mrn_system=mrn_system), referral)
        entries.append(
            {"fullUrl": f"{base}/ServiceRequest/{referral.id}", "resource": resource, "search": {"mode": "match"}}
        )
    params = [("status", s) for s in status] + [("_lastUpdated", v) for v in last_updated] + [("_count", str(count))]
    links = [
        {
            "relation": "self",
            "url": f"{base}/ServiceRequest?{urlencode(params + ([('_cursor', cursor)] if cursor else []))}",
        }
    ]
    if next_cursor:
        links.append(
            {"relation": "next", "url": f"{base}/ServiceRequest?{urlencode([*params, ('_cursor', next_cursor)])}"}
        )
    return {"resourceType": "Bundle", "type": "searchset", "link": links, "entry": entries}
