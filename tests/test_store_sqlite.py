"""SQLite-only behaviour under webhook load (issue 13: answers stalled while webhooks were
written): lookups never wait for the writer, and the writer keeps the WAL short by checkpointing
after each batch. Real files, through the store's public API; the other end is a plain sqlite3
connection, as another whymail process would be."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.model import DeliveryEvent, EventType
from bot.sources.store import open_store

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def event(n: int, recipient: str = "ola@firma.no") -> DeliveryEvent:
    return DeliveryEvent(
        provider="postmark",
        event_type=EventType.DELIVERED,
        timestamp=T0 + timedelta(seconds=n),
        recipient=recipient,
        message_id=f"m{n}",
        dispatch_id=f"d{n}",
        tenant="acme",
        raw={"MessageID": f"m{n}", "Details": "x" * 1000},
    )


async def test_a_lookup_does_not_wait_for_a_write_that_waits_for_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = await open_store(str(path))
    try:
        assert await store.add_events([event(1)]) == 1
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds SQLite's one write lock
        try:
            # A prune asks for the lock with its very first statement (BEGIN IMMEDIATE), so by
            # the time the lookup below is sent the write is certainly waiting for the lock.
            write = asyncio.create_task(store.prune(timedelta(days=36500)))
            await asyncio.sleep(0)
            found = await store.events_for_recipient("ola@firma.no")
            assert [e.message_id for e in found] == ["m1"]
            assert not write.done()
        finally:
            other.execute("ROLLBACK")
            other.close()
        # On a connection shared with the writer the lookup queued behind the waiting write,
        # which gave up on the lock ("database is locked") before this test let the lock go.
        assert await write == 0
        assert await store.add_events([event(2)]) == 1
    finally:
        await store.close()


async def test_the_writer_checkpoints_each_batch_so_the_wal_stays_short(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    wal = tmp_path / "s.sqlite3-wal"
    store = await open_store(str(path))
    try:
        wal_peak = 0
        for batch in range(100):  # about 5 MB of events, 50 at a time, as webhooks come
            before = path.stat().st_size
            events = [event(batch * 50 + i, f"u{i % 7}@firma.no") for i in range(50)]
            assert await store.add_events(events) == 50
            # Checkpointed before add_events returned: the rows are in the database file
            # already, not only in the WAL.
            assert path.stat().st_size > before, f"batch {batch} was not checkpointed"
            assert len(await store.events_for_recipient("u1@firma.no", limit=1)) == 1
            wal_peak = max(wal_peak, wal.stat().st_size)
        # Left to SQLite's autocheckpoint (1,000 pages) the WAL reaches about 4 MiB; checkpointed
        # after each batch it holds one batch (about 0.5 MiB here).
        assert wal_peak < 1 << 20
    finally:
        await store.close()
