import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services.clinics import service
from services.core.auth import authenticate
from services.core.config import Settings
from services.core.errors import Conflict, Unauthorized, Unprocessable

SETTINGS = Settings()


async def test_create_clinic_issues_working_keys(session: AsyncSession) -> None:
    created = await service.create_clinic(
        session, name="Riverside Physio", slug="riverside", origins=["https://Riverside.example/"]
    )
    assert created.secret_key.startswith("sk_") and created.publishable_key.startswith("pk_")
    secret = await authenticate(session, SETTINGS, created.secret_key)
    publishable = await authenticate(session, SETTINGS, created.publishable_key)
    assert secret.clinic_id == publishable.clinic_id == created.clinic_id
    assert secret.scopes == frozenset(service.SECRET_SCOPES)
    assert publishable.scopes == frozenset({"intake:write"})
    assert publishable.allowed_origins == ("https://riverside.example",)


async def test_duplicate_slug_conflicts(session: AsyncSession) -> None:
    await service.create_clinic(session, name="A", slug="same-slug", origins=[])
    with pytest.raises(Conflict):
        await service.create_clinic(session, name="B", slug="same-slug", origins=[])


@pytest.mark.parametrize("slug", ["", "UPPER", "-edge", "has space", "x" * 65])
async def test_bad_slug_is_refused(session: AsyncSession, slug: str) -> None:
    with pytest.raises(Unprocessable):
        await service.create_clinic(session, name="A", slug=slug, origins=[])


@pytest.mark.parametrize("origin", ["clinic.example", "ftp://clinic.example", "https://clinic.example/path"])
async def test_bad_origin_is_refused(session: AsyncSession, origin: str) -> None:
    with pytest.raises(Unprocessable):
        await service.create_clinic(session, name="A", slug="origin-test", origins=[origin])


async def test_rotate_keys_revokes_the_old_pair(session: AsyncSession) -> None:
    old = await service.create_clinic(session, name="A", slug="rotating", origins=[])
    new = await service.rotate_keys(session, "rotating")
    assert new.clinic_id == old.clinic_id
    await authenticate(session, SETTINGS, new.secret_key)
    for key in (old.secret_key, old.publishable_key):
        with pytest.raises(Unauthorized):
            await authenticate(session, SETTINGS, key)
