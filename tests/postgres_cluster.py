"""Where PostgreSQL's server programs are, for tests that run a private cluster of their own
(initdb in a temp folder, pg_ctl to start, stop and restart it).

`server_bin_dir()` looks, in order, at: $BACKSTRIDE_PG_BIN; the folder of the running server's
own executable (the version the suite already talks to); `pg_config --bindir`; Debian's
/usr/lib/postgresql/<version>/bin, newest first; and `initdb` on the PATH. Where none has
them, the test is skipped, unless PostgreSQL is required (CI): then it fails.
"""

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.live import free_port

PROGRAMS = ("initdb", "pg_ctl", "postgres")


def postgres_required() -> bool:
    """BACKSTRIDE_REQUIRE_POSTGRES=1 (.ci/run sets it) or CI: a test needing PostgreSQL may not skip."""
    return any(os.environ.get(name, "") not in ("", "0") for name in ("BACKSTRIDE_REQUIRE_POSTGRES", "CI"))


def _running_servers() -> Iterator[Path]:
    """The folders of running `postgres` executables (readable for our own processes, or as root)."""
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            executable = Path(os.readlink(proc / "exe"))
        except OSError:  # gone, or another user's
            continue
        if executable.name == "postgres":
            yield executable.parent


def _pg_config() -> Iterator[Path]:
    if pg_config := shutil.which("pg_config"):
        try:
            found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return
        yield Path(found.stdout.strip())


def _debian_versions() -> Iterator[Path]:
    def version(folder: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", folder.parent.name))

    yield from sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)


def _on_path() -> Iterator[Path]:
    if initdb := shutil.which("initdb"):
        yield Path(initdb).resolve().parent


def _candidates() -> Iterator[Path]:
    if given := os.environ.get("BACKSTRIDE_PG_BIN"):
        yield Path(given)
    yield from _running_servers()
    yield from _pg_config()
    yield from _debian_versions()
    yield from _on_path()


def find_server_bin_dir() -> Path | None:
    """The first folder holding initdb, pg_ctl and postgres, all executable; None when there is none."""
    seen: set[Path] = set()
    for folder in _candidates():
        if folder in seen:
            continue
        seen.add(folder)
        if all(os.access(folder / program, os.X_OK) for program in PROGRAMS):
            return folder
    return None


def server_bin_dir() -> Path:
    """The server programs' folder, for a test or fixture: skips when there is none, fails where required."""
    found = find_server_bin_dir()
    if found is None:
        message = f"PostgreSQL's server programs ({', '.join(PROGRAMS)}) are not installed"
        if postgres_required():
            pytest.fail(f"{message}, and PostgreSQL is required here (BACKSTRIDE_REQUIRE_POSTGRES or CI)")
        pytest.skip(message)
    return found


def as_postgres(*command: str) -> list[str]:
    # initdb and postgres refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


class Cluster:
    """A throwaway PostgreSQL cluster on a free port (trust auth, user root, fsync off)."""

    def __init__(self, root: Path, bin_dir: Path) -> None:
        self.bin, self.data, self.log, self.port = bin_dir, root / "data", root / "postgres.log", free_port()
        if os.geteuid() == 0:
            shutil.chown(root, "postgres")
        initdb = [str(self.bin / "initdb"), "-D", str(self.data), "-U", "root", "--auth=trust", "-E", "UTF8"]
        subprocess.run(as_postgres(*initdb), check=True, capture_output=True, timeout=120)
        self.options = f"-p {self.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"

    def ctl(self, *action: str, check: bool = True) -> None:
        # The server's output goes to a log file: a pipe would be held open by the postmaster.
        command = [str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", self.options, "-w"]
        subprocess.run(
            as_postgres(*command, *action),
            check=check,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://root@127.0.0.1:{self.port}/postgres"


@contextmanager
def private_cluster() -> Iterator[Cluster]:
    """A started cluster, stopped and removed afterwards (skips, or fails where required, without
    PostgreSQL's server programs)."""
    bin_dir = server_bin_dir()
    # Not pytest's tmp_path: the postgres user must be able to reach the folder.
    root = Path(tempfile.mkdtemp(prefix="backstride-pg-"))
    try:
        cluster = Cluster(root, bin_dir)
        cluster.ctl("start")
        yield cluster
        cluster.ctl("-m", "immediate", "stop", check=False)  # a failed test may have left it stopped
    finally:
        shutil.rmtree(root, ignore_errors=True)
