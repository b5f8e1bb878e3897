"""Export rules: which clinic wants what sent where, the outbox, and the Bundles it carries."""

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core import events, observability, outbound
from services.core.config import Settings
from services.core.db import utcnow
from services.core.errors import Conflict, NotFound
from services.core.pagination import decode_cursor, page
from services.core.principal import Principal
from services.export import keys as signing
from services.export import probe
from services.export.fhir.collection import collection
from services.export.fhir.mapping import build_bundle
from services.export.fhir.questionnaire import questionnaire
from services.export.models import ExportItem, FhirIntegration, IntegrationKey
from services.export.repository import (
    ExportRepository,
    ExportStatsRepository,
    IntegrationRepository,
    OutboxRepository,
)
from services.export.schemas import (
    AuthOut,
    ConnectionTest,
    ExportItemOut,
    ExportPage,
    ExportQuery,
    IntegrationIn,
    IntegrationOut,
)
from services.intake import service as intake
from services.intake.schemas import StoredIntake
from services.referrals import service as referrals
from services.referrals.schemas import ReferralOut

# The last_error of a patient's exports once their data is erased.
ERASED = "erased"


class IntegrationNotConfigured(NotFound):
    title, slug = "No FHIR integration", "integration-not-configured"


class ExportNotFound(NotFound):
    title, slug = "Export not found", "export-not-found"


class ExportNotDead(Conflict):
    title, slug = "Export not dead", "export-not-dead"


@events.subscribe
async def queue_export(session: AsyncSession, change: events.ReferralChanged) -> None:
    """Every referral change is owed to the clinic's FHIR server, in the change's own transaction."""
    await ExportRepository(session, change.clinic_id).enqueue_if_enabled(change.referral_id, change.event, change.at)


@observability.on_scrape
async def export_gauges(session: AsyncSession) -> None:
    """Queue depth by status, and how long the oldest due export has waited (worker lag)."""
    counts, oldest_due = await OutboxRepository(session).stats(utcnow())
    for status in ("pending", "delivered", "dead"):
        observability.EXPORT_QUEUE.labels(status).set(counts.get(status, 0))
    observability.EXPORT_LAG.set((utcnow() - oldest_due).total_seconds() if oldest_due else 0)


class NoSigningKeys(NotFound):
    title, slug = "No signing keys", "no-signing-keys"


def jwks_url(public_base_url: str, clinic_id: uuid.UUID) -> str:
    return f"{public_base_url}/v1/jwks/{clinic_id}.json"


def _integration_out(integration: FhirIntegration, public_base_url: str) -> IntegrationOut:
    smart = integration.auth_type == "smart_backend"
    auth = AuthOut(
        type=integration.auth_type,
        token_set=integration.auth_token is not None,
        token_url=integration.token_url,
        client_id=integration.client_id,
        scope=integration.scope,
        algorithm=integration.signing_algorithm,
        jwks_url=jwks_url(public_base_url, integration.clinic_id) if smart else None,
    )
    return IntegrationOut(
        base_url=integration.base_url,
        auth=auth,
        enabled=integration.enabled,
        mrn_system=integration.mrn_system,
        updated_at=integration.updated_at,
    )


async def get_integration(session: AsyncSession, clinic_id: uuid.UUID, public_base_url: str) -> IntegrationOut:
    integration = await IntegrationRepository(session, clinic_id).get()
    if integration is None:
        raise IntegrationNotConfigured("this clinic has no FHIR integration; PUT one first")
    return _integration_out(integration, public_base_url)


async def public_keys(session: AsyncSession, clinic_id: uuid.UUID) -> dict[str, Any]:
    """The JWKS an EHR checks the export's client assertions against (SMART Backend Services)."""
    found = await IntegrationRepository(session, clinic_id).keys()
    if not found:
        raise NoSigningKeys("no signing keys: the clinic's integration does not use smart_backend")
    return signing.jwks(found)


async def signing_key(session: AsyncSession, clinic_id: uuid.UUID, algorithm: str) -> IntegrationKey | None:
    """The clinic's newest key for `algorithm`, to sign a client assertion with."""
    found = [k for k in await IntegrationRepository(session, clinic_id).keys() if k.algorithm == algorithm]
    return found[-1] if found else None


async def check_destination(base_url: str, allowed_networks: str = "") -> None:
    """In production, patient data goes over https to a public host only: not to this machine,
    a private network or a cloud metadata address, named by an IP literal in any form or by a
    name resolving to one (core/outbound.py), unless the deployment allows that network. The
    worker checks again at every delivery."""
    await asyncio.to_thread(outbound.check_url, base_url, outbound.parse_networks(allowed_networks))


async def put_integration(
    session: AsyncSession, clinic_id: uuid.UUID, body: IntegrationIn, settings: Settings
) -> IntegrationOut:
    """Save the clinic's destination. SMART Backend Services gets the clinic a key pair for each
    algorithm the first time (kept after: the EHR has registered their public halves), and
    again if SECRET_KEY has changed since (the old ones no longer open)."""
    auth = body.auth
    if settings.environment == "production":
        for url in (body.base_url, auth.token_url):  # the token URL is called on the clinic's behalf too
            if url is not None:
                await check_destination(url, settings.outbound_allowed_networks)
    repo = IntegrationRepository(session, clinic_id)
    now = utcnow()
    secret = settings.secret_key.get_secret_value()
    existing = await repo.keys() if auth.type == "smart_backend" else []
    if existing and not all(signing.opens(key, secret) for key in existing):
        # SECRET_KEY was changed: these keys can sign nothing any more. New ones replace them
        # (the EHR must register the new JWKS).
        await repo.drop_keys()
        existing = []
    if auth.type == "smart_backend" and not existing:
        # RSA key generation takes a CPU for a while: off the event loop.
        made = await asyncio.to_thread(
            lambda: [signing.new_key(clinic_id, algorithm, secret, now) for algorithm in signing.ALGORITHMS]
        )
        await repo.add_keys(made)
    integration = FhirIntegration(
        clinic_id=clinic_id,
        base_url=body.base_url.rstrip("/"),
        auth_type=auth.type,
        auth_token=auth.token,
        token_url=auth.token_url,
        client_id=auth.client_id,
        scope=auth.scope,
        signing_algorithm=(auth.algorithm or "RS384") if auth.type == "smart_backend" else None,
        mrn_system=body.mrn_system,
        enabled=body.enabled,
        updated_at=now,
    )
    return _integration_out(await repo.save(integration), settings.public_base_url)


def integration_summary(integration: IntegrationOut) -> str:
    """The integration in a line for the admin trail: where, how, on or off; never a credential."""
    return f"{integration.base_url} ({integration.auth.type}, {'enabled' if integration.enabled else 'disabled'})"


async def test_connection(session: AsyncSession, clinic_id: uuid.UUID, settings: Settings) -> ConnectionTest:
    """Send the clinic's FHIR server a harmless request (GET {base_url}/metadata) with the
    integration's credentials, enabled or not, and say how it went as the export would."""
    repo = IntegrationRepository(session, clinic_id)
    integration = await repo.get()
    if integration is None:
        raise IntegrationNotConfigured("this clinic has no FHIR integration; PUT one first")
    found = await repo.keys()
    # The connection goes back to the pool (and SQLite's write lock is let go) while the FHIR
    # server takes its time.
    await session.commit()

    async def newest_key(_clinic_id: uuid.UUID, algorithm: str) -> IntegrationKey | None:
        return next((k for k in reversed(found) if k.algorithm == algorithm), None)

    return await probe.probe(integration, settings, newest_key)


async def stored_token(session: AsyncSession, clinic_id: uuid.UUID) -> str | None:
    """The integration's bearer token, for a form that keeps it unless a new one is typed (it is
    never shown)."""
    integration = await IntegrationRepository(session, clinic_id).get()
    return integration.auth_token if integration else None


def _item_out(item: ExportItem) -> ExportItemOut:
    return ExportItemOut.model_validate(
        {**item.model_dump(), "next_attempt_at": item.next_attempt_at if item.status == "pending" else None}
    )


async def list_exports(session: AsyncSession, clinic_id: uuid.UUID, query: ExportQuery) -> ExportPage:
    after = decode_cursor(query.cursor, datetime, uuid.UUID) if query.cursor else None
    rows = await ExportRepository(session, clinic_id).page(query.status, after, query.limit + 1)
    items, next_cursor = page(rows, query.limit, lambda i: (i.created_at, i.id))
    return ExportPage(items=[_item_out(i) for i in items], next_cursor=next_cursor)


async def retry(session: AsyncSession, clinic_id: uuid.UUID, item_id: uuid.UUID) -> ExportItemOut:
    """Give a dead export a fresh set of attempts, due now."""
    repo = ExportRepository(session, clinic_id)
    revived = await repo.revive(item_id, utcnow())
    if revived is None:
        if await repo.get(item_id) is None:
            raise ExportNotFound(f"no export {item_id}")
        raise ExportNotDead("only a dead export can be retried; pending ones are retried by the worker")
    return _item_out(revived)


def intake_questionnaire() -> dict[str, Any]:
    """The intake form as a FHIR Questionnaire: also what the embedded web form is drawn from."""
    return questionnaire()


async def referral_bundle(session: AsyncSession, principal: Principal, referral_id: uuid.UUID) -> dict[str, Any]:
    """The referral as a FHIR transaction Bundle, for a person or integration reading it (audited)."""
    referral = await referrals.view(session, principal, referral_id)
    if referral.erased_at is not None:
        raise referrals.ReferralErased("the patient's data was erased; only statistics are kept")
    answers = await intake.stored(session, principal.clinic_id, referral.intake_id)
    return build_bundle(answers, referral, mrn_system=await mrn_system(session, principal.clinic_id))


async def mrn_system(session: AsyncSession, clinic_id: uuid.UUID) -> str | None:
    """The URI of the clinic's MRNs, if its integration names one: Bundles read through the API
    name the patient as the ones sent do."""
    integration = await IntegrationRepository(session, clinic_id).get()
    return integration.mrn_system if integration else None


@dataclass(frozen=True)
class DeliveryRecord:
    """What an export sends, read for a whole batch at once: the referral as it is, and its
    intake's answers (None once erased)."""

    referral: ReferralOut
    answers: StoredIntake | None


async def delivery_records(
    session: AsyncSession, wanted: dict[uuid.UUID, list[uuid.UUID]]
) -> dict[uuid.UUID, DeliveryRecord]:
    """The referrals (by clinic) and their intakes, two queries per clinic rather than two per
    export and a session each: those were most of a delivery's database work (bench/)."""
    found: dict[uuid.UUID, DeliveryRecord] = {}
    for clinic_id, referral_ids in wanted.items():
        current = await referrals.current_many(session, clinic_id, referral_ids)
        kept_ids = [r.intake_id for r in current.values() if r.erased_at is None]
        kept = {c.intake.id: c.intake for c in await intake.kept_by_ids(session, clinic_id, kept_ids)}
        found |= {rid: DeliveryRecord(ref, kept.get(ref.intake_id)) for rid, ref in current.items()}
    return found


def bundle_of(record: DeliveryRecord, mrn_system: str | None) -> dict[str, Any] | None:
    """The Bundle the worker sends: the referral as read for its batch; None once the patient's
    data is erased (there is nothing left to send)."""
    if record.referral.erased_at is not None or record.answers is None:
        return None
    # Not validated again here: validation is most of a delivery's CPU, and the mapping is the
    # same code that every API read validates and that the tests validate on every vignette.
    # A Bundle a receiver refuses ends `dead` with its OperationOutcome, to be retried once fixed.
    return build_bundle(record.answers, record.referral, mrn_system=mrn_system, validate=False)


async def delivery_bundle(
    session: AsyncSession, clinic_id: uuid.UUID, referral_id: uuid.UUID, mrn_system: str | None
) -> dict[str, Any] | None:
    """One referral's Bundle as the worker would send it now (None once erased)."""
    record = (await delivery_records(session, {clinic_id: [referral_id]})).get(referral_id)
    if record is None:
        raise referrals.ReferralNotFound(f"no referral {referral_id}")
    return bundle_of(record, mrn_system)


def patient_bundle(records: list[tuple[StoredIntake, ReferralOut]]) -> dict[str, Any]:
    """One patient's referrals (oldest first) as a FHIR collection Bundle with one Patient."""
    bundles = [build_bundle(answers, referral, with_patient=True) for answers, referral in records]
    return collection(bundles, utcnow())


async def exports_of(
    session: AsyncSession, clinic_id: uuid.UUID, referral_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[ExportItemOut]]:
    """Each referral's outbox items, oldest first."""
    found: dict[uuid.UUID, list[ExportItemOut]] = {referral_id: [] for referral_id in referral_ids}
    for item in await ExportRepository(session, clinic_id).for_referrals(referral_ids):
        found[item.referral_id].append(_item_out(item))
    return found


async def stop_exports(
    session: AsyncSession, clinic_id: uuid.UUID, referral_ids: list[uuid.UUID], now: datetime
) -> tuple[int, int]:
    """The patient's data is being erased: nothing more of it may go out. Returns how many pending
    exports were stopped (dead, last_error "erased") and how many a worker is sending right now."""
    return await ExportRepository(session, clinic_id).stop(referral_ids, ERASED, now)


async def counts_by_status(
    session: AsyncSession, principal: Principal, start: datetime, end: datetime
) -> dict[str, int]:
    """The clinic's exports made over [start, end) by status (delivered, pending, dead), for the dashboard."""
    found = await ExportStatsRepository(session, principal.clinic_id).by_status(start, end)
    return {status: found.get(status, 0) for status in ("delivered", "pending", "dead")}
