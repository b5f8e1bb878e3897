"""Exports into a FHIR server we did not write: Medplum's FHIR router (npm, pinned), validating
what it stores as Medplum does (tests/medplum/server.mjs). Each referral lands once, in full,
with every reference resolving, through lost answers, status changes and odd identifiers; the
EHR's own patients are found by their MRN and never by an identifier that merely looks like one."""

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from services.clinics.schemas import ClinicCreated
from services.core.config import Settings
from services.core.db import Database
from services.core.principal import Principal
from services.export import fhir_service
from services.export.fhir import identifiers as ids
from services.export.fhir.identity import DIGEST_SYSTEM
from services.intake import service as intake
from services.intake.schemas import IntakeIn
from services.referrals import service as referrals
from tests.export.test_worker import settle, unsent
from tests.factories import (
    VIGNETTES,
    VIGNETTES_V2,
    committed_clinic,
    intake_body,
    make_user,
    questionnaire_response,
    references,
    secret_principal,
    vignettes,
)
from tests.medplum import Medplum, medplum_server

MRN_SYSTEM = "urn:oid:1.2.826.0.1.3680043.2.1"  # the clinic's EHR's MRNs
TYPES = ("Patient", "QuestionnaireResponse", "Observation", "Condition", "Flag", "ServiceRequest")


@pytest.fixture(scope="session")
def medplum_process() -> Iterator[Medplum]:
    with medplum_server() as server:
        yield server


@pytest.fixture
def fast_settings(fast_settings: Settings) -> Settings:
    """Medplum's in-memory server works one transaction at a time, each slower as it fills (0.2 s
    by the end here, several times that on a slow machine): four turns keep its queue well inside
    the HTTP timeout, as an integrator would set EXPORT_RECEIVER_CONCURRENCY for such a server."""
    return fast_settings.model_copy(update={"export_receiver_concurrency": 4})


@pytest.fixture
def medplum(medplum_process: Medplum) -> Medplum:
    medplum_process.reset()
    return medplum_process


@pytest.fixture
async def clinic(database: Database, medplum: Medplum) -> AsyncIterator[ClinicCreated]:
    integration = {"base_url": medplum.fhir_base, "auth": {"type": "none"}, "enabled": True, "mrn_system": MRN_SYSTEM}
    async with committed_clinic(database, integration) as made:
        yield made


@dataclass
class Submitted:
    intake_id: str
    referral_id: str
    red_flags: int


async def submit(database: Database, clinic: ClinicCreated, body: dict[str, Any]) -> Submitted:
    async with database.sessionmaker() as session, session.begin():
        created, _ = await intake.submit(session, secret_principal(clinic), IntakeIn.model_validate(body), None)
    return Submitted(str(created.id), str(created.referral.id), len(created.referral.triage.red_flags))


class Server:
    """Everything on the Medplum server, read once, with lookups by identifier."""

    def __init__(self, medplum: Medplum) -> None:
        self.by_type = {t: medplum.search(t) for t in TYPES}
        self.by_reference = {f"{r['resourceType']}/{r['id']}": r for found in self.by_type.values() for r in found}

    def having(self, resource_type: str, system: str, value: str | None = None) -> list[dict[str, Any]]:
        def matches(identifier: dict[str, Any]) -> bool:
            return identifier.get("system") == system and value in (None, identifier.get("value"))

        found = []
        for resource in self.by_type[resource_type]:
            identifier = resource.get("identifier", [])
            if any(matches(i) for i in (identifier if isinstance(identifier, list) else [identifier])):
                found.append(resource)
        return found

    def dangling(self) -> list[str]:
        """References that do not resolve on the server (contained ones aside)."""
        return [
            f"{key} -> {ref}"
            for key, resource in self.by_reference.items()
            for ref in references(resource)
            if not ref.startswith("#") and ref not in self.by_reference
        ]


def landed(server: Server, clinic: ClinicCreated, made: Submitted) -> dict[str, Any]:
    """The referral's resources, checked to be there exactly once; its ServiceRequest."""

    def system(kind: str) -> str:
        return ids.system(clinic.clinic_id, kind)

    [request] = server.having("ServiceRequest", system("servicerequest"), made.referral_id)
    patient = request["subject"]["reference"]
    assert server.by_reference[patient]["resourceType"] == "Patient"
    assert len(server.having("QuestionnaireResponse", system("intake"), made.intake_id)) == 1
    assert len(server.having("Condition", system("condition"), made.intake_id)) == 1
    observations = server.having("Observation", system("observation")) + server.having("Observation", system("urgency"))
    mine = [o for o in observations if o["identifier"][0]["value"].startswith(made.intake_id)]
    assert len(mine) == 3 and all(o["subject"]["reference"] == patient for o in mine)
    flags = [f for f in server.having("Flag", system("flag")) if f["identifier"][0]["value"].startswith(made.intake_id)]
    assert len(flags) == made.red_flags
    return request


async def physio(database: Database, clinic: ClinicCreated) -> Principal:
    async with database.sessionmaker() as session, session.begin():
        user, _ = await make_user(session, clinic.slug)
    return Principal(clinic_id=clinic.clinic_id, kind="user", scopes=frozenset(), user_id=user.id, label=user.email)


async def move(database: Database, principal: Principal, referral_id: str, *statuses: str) -> None:
    for status in statuses:
        async with database.sessionmaker() as session, session.begin():
            version = (await referrals.current(session, principal.clinic_id, uuid.UUID(referral_id))).version
            await referrals.transition(session, principal, uuid.UUID(referral_id), status, None, f'"{version}"')  # type: ignore[arg-type]


async def test_every_vignette_lands_once_through_lost_answers_and_status_changes(
    database: Database, fast_settings: Settings, clinic: ClinicCreated, medplum: Medplum
) -> None:
    medplum.control(fail_after_every=3)  # every third request is done, and its answer lost
    made = [await submit(database, clinic, v["intake"]) for v in vignettes(VIGNETTES) + vignettes(VIGNETTES_V2)]
    assert await settle(database, fast_settings, clinic, within=240) == {"delivered": len(made)}
    # 7 entries and one per red flag: some Bundles exceed Medplum's 8 and go in parts.
    assert any(m.red_flags >= 2 for m in made)
    principal = await physio(database, clinic)
    moved: dict[str, tuple[str, ...]] = {}
    for n, m in enumerate(made):
        path = ("in_review", "declined", "closed") if n % 2 else ("in_review", "accepted", "scheduled", "closed")
        moved[m.referral_id] = path[: 1 + n % len(path)]
        await move(database, principal, m.referral_id, *moved[m.referral_id])
    sent = len(made) + sum(len(steps) for steps in moved.values())  # one export per status change
    assert await settle(database, fast_settings, clinic, within=240) == {"delivered": sent}, await unsent(
        database, clinic
    )
    medplum.control(fail_after_every=0)
    server = Server(medplum)
    assert server.dangling() == []
    for m in made:
        request = landed(server, clinic, m)
        steps = moved[m.referral_id]
        assert request["extension"][0]["valueCode"] == steps[-1]  # the latest status, not an earlier one
        expected = "revoked" if "declined" in steps else "completed" if steps[-1] == "closed" else "active"
        assert request["status"] == expected, steps
    assert len(server.by_type["ServiceRequest"]) == len(made)
    assert len(server.by_type["Patient"]) == len(made)  # no vignette shares an MRN with another


async def test_the_ehrs_own_patient_is_found_by_mrn_and_kept(
    database: Database, fast_settings: Settings, clinic: ClinicCreated, medplum: Medplum
) -> None:
    mrn = [{"system": MRN_SYSTEM, "value": "MRN-4411"}]
    ehr = medplum.create({"resourceType": "Patient", "name": [{"family": "Ehr"}], "identifier": mrn})
    made = [await submit(database, clinic, intake_body(patient={"mrn": "MRN-4411"})) for _ in range(2)]
    await settle(database, fast_settings, clinic)
    server = Server(medplum)
    for m in made:
        assert landed(server, clinic, m)["subject"]["reference"] == f"Patient/{ehr['id']}"
    assert [p["id"] for p in server.by_type["Patient"]] == [ehr["id"]]


async def test_identifiers_with_search_characters_never_find_another_patient(
    database: Database, fast_settings: Settings, clinic: ClinicCreated, medplum: Medplum
) -> None:
    """`77|A,b$c\\d`, searched as written, is patient 77 to Medplum (escapes removed before the
    split at `|`); it is searched by its digest, and lands on a Patient of its own."""
    ehr_mrn = [{"system": MRN_SYSTEM, "value": "77"}]
    medplum.create({"resourceType": "Patient", "name": [{"family": "Seventy-seven"}], "identifier": ehr_mrn})
    odd = ["77|A,b$c\\d", "77|A,b$c\\d", "Ünïcødé-患者-77", "7" * 64, "77,78", "77$"]
    made = [await submit(database, clinic, intake_body(patient={"mrn": mrn})) for mrn in odd]
    await settle(database, fast_settings, clinic)
    server = Server(medplum)
    assert server.dangling() == []
    subjects = [landed(server, clinic, m)["subject"]["reference"] for m in made]
    seventy_seven = server.having("Patient", MRN_SYSTEM, "77")
    assert len(seventy_seven) == 1 and f"Patient/{seventy_seven[0]['id']}" not in subjects
    assert subjects[0] == subjects[1]  # the same MRN is the same patient
    assert len(set(subjects)) == len(odd) - 1
    for subject, mrn in zip(subjects, odd, strict=True):
        patient = server.by_reference[subject]
        assert {"system": MRN_SYSTEM, "value": mrn} in [
            {k: i[k] for k in ("system", "value")} for i in patient["identifier"]
        ]
        if set(mrn) & set("\\,|$"):
            assert any(i["system"] == DIGEST_SYSTEM for i in patient["identifier"])


async def test_a_response_about_the_ehrs_patient_refers_to_it_and_makes_no_patient(
    database: Database, fast_settings: Settings, clinic: ClinicCreated, medplum: Medplum
) -> None:
    subject = f"Patient/{medplum.create({'resourceType': 'Patient', 'name': [{'family': 'Ehr'}]})['id']}"
    resource = {**questionnaire_response(intake_body()), "subject": {"reference": subject}}
    async with database.sessionmaker() as session, session.begin():
        served = await fhir_service.submit_response(session, secret_principal(clinic), resource, None)
        referral = await referrals.for_intake(session, clinic.clinic_id, uuid.UUID(served.resource["id"]))
    await settle(database, fast_settings, clinic)
    server = Server(medplum)
    made = Submitted(served.resource["id"], str(referral.id), 0)
    assert landed(server, clinic, made)["subject"]["reference"] == subject
    assert len(server.by_type["Patient"]) == 1 and server.dangling() == []


async def test_a_bundle_of_many_entries_goes_in_parts_and_lands_whole(
    database: Database, fast_settings: Settings, clinic: ClinicCreated, medplum: Medplum
) -> None:
    body = intake_body(
        pain={"timing": ["at_night", "during_run"], "radiates_to_leg": "below_knee"},
        neuro={"numbness_or_tingling": True, "numbness_side": "both", "leg_weakness": True,
               "weakness_progressing": True, "saddle_numbness": True, "bladder_or_bowel_change": True},
        history={"conditions": ["osteoporosis", "cancer_history"], "recent_trauma": True, "fever": True},
    )  # fmt: skip
    made = await submit(database, clinic, body)
    assert made.red_flags + 6 > 8  # Patient, response, 3 observations, condition, flags, request
    await settle(database, fast_settings, clinic)
    server = Server(medplum)
    landed(server, clinic, made)
    assert server.dangling() == []
