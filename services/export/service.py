"""Export rules: which clinic wants what sent where, the outbox, and the Bundles it carries."""

import asyncio
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core import events, observability, outbound
from services.core.db import utcnow
from services.core.errors import Conflict, NotFound
from services.core.pagination import decode_cursor, page
from services.core.principal import Principal
from services.export.fhir.collection import collection
from services.export.fhir.mapping import build_bundle
from services.export.fhir.questionnaire import questionnaire
from services.export.models import ExportItem, FhirIntegration
from services.export.repository import ExportRepository, IntegrationRepository, OutboxRepository
from services.export.schemas import AuthOut, ExportItemOut, ExportPage, ExportQuery, IntegrationIn, IntegrationOut
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


def _integration_out(integration: FhirIntegration) -> IntegrationOut:
    return IntegrationOut(
        base_url=integration.base_url,
        auth=AuthOut(type=integration.auth_type, token_set=integration.auth_token is not None),
        enabled=integration.enabled,
        updated_at=integration.updated_at,
    )


async def get_integration(session: AsyncSession, clinic_id: uuid.UUID) -> IntegrationOut:
    integration = await IntegrationRepository(session, clinic_id).get()
    if integration is None:
        raise IntegrationNotConfigured("this clinic has no FHIR integration; PUT one first")
    return _integration_out(integration)


async def check_destination(base_url: str, allowed_networks: str = "") -> None:
    """In production, patient data goes over https to a public host only: not to this machine,
    a private network or a cloud metadata address, named by an IP literal in any form or by a
    name resolving to one (core/outbound.py), unless the deployment allows that network. The
    worker checks again at every delivery."""
    await asyncio.to_thread(outbound.check_url, base_url, outbound.parse_networks(allowed_networks))


async def put_integration(
    session: AsyncSession, clinic_id: uuid.UUID, body: IntegrationIn, *, production: bool, allowed_networks: str = ""
) -> IntegrationOut:
    if production:
        await check_destination(body.base_url, allowed_networks)
    integration = FhirIntegration(
        clinic_id=clinic_id,
        base_url=body.base_url.rstrip("/"),
        auth_type=body.auth.type,
        auth_token=body.auth.token,
        enabled=body.enabled,
        updated_at=utcnow(),
    )
    return _integration_out(await IntegrationRepository(session, clinic_id).save(integration))


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
    return build_bundle(answers, referral)


async def delivery_bundle(session: AsyncSession, clinic_id: uuid.UUID, referral_id: uuid.UUID) -> dict[str, Any] | None:
    """The Bundle the worker sends: the referral as it is at delivery time; None once the
    patient's data is erased (there is nothing left to send)."""
    referral = await referrals.current(session, clinic_id, referral_id)
    if referral.erased_at is not None:
        return None
    answers = await intake.stored(session, clinic_id, referral.intake_id)
    # Not validated again here: validation is most of a delivery's CPU, and the mapping is the
    # same code that every API read validates and that the tests validate on every vignette.
    # A Bundle a receiver refuses ends `dead` with its OperationOutcome, to be retried once fixed.
    return build_bundle(answers, referral, validate=False)


def patient_bundle(records: list[tuple[StoredIntake, ReferralOut]]) -> dict[str, Any]:
    """One patient's referrals (oldest first) as a FHIR collection Bundle with one Patient."""
    return collection([build_bundle(answers, referral) for answers, referral in records], utcnow())


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
