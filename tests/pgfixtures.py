"""A real PostgreSQL for the store tests: the machine's server, one fresh schema per test.

Each test gets `CREATE SCHEMA t_<random>` and a store URL whose `search_path` points at it, so
tests never see each other's rows and can run in parallel; the schema is dropped afterwards.
Without a reachable server the PostgreSQL tests are skipped with the reason, except under CI,
where a skip would hide a gap, so they fail instead.

tests/conftest.py imports `pg_url`; test modules take it as a fixture, never import it.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import asyncpg
import pytest

__all__ = ["PG_URL", "pg_url", "with_search_path"]

PG_URL = os.environ.get("WHYMAIL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
_CONNECT_TIMEOUT = 5.0
_unreachable: list[str] = []
_probed: list[bool] = []
T = TypeVar("T")


def with_search_path(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}search_path={schema}"


def _in_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Run admin statements on a loop of their own: `pg_url` is a plain fixture, so that the
    async `store` fixture can ask for it while its own loop is running."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _execute(sql: str) -> None:
    conn = await asyncpg.connect(PG_URL, timeout=_CONNECT_TIMEOUT)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _require_server() -> None:
    """Skip (fail under CI) with the reason when there is no server to test against."""
    if not _probed:
        _probed.append(True)
        try:
            _in_thread(_execute("SELECT 1"))
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            _unreachable.append(
                f"PostgreSQL not reachable at {PG_URL} ({exc}); start one or set "
                "WHYMAIL_TEST_POSTGRES"
            )
    if _unreachable:
        if os.environ.get("CI"):
            pytest.fail(f"{_unreachable[0]} (CI must test PostgreSQL, not skip it)")
        pytest.skip(_unreachable[0])


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A store URL for a fresh, empty schema of the test database."""
    _require_server()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    _in_thread(_execute(f'CREATE SCHEMA "{schema}"'))
    try:
        yield with_search_path(PG_URL, schema)
    finally:
        _in_thread(_execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
