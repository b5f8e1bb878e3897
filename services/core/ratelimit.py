"""Abuse limits: token buckets kept in the process.

Each API process limits on its own, so N replicas allow up to N times the rate; that
is enough to blunt floods from one key or address (the point here) without a shared
store. Buckets are keyed by (kind, key); full, idle buckets are dropped as they refill.
"""

import math
import time
from dataclasses import dataclass

from services.core.errors import ServiceError

_MAX_BUCKETS = 50_000


class RateLimited(ServiceError):
    status, title, slug = 429, "Too many requests", "rate-limited"

    def __init__(self, retry_after: float) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(f"too many requests; retry in {seconds} s", headers={"Retry-After": str(seconds)})


@dataclass
class _Bucket:
    tokens: float
    updated: float


class Limiter:
    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def hit(self, kind: str, key: str, per_minute: int, now: float | None = None) -> None:
        """Take one token from the bucket, or raise RateLimited with how long until one is back."""
        now = time.monotonic() if now is None else now
        rate = per_minute / 60.0
        bucket = self._buckets.get((kind, key)) or _Bucket(tokens=float(per_minute), updated=now)
        bucket.tokens = min(float(per_minute), bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens < 1:
            self._buckets[(kind, key)] = bucket
            raise RateLimited((1 - bucket.tokens) / rate)
        bucket.tokens -= 1
        self._buckets[(kind, key)] = bucket
        if len(self._buckets) > _MAX_BUCKETS:
            self._prune(now, rate)

    def _prune(self, now: float, rate: float) -> None:
        idle = [k for k, b in self._buckets.items() if (now - b.updated) * rate > 60]
        for key in idle or list(self._buckets)[: _MAX_BUCKETS // 10]:
            del self._buckets[key]
