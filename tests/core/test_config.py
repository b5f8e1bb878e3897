import pytest
from pydantic import ValidationError

from services.core.config import DEV_SECRET, Settings


def test_default_secret_is_refused_outside_development() -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment="production", secret_key=DEV_SECRET)
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment="production", secret_key="short")
    assert Settings(environment="development").secret_key.get_secret_value() == DEV_SECRET


def test_environment_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKSTRIDE_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    assert Settings().environment == "production"
    monkeypatch.delenv("SECRET_KEY")
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///./x.db", "sqlite+aiosqlite:///./x.db"),
    ],
)
def test_database_url_gets_the_async_driver(given: str, expected: str) -> None:
    assert Settings(database_url=given, secret_key="s" * 40).database_url == expected


def test_postgresql_refuses_the_development_secret_whatever_the_environment() -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment="development", database_url="postgresql://u@h/db")


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url"])
def test_unsupported_database_url_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="DATABASE_URL"):
        Settings(database_url=url)
