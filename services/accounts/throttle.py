"""How failed logins slow further attempts down.

Failures are counted three ways, each under an HMAC of what it counts (no address or email is
stored in clear): by client address (one machine guessing at many accounts), by account from
one address (guessing one account's password), and by account from anywhere (guessing spread
over many addresses). Past a few free failures each one delays the next attempt, doubling up to
a ceiling; the delay for an account from anywhere stays short, so a stranger cannot keep the
real user out, who logs in from another address. Counts start afresh after a quiet window.
"""

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta

from services.core.config import Settings

WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class Counter:
    key: str
    free: int  # failures before any delay
    max_delay: float  # seconds


def counters(settings: Settings, address: str, email: str) -> list[Counter]:
    secret = settings.secret_key.get_secret_value().encode()

    def key(kind: str, value: str) -> str:
        return hmac.new(secret, f"login-throttle:{kind}:{value}".encode(), hashlib.sha256).hexdigest()

    return [
        Counter(key("address", address), settings.login_free_failures_per_address, settings.login_max_delay_seconds),
        Counter(key("account-address", f"{email}|{address}"), settings.login_free_failures,
                settings.login_max_delay_seconds),
        Counter(key("account", email), settings.login_free_failures_per_account, 60),
    ]  # fmt: skip


def delay(failures: int, counter: Counter) -> float:
    """Seconds before the next attempt after `failures` failures: 1, 2, 4, ... up to the ceiling."""
    if failures < counter.free:
        return 0.0
    return float(min(counter.max_delay, 2 ** (failures - counter.free)))
