"""The embedded store: SQLite in WAL mode through aiosqlite.

aiosqlite runs the blocking sqlite3 calls on one worker thread per connection, so the event loop
that serves Slack never waits on disk. WAL lets the CLI read while `whymail serve` writes.

A store holds two connections, one that writes and one that reads, each on its own thread. On
one shared connection every lookup queued behind the webhook writer's commit and, every thousand
pages, behind the checkpoint SQLite ran inside that commit, so answers stalled under webhook
load. WAL readers never wait for a writer, so lookups now have a connection of their own.

Only the writer checkpoints, PASSIVE, after each of its transactions (so between the
group-commit writer's batches), and `wal_autocheckpoint` is off on both connections. Each
checkpoint then copies about one batch's pages, where SQLite's own would copy a thousand at
once every few batches; those bursts still showed in the slowest answers on the reader's own
connection (bench/store.py --under-load). The price is a few milliseconds more before a webhook
is acknowledged. A lookup that is reading while a checkpoint runs keeps the pages it still
needs in the WAL for the next checkpoint, so under steady reading the WAL is a few batches long.
A `:memory:` database exists only inside its one connection, so there that connection does both.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosqlite

from bot.model import DeliveryEvent, Dispatch
from bot.sources.store import shared
from bot.sources.store.base import AlertClaim, StoreError
from bot.sources.store.migrations import pending_migrations

log = logging.getLogger(__name__)

_WRITER_PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 5000",
    "PRAGMA wal_autocheckpoint = 0",  # it checkpoints after each transaction instead
)
# query_only: a write through the reader would bypass the write lock, so it fails loudly
# instead. busy_timeout: a reader can still meet a busy WAL index for a moment, e.g. while
# another process recovers the WAL.
_READER_PRAGMAS = (
    "PRAGMA busy_timeout = 5000",
    "PRAGMA wal_autocheckpoint = 0",
    "PRAGMA query_only = ON",
)
_IN_MEMORY = ("", ":memory:")

_INSERT_EVENT = (
    f"INSERT INTO events ({shared.EVENT_COLUMNS}) "
    f"VALUES ({', '.join('?' * len(shared.EVENT_FIELDS))}) "
    "ON CONFLICT (dedupe_key) DO NOTHING"
)
_UPSERT_DISPATCH = f"""
INSERT INTO dispatches ({shared.DISPATCH_COLUMNS})
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    tenant = excluded.tenant, kind = excluded.kind, subject = excluded.subject,
    sender = excluded.sender, created_at = excluded.created_at, state = excluded.state,
    internal_error = excluded.internal_error, reply_to = excluded.reply_to, relay = excluded.relay
"""
# GROUP BY: an address listed twice on one dispatch (to and cc) is one dispatch.
_DISPATCHES_FOR_RECIPIENT = shared.Lookup.of(
    shared.question_marks,
    f"SELECT {shared.JOINED_DISPATCH_COLUMNS} FROM dispatches d "
    "JOIN dispatch_recipients r ON r.dispatch_id = d.id WHERE r.address = ?",
    " GROUP BY d.id ORDER BY d.created_at DESC LIMIT ?",
    tenant="d.tenant",
)
_RECIPIENTS_OF = (
    "SELECT dispatch_id, address, role FROM dispatch_recipients "
    "WHERE dispatch_id IN ({marks}) ORDER BY role DESC, address"
)

_PRUNE_CHUNK = 20_000
_PRUNE_EVENTS = "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE ts < ? LIMIT ?)"
_PRUNE_DISPATCHES = """
DELETE FROM dispatches
WHERE (created_at < ?1
       OR (created_at IS NULL
           AND EXISTS (SELECT 1 FROM events e WHERE e.dispatch_id = dispatches.id)))
  AND NOT EXISTS (SELECT 1 FROM events e WHERE e.dispatch_id = dispatches.id AND e.ts >= ?2)
"""


class SQLiteStore(shared.SQLStore):
    _sql = shared.SQLITE

    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self._write = writer
        self._read = reader
        # One transaction at a time on the writer: two callers' BEGINs on one connection would
        # collide, and a statement sent between another's BEGIN and COMMIT would join (or be
        # rolled back with) that transaction.
        self._writing = asyncio.Lock()

    @classmethod
    async def open(cls, path: str) -> SQLiteStore:
        writer = await _connect(path, _WRITER_PRAGMAS)
        try:
            await _migrate(writer)
        except sqlite3.Error as exc:
            await writer.close()
            raise StoreError(f"cannot prepare the SQLite store at {path}: {exc}") from exc
        if path in _IN_MEMORY:
            return cls(writer, writer)
        try:
            reader = await _connect(path, _READER_PRAGMAS)
        except BaseException:
            await writer.close()
            raise
        return cls(writer, reader)

    async def close(self) -> None:
        if self._read is not self._write:
            await self._read.close()
        await self._write.close()

    async def add_events(self, events: Sequence[DeliveryEvent]) -> int:
        if not events:
            return 0
        async with self._transaction() as db:
            before = db.total_changes
            await db.executemany(_INSERT_EVENT, [_event_row(e) for e in events])
            return db.total_changes - before

    async def put_dispatches(self, dispatches: Sequence[Dispatch]) -> int:
        if not dispatches:
            return 0
        latest = {d.id: d for d in dispatches}  # a later record of the same dispatch wins
        rows = [
            shared.dispatch_row(d, d.created_at.isoformat() if d.created_at else None)
            for d in latest.values()
        ]
        recipients = [
            (d.id, r.address.lower(), r.role.value) for d in latest.values() for r in d.recipients
        ]
        # Three statements for the whole batch, not three per dispatch: each `await` is a trip
        # to aiosqlite's thread.
        async with self._transaction() as db:
            await db.executemany(_UPSERT_DISPATCH, rows)
            await db.executemany(
                "DELETE FROM dispatch_recipients WHERE dispatch_id = ?", [(i,) for i in latest]
            )
            await db.executemany(
                "INSERT OR IGNORE INTO dispatch_recipients VALUES (?, ?, ?)", recipients
            )
        return len(dispatches)

    async def dispatches_for_recipient(
        self, address: str, tenant: str | None = None, limit: int = 20
    ) -> list[Dispatch]:
        sql, args = _DISPATCHES_FOR_RECIPIENT.bind(address.lower(), tenant, limit)
        return await self._dispatches(sql, args)

    async def known_recipients(self, domain: str, limit: int = 200) -> list[str]:
        pattern = "%@" + domain.lower().replace("%", "").replace("_", "")
        async with self._read.execute(
            "SELECT address FROM dispatch_recipients WHERE address LIKE ? "
            "UNION SELECT recipient FROM events WHERE recipient LIKE ? LIMIT ?",
            (pattern, pattern, limit),
        ) as cursor:
            return [row[0] for row in await cursor.fetchall()]

    async def prune(self, older_than: timedelta) -> int:
        """Delete in chunks, each its own short write transaction, so a running `whymail serve`
        keeps storing webhooks while a large prune goes on (SQLite has one writer at a time).
        Dispatches go by the same rule as on PostgreSQL (see PostgresStore.prune)."""
        cutoff = (datetime.now(UTC) - older_than).isoformat(timespec="microseconds")
        async with self._transaction("BEGIN IMMEDIATE") as db:
            await db.execute(_PRUNE_DISPATCHES, (cutoff, cutoff))
            await db.execute(
                "DELETE FROM webhook_tokens WHERE expires_at < ?", (datetime.now(UTC).isoformat(),)
            )
            await db.execute("DELETE FROM alerts_sent WHERE sent_at < ?", (cutoff,))
        removed = 0
        while True:
            async with self._transaction("BEGIN IMMEDIATE") as db:
                before = db.total_changes
                await db.execute(_PRUNE_EVENTS, (cutoff, _PRUNE_CHUNK))
                done = db.total_changes - before
            removed += done
            if done < _PRUNE_CHUNK:
                return removed

    async def kv_put(self, scope: str, key: str, value: str) -> None:
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO kv VALUES (?, ?, ?, ?) ON CONFLICT (scope, key) DO UPDATE "
                "SET value = excluded.value, updated_at = excluded.updated_at",
                (scope, key, value, datetime.now(UTC).isoformat(timespec="seconds")),
            )

    async def claim_token(
        self, scope: str, token: str, fingerprint: str, expires: datetime
    ) -> bool:
        now = datetime.now(UTC).isoformat()
        async with self._transaction("BEGIN IMMEDIATE") as db:
            async with db.execute(
                "SELECT fingerprint, expires_at FROM webhook_tokens WHERE scope = ? AND token = ?",
                (scope, token),
            ) as cursor:
                found = await cursor.fetchone()
            if found is not None and found[1] >= now:
                return bool(found[0] == fingerprint)
            await db.execute(
                "INSERT INTO webhook_tokens VALUES (?, ?, ?, ?) ON CONFLICT (scope, token) DO "
                "UPDATE SET fingerprint = excluded.fingerprint, expires_at = excluded.expires_at",
                (scope, token, fingerprint, expires.astimezone(UTC).isoformat()),
            )
            return True

    async def claim_alerts(self, claims: Sequence[AlertClaim]) -> list[bool]:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        won = []
        async with self._transaction("BEGIN IMMEDIATE") as db:
            for c in claims:
                before = db.total_changes
                await db.execute(
                    self._sql.claim_alert,
                    (c.dispatch_id, c.recipient.lower(), c.verdict, c.tenant, now),
                )
                won.append(db.total_changes > before)
        return won

    @asynccontextmanager
    async def _transaction(self, begin: str = "BEGIN") -> AsyncIterator[aiosqlite.Connection]:
        """The writer's one way to write: one transaction at a time, each followed by the
        checkpoint that copies it into the database file before the next one begins."""
        async with self._writing:
            await self._write.execute(begin)
            try:
                yield self._write
                await self._write.execute("COMMIT")
            except BaseException:
                # SQLite ends the transaction itself on some errors (a full disk, an I/O error);
                # a ROLLBACK then would raise and hide the error that matters.
                if self._write.in_transaction:
                    await self._write.execute("ROLLBACK")
                raise
            await _checkpoint(self._write)

    async def _events(self, sql: str, args: Sequence[Any]) -> list[DeliveryEvent]:
        # One trip to aiosqlite's thread (execute, fetch and close together), not three.
        rows = await self._read.execute_fetchall(sql, tuple(args))
        return [_event_from_row(row) for row in rows]

    async def _dispatches(self, sql: str, args: Sequence[Any]) -> list[Dispatch]:
        # Positional rows, no connection-wide row_factory: lookups overlap on the one reader
        # connection, and switching its factory under another query races.
        rows = await self._read.execute_fetchall(sql, tuple(args))
        if not rows:
            return []
        ids = shared.dispatch_ids(rows)
        marks = ", ".join("?" * len(ids))
        recipients = await self._read.execute_fetchall(_RECIPIENTS_OF.format(marks=marks), ids)
        return shared.dispatches_from_rows(rows, recipients, _time_or_none)

    async def _value(self, sql: str, args: Sequence[Any]) -> Any:
        async with self._read.execute(sql, tuple(args)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else row[0]


def _event_row(e: DeliveryEvent) -> tuple[Any, ...]:
    return shared.event_row(e, e.timestamp.isoformat(timespec="microseconds"))


def _event_from_row(row: Sequence[Any]) -> DeliveryEvent:
    return shared.event_from_row(row, datetime.fromisoformat(row[3]))


def _time_or_none(stored: str | None) -> datetime | None:
    return datetime.fromisoformat(stored) if stored else None


async def _connect(path: str, pragmas: Sequence[str]) -> aiosqlite.Connection:
    try:
        db = await aiosqlite.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the SQLite store at {path}: {exc}") from exc
    try:
        for pragma in pragmas:
            await db.execute(pragma)
    except sqlite3.Error as exc:
        await db.close()
        raise StoreError(f"cannot prepare the SQLite store at {path}: {exc}") from exc
    return db


async def _checkpoint(db: aiosqlite.Connection) -> None:
    """Copy committed WAL frames into the database file, as far as readers allow.

    A failure loses nothing (the transaction is committed and the WAL holds it), so it is
    logged, not raised: the webhook just stored must not be answered 503 and sent again for it,
    and the next transaction's checkpoint copies what this one could not.
    """
    try:
        await db.execute_fetchall("PRAGMA wal_checkpoint(PASSIVE)")
    except sqlite3.Error as exc:
        log.warning("SQLite checkpoint failed; the next write tries again: %s", exc)


async def _migrate(db: aiosqlite.Connection) -> None:
    await db.execute(shared.SQLITE.create_migrations)
    async with db.execute(shared.SQLITE.applied_migrations) as cursor:
        applied = {row[0] for row in await cursor.fetchall()}
    for migration in pending_migrations("sqlite", applied):
        await db.execute("BEGIN IMMEDIATE")
        try:
            async with db.execute(
                "SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,)
            ) as cursor:
                if await cursor.fetchone():
                    await db.execute("ROLLBACK")
                    continue
            for statement in migration.statements():
                await db.execute(statement)
            await db.execute(shared.SQLITE.record_migration, (migration.version, migration.name))
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        await db.execute("COMMIT")
        await _checkpoint(db)
