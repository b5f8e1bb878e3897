"""POST /fhir/QuestionnaireResponse as an EHR uses it: conditional create, the response's own
identifier, subject, author and authored kept, refusals as OperationOutcomes; the response read
back, and the Questionnaire found by its canonical URL."""

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from sqlalchemy import func, select
from sqlmodel import col

from services.clinics.schemas import ClinicCreated
from services.core.db import Database
from services.export import fhir_service
from services.export.fhir.identifiers import QUESTIONNAIRE_URL
from services.intake.models import Intake
from tests.factories import committed_clinic, intake_body, make_clinic, questionnaire_response, secret_principal

FHIR = "application/fhir+json"
URL = "/fhir/QuestionnaireResponse"
EHR = "urn:oid:1.2.826.0.1.3680043.2.1"


async def intakes(client: httpx.AsyncClient, sk: dict[str, str]) -> int:
    return len((await client.get("/v1/referrals", headers=sk)).json()["items"])


async def post(
    client: httpx.AsyncClient, sk: dict[str, str], resource: dict[str, Any], **headers: str
) -> httpx.Response:
    return await client.post(URL, json=resource, headers={**sk, "Content-Type": FHIR, **headers})


async def test_if_none_exist_makes_one_intake_however_often_it_is_sent(
    client: httpx.AsyncClient, sk: dict[str, str]
) -> None:
    resource = questionnaire_response(intake_body())
    first = await post(client, sk, resource, **{"If-None-Exist": f"identifier={EHR}|qr-1"})
    assert first.status_code == 201, first.text
    made = first.json()
    assert first.headers["location"] == f"http://127.0.0.1:8000/fhir/QuestionnaireResponse/{made['id']}/_history/1"
    assert made["identifier"] == {"system": EHR, "value": "qr-1"}
    again = await post(client, sk, resource, **{"If-None-Exist": f"identifier={EHR}|qr-1"})
    assert again.status_code == 200 and again.json()["id"] == made["id"]
    assert again.headers["location"] == first.headers["location"]
    assert await intakes(client, sk) == 1


async def test_the_resources_own_identifier_makes_the_create_conditional(
    client: httpx.AsyncClient, sk: dict[str, str]
) -> None:
    resource = {**questionnaire_response(intake_body()), "identifier": {"system": EHR, "value": "77|A,b$c\\d"}}
    statuses = [(await post(client, sk, resource)).status_code for _ in range(3)]
    assert statuses == [201, 200, 200] and await intakes(client, sk) == 1
    # The escaped search finds the same response.
    header = {"If-None-Exist": f"identifier={EHR}|77\\|A\\,b\\$c\\\\d"}
    assert (await post(client, sk, questionnaire_response(intake_body()), **header)).status_code == 200
    assert await intakes(client, sk) == 1


async def test_another_clinics_identical_identifier_is_its_own(client: httpx.AsyncClient, session: Any) -> None:
    resource = {**questionnaire_response(intake_body()), "identifier": {"system": EHR, "value": "shared"}}
    for _ in range(2):
        other = await make_clinic(session)
        response = await post(client, {"Authorization": f"Bearer {other.secret_key}"}, resource)
        assert response.status_code == 201


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("identifier=onlyvalue", 400),
        (f"identifier={EHR}|a,{EHR}|b", 400),
        (f"_id=5&identifier={EHR}|a", 400),
        ("status=completed", 400),
        (f"identifier={EHR}|other", 422),  # names another identifier than the resource's own
    ],
)
async def test_conditions_this_server_cannot_honour_are_refused(
    client: httpx.AsyncClient, sk: dict[str, str], header: str, status: int
) -> None:
    resource = {**questionnaire_response(intake_body()), "identifier": {"system": EHR, "value": "mine"}}
    response = await post(client, sk, resource, **{"If-None-Exist": header})
    assert response.status_code == status, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    assert await intakes(client, sk) == 0


def with_modifier(resource: dict[str, Any], nested: bool) -> dict[str, Any]:
    modifier = [{"url": "http://example.org/fhir/StructureDefinition/entered-in-error", "valueBoolean": True}]
    if not nested:
        return {**resource, "modifierExtension": modifier}
    pain = next(g for g in resource["item"] if g["linkId"] == "pain")
    pain["item"][0]["modifierExtension"] = modifier
    return resource


@pytest.mark.parametrize(
    "change",
    [
        lambda r: with_modifier(r, nested=False),
        lambda r: with_modifier(r, nested=True),
        lambda r: {**r, "questionnaire": f"{QUESTIONNAIRE_URL}|3.0.0"},
        lambda r: {**r, "subject": {"reference": "Group/7"}},
        lambda r: {**r, "subject": {"reference": "https://other.example/fhir/Patient/1"}},
        lambda r: {**r, "subject": {"display": "Sam"}},
        lambda r: {**r, "author": {"reference": "Questionnaire/1"}},
        lambda r: {**r, "identifier": {"value": "no-system"}},
    ],
    ids=["modifierExtension", "nested modifierExtension", "version 3.0.0", "subject a Group",
         "subject elsewhere", "subject without reference", "author not a person", "identifier without system"],
)  # fmt: skip
async def test_what_cannot_be_taken_as_sent_is_a_4xx_operation_outcome(
    client: httpx.AsyncClient, sk: dict[str, str], change: Any
) -> None:
    response = await post(client, sk, change(questionnaire_response(intake_body())))
    assert response.status_code == 422, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["severity"] == "error"
    assert await intakes(client, sk) == 0


async def test_subject_author_and_authored_are_kept_and_read_back(
    client: httpx.AsyncClient, sk: dict[str, str]
) -> None:
    resource = {
        **questionnaire_response(intake_body()),
        "subject": {"reference": "Patient/ehr-42", "display": "Sam Runner"},
        "author": {"reference": "Practitioner/9"},
        "authored": "2026-11-20T08:15:00+01:00",
    }
    made = (await post(client, sk, resource)).json()
    read = await client.get(f"{URL}/{made['id']}", headers=sk)
    assert read.status_code == 200 and read.headers["content-type"].startswith(FHIR)
    served = read.json()
    QuestionnaireResponse.model_validate(served)
    assert served["subject"] == {"reference": "Patient/ehr-42", "display": "Sam Runner"}
    assert served["author"] == {"reference": "Practitioner/9"}
    assert served["authored"] == "2026-11-20T08:15:00+01:00"
    assert served["identifier"]["system"].endswith(":intake")  # Backstride's own, as none was sent
    assert served["item"] == made["item"] and served["meta"]["versionId"] == "1"
    version = await client.get(f"{URL}/{made['id']}/_history/1", headers=sk)
    assert version.json() == served
    assert (await client.get(f"{URL}/{made['id']}/_history/2", headers=sk)).status_code == 404


async def test_every_intake_reads_as_a_response_in_its_own_clinic_only(
    client: httpx.AsyncClient, sk: dict[str, str], session: Any
) -> None:
    created = (await client.post("/v1/intakes", json=intake_body(), headers=sk)).json()
    assert (await client.get(f"{URL}/{created['id']}", headers=sk)).json()["id"] == created["id"]
    other = await make_clinic(session)
    elsewhere = await client.get(f"{URL}/{created['id']}", headers={"Authorization": f"Bearer {other.secret_key}"})
    assert elsewhere.status_code == 404 and elsewhere.json()["resourceType"] == "OperationOutcome"
    assert (await client.get(f"{URL}/not-a-uuid", headers=sk)).status_code == 404
    assert (await client.get(f"{URL}/{created['id']}")).status_code == 401


async def test_the_questionnaire_is_found_by_its_canonical_url(client: httpx.AsyncClient) -> None:
    found = (await client.get("/fhir/Questionnaire", params={"url": QUESTIONNAIRE_URL})).json()
    Bundle.model_validate(found)
    assert found["type"] == "searchset" and found["total"] == 1
    assert found["entry"][0]["resource"]["id"] == "backstride-intake"
    versioned = await client.get("/fhir/Questionnaire", params={"url": f"{QUESTIONNAIRE_URL}|2.0.0"})
    assert versioned.json()["total"] == 1
    for params in ({"url": "http://other.example/Questionnaire/x"}, {"url": QUESTIONNAIRE_URL, "version": "1.0.0"}):
        assert (await client.get("/fhir/Questionnaire", params=params)).json()["total"] == 0
    refused = await client.get("/fhir/Questionnaire", params={"name": "x"})
    assert refused.status_code == 400 and refused.json()["resourceType"] == "OperationOutcome"


async def test_concurrent_conditional_creates_make_one_intake(database: Database) -> None:
    resource = {**questionnaire_response(intake_body()), "identifier": {"system": EHR, "value": uuid.uuid4().hex}}

    async def send(clinic: ClinicCreated) -> int:
        async with database.sessionmaker() as session, session.begin():
            submitted = await fhir_service.submit_response(session, secret_principal(clinic), resource, None)
            return submitted.status

    async with committed_clinic(database) as clinic:
        statuses = await asyncio.gather(*(send(clinic) for _ in range(4)))
        async with database.sessionmaker() as session:
            count = await session.scalar(
                select(func.count()).select_from(Intake).where(col(Intake.clinic_id) == clinic.clinic_id)
            )
    assert sorted(statuses) == [200, 200, 200, 201] and count == 1
