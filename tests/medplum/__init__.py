"""Medplum's FHIR server and validator (from npm, pinned in package-lock.json), run by the tests
as Node processes: the server in tests/medplum/server.mjs, the validator in validate.mjs."""

import json
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.live import free_port, wait_ready

HERE = Path(__file__).parent


def node(script: str) -> list[str]:
    """The command that runs one of the scripts here. Medplum 5 wants Node 22, which has a global
    WebSocket; on Node 20 the same API is behind a flag (Medplum's client code refers to it at load)."""
    executable = shutil.which("node")
    if executable is None:
        raise RuntimeError("the Medplum tests need Node.js (apt-get install nodejs npm)")
    major = int(subprocess.run([executable, "--version"], capture_output=True, text=True, check=True).stdout[1:3])
    flags = ["--experimental-websocket"] if major < 22 else []
    return [executable, *flags, str(HERE / script)]


def validate(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each resource that Medplum's validator (every pinned version) finds an error in, with the errors."""
    done = subprocess.run(
        node("validate.mjs"), input=json.dumps(resources), capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"the validator failed: {done.stderr[-2000:]}")
    failures: list[dict[str, Any]] = json.loads(done.stdout)
    return failures


@dataclass
class Medplum:
    base: str

    @property
    def fhir_base(self) -> str:
        return f"{self.base}/fhir"

    def reset(self) -> None:
        httpx.post(f"{self.base}/_reset").raise_for_status()

    def control(self, **settings: Any) -> None:
        httpx.post(f"{self.base}/_control", json=settings).raise_for_status()

    def search(self, resource_type: str, **params: str) -> list[dict[str, Any]]:
        """Every match (Medplum pages at 20 by default; the tests ask for more than they make)."""
        answer = httpx.get(f"{self.fhir_base}/{resource_type}", params={"_count": "1000", **params})
        answer.raise_for_status()
        return [entry["resource"] for entry in answer.json().get("entry", [])]

    def create(self, resource: dict[str, Any]) -> dict[str, Any]:
        """A resource the EHR had before Backstride sent anything (POSTed as the EHR would)."""
        answer = httpx.post(f"{self.fhir_base}/{resource['resourceType']}", json=resource)
        answer.raise_for_status()
        created: dict[str, Any] = answer.json()
        return created

    def read(self, reference: str) -> dict[str, Any]:
        answer = httpx.get(f"{self.fhir_base}/{reference}")
        answer.raise_for_status()
        resource: dict[str, Any] = answer.json()
        return resource


@contextmanager
def medplum_server() -> Iterator[Medplum]:
    port = free_port()
    process = subprocess.Popen([*node("server.mjs"), str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process)
        yield Medplum(base)
    finally:
        process.terminate()
        process.wait(timeout=10)
