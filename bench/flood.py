"""A login flood for `make bench`: random emails from random addresses (as a proxy reports them),
as many at once as asked, for a number of seconds. Prints a JSON count of the answers.

    python -m bench.flood BASE SECONDS CONCURRENCY
"""

import asyncio
import json
import random
import sys
import time
import uuid
from collections import Counter

import httpx


async def flood(base: str, seconds: float, concurrency: int) -> Counter[int]:
    answers: Counter[int] = Counter()
    deadline = time.monotonic() + seconds

    async def one(http: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            address = f"198.18.{random.randrange(256)}.{random.randrange(1, 255)}"  # noqa: S311 - load, not security
            form = {"username": f"{uuid.uuid4().hex}@example.org", "password": "guess-guess"}
            try:
                response = await http.post("/v1/auth/token", data=form, headers={"X-Forwarded-For": address})
                answers[response.status_code] += 1
            except httpx.HTTPError:
                answers[0] += 1

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        await asyncio.gather(*(one(http) for _ in range(concurrency)))
    return answers


if __name__ == "__main__":
    base, seconds, concurrency = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    print(json.dumps(dict(asyncio.run(flood(base, seconds, concurrency)))))
