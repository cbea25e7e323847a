"""Shared fixtures: real DNS servers on loopback, real stores, and the CLI as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.sources.store import Store, open_store
from tests.dnsfixtures import (
    blackhole,
    dns_server,
    knot_server,
    localdns_server,
    slow_dns_server,
)
from tests.pgfixtures import pg_url

__all__ = [
    "blackhole",
    "dns_server",
    "knot_server",
    "localdns_server",
    "pg_url",
    "slow_dns_server",
]

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh store of each backend: SQLite in a file (WAL needs a real file, not :memory:),
    PostgreSQL in a schema of its own (see tests/pgfixtures.py)."""
    if request.param == "sqlite":
        s = await open_store(str(tmp_path / "store.sqlite3"))
    else:
        s = await open_store(request.getfixturevalue("pg_url"))
    yield s
    await s.close()


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


@dataclass
class Whymail:
    """Runs `python -m bot` as users do, with its own store and DNS settings."""

    env: dict[str, str]

    def __call__(self, *args: str, stdin: str | None = None, timeout: float = 60) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "bot", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            cwd=ROOT,
            timeout=timeout,
            check=False,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def with_env(self, **extra: str) -> Whymail:
        return Whymail({**self.env, **extra})


def _base_env(tmp_path: Path, extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WHYMAIL_", "SLACK_"))}
    env.update({"WHYMAIL_STORE": str(tmp_path / "cli.sqlite3"), "WHYMAIL_DNS_TIMEOUT": "1"})
    # The one-shot CLI keeps parsed trees in the user's cache folder; a test run keeps its own.
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    env.update(extra)
    return env


@pytest.fixture(autouse=True, scope="session")
def _own_cache_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """In-process loads cache parsed trees too: into the run's own folder, not the user's."""
    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if saved is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = saved


@pytest.fixture
def whymail(tmp_path: Path, localdns_server: Any) -> Whymail:
    return Whymail(_base_env(tmp_path, {"WHYMAIL_DNS_NAMESERVERS": localdns_server.address}))
