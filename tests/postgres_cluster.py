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
from collections.abc import Iterator
from pathlib import Path

import pytest

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
