"""The embedded store: SQLite in WAL mode through aiosqlite.

aiosqlite runs the blocking sqlite3 calls on one worker thread per connection, so the event loop
that serves Slack never waits on disk. WAL lets the CLI read while `whymail serve` writes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosqlite

from bot.model import (
    DeliveryEvent,
    Dispatch,
    DispatchState,
    Recipient,
    Role,
    payload_json,
)
from bot.sources.store.base import (
    EVENT_COLUMNS,
    EVENT_FIELDS,
    StoreError,
    event_from_row,
    role_order,
)
from bot.sources.store.migrations import pending_migrations

_INSERT_EVENT = (
    f"INSERT INTO events ({EVENT_COLUMNS}) VALUES ({', '.join('?' * len(EVENT_FIELDS))}) "
    "ON CONFLICT (dedupe_key) DO NOTHING"
)
_UPSERT_DISPATCH = """
INSERT INTO dispatches (id, tenant, kind, subject, sender, created_at, state, internal_error)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    tenant = excluded.tenant, kind = excluded.kind, subject = excluded.subject,
    sender = excluded.sender, created_at = excluded.created_at, state = excluded.state,
    internal_error = excluded.internal_error
"""

_PRUNE_CHUNK = 20_000
_PRUNE_EVENTS = "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE ts < ? LIMIT ?)"
_PRUNE_DISPATCHES = """
DELETE FROM dispatches
WHERE (created_at < ?1
       OR (created_at IS NULL
           AND EXISTS (SELECT 1 FROM events e WHERE e.dispatch_id = dispatches.id)))
  AND NOT EXISTS (SELECT 1 FROM events e WHERE e.dispatch_id = dispatches.id AND e.ts >= ?2)
"""


class SQLiteStore:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    @classmethod
    async def open(cls, path: str) -> SQLiteStore:
        try:
            db = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the SQLite store at {path}: {exc}") from exc
        try:
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA synchronous = NORMAL")
            await db.execute("PRAGMA foreign_keys = ON")
            await db.execute("PRAGMA busy_timeout = 5000")
            await _migrate(db)
        except sqlite3.Error as exc:
            await db.close()
            raise StoreError(f"cannot prepare the SQLite store at {path}: {exc}") from exc
        return cls(db)

    async def close(self) -> None:
        await self._db.close()

    async def add_events(self, events: Sequence[DeliveryEvent]) -> int:
        if not events:
            return 0
        before = self._db.total_changes
        await self._db.execute("BEGIN")
        try:
            await self._db.executemany(_INSERT_EVENT, [_event_row(e) for e in events])
        except BaseException:
            await self._db.execute("ROLLBACK")
            raise
        await self._db.execute("COMMIT")
        return self._db.total_changes - before

    async def put_dispatches(self, dispatches: Sequence[Dispatch]) -> int:
        if not dispatches:
            return 0
        latest = {d.id: d for d in dispatches}  # a later record of the same dispatch wins
        rows = [
            (
                d.id,
                d.tenant,
                d.kind,
                d.subject,
                d.sender,
                d.created_at.isoformat() if d.created_at else None,
                d.state.value,
                d.internal_error,
            )
            for d in latest.values()
        ]
        recipients = [
            (d.id, r.address.lower(), r.role.value) for d in latest.values() for r in d.recipients
        ]
        # Three statements for the whole batch, not three per dispatch: each `await` is a trip
        # to aiosqlite's thread.
        await self._db.execute("BEGIN")
        try:
            await self._db.executemany(_UPSERT_DISPATCH, rows)
            await self._db.executemany(
                "DELETE FROM dispatch_recipients WHERE dispatch_id = ?", [(i,) for i in latest]
            )
            await self._db.executemany(
                "INSERT OR IGNORE INTO dispatch_recipients VALUES (?, ?, ?)", recipients
            )
        except BaseException:
            await self._db.execute("ROLLBACK")
            raise
        await self._db.execute("COMMIT")
        return len(dispatches)

    async def dispatch(self, dispatch_id: str, tenant: str | None = None) -> Dispatch | None:
        sql = "SELECT * FROM dispatches WHERE id = ?"
        args: list[Any] = [dispatch_id]
        if tenant is not None:
            sql += " AND tenant = ?"
            args.append(tenant)
        rows = await self._dispatches(sql, args)
        return rows[0] if rows else None

    async def dispatches_for_recipient(
        self, address: str, tenant: str | None = None, limit: int = 20
    ) -> list[Dispatch]:
        sql = (
            "SELECT d.* FROM dispatches d JOIN dispatch_recipients r ON r.dispatch_id = d.id "
            "WHERE r.address = ?"
        )
        args: list[Any] = [address.lower()]
        if tenant is not None:
            sql += " AND d.tenant = ?"
            args.append(tenant)
        sql += " GROUP BY d.id ORDER BY d.created_at DESC LIMIT ?"
        args.append(limit)
        return await self._dispatches(sql, args)

    async def events_for_recipient(
        self, address: str, tenant: str | None = None, limit: int = 500
    ) -> list[DeliveryEvent]:
        sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE recipient = ?"
        args: list[Any] = [address.lower()]
        if tenant is not None:
            sql += " AND tenant = ?"
            args.append(tenant)
        sql += " ORDER BY ts DESC, seq DESC LIMIT ?"
        args.append(limit)
        return list(reversed(await self._events(sql, args)))

    async def events_for_dispatch(
        self, dispatch_id: str, tenant: str | None = None
    ) -> list[DeliveryEvent]:
        sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE dispatch_id = ?"
        args: list[Any] = [dispatch_id]
        if tenant is not None:
            sql += " AND tenant = ?"
            args.append(tenant)
        return await self._events(sql + " ORDER BY ts, seq LIMIT 2000", args)

    async def events_for_message(self, message_id: str) -> list[DeliveryEvent]:
        sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE message_id = ? ORDER BY ts, seq"
        return await self._events(sql, [message_id])

    async def known_recipients(self, domain: str, limit: int = 200) -> list[str]:
        pattern = "%@" + domain.lower().replace("%", "").replace("_", "")
        async with self._db.execute(
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
        await self._db.execute("BEGIN IMMEDIATE")
        try:
            await self._db.execute(_PRUNE_DISPATCHES, (cutoff, cutoff))
        except BaseException:
            await self._db.execute("ROLLBACK")
            raise
        await self._db.execute("COMMIT")
        removed = 0
        while True:
            before = self._db.total_changes
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                await self._db.execute(_PRUNE_EVENTS, (cutoff, _PRUNE_CHUNK))
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")
            done = self._db.total_changes - before
            removed += done
            if done < _PRUNE_CHUNK:
                return removed

    async def kv_get(self, scope: str, key: str) -> str | None:
        """A small shared value (bot/slack/state.py keeps per-user preferences here)."""
        async with self._db.execute(
            "SELECT value FROM kv WHERE scope = ? AND key = ?", (scope, key)
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else str(row[0])

    async def kv_put(self, scope: str, key: str, value: str) -> None:
        await self._db.execute(
            "INSERT INTO kv VALUES (?, ?, ?, ?) ON CONFLICT (scope, key) DO UPDATE "
            "SET value = excluded.value, updated_at = excluded.updated_at",
            (scope, key, value, datetime.now(UTC).isoformat(timespec="seconds")),
        )

    async def _events(self, sql: str, args: Iterable[Any]) -> list[DeliveryEvent]:
        # One trip to aiosqlite's thread (execute, fetch and close together), not three.
        rows = await self._db.execute_fetchall(sql, tuple(args))
        return [_event_from_row(row) for row in rows]

    async def _dispatches(self, sql: str, args: Iterable[Any]) -> list[Dispatch]:
        # Column names from the cursor, not a connection-wide row_factory: lookups overlap on
        # the one shared connection, and switching its factory under another query races.
        async with self._db.execute(sql, tuple(args)) as cursor:
            names = [column[0] for column in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in await cursor.fetchall()]
        if not rows:
            return []
        ids = [row["id"] for row in rows]
        marks = ", ".join("?" * len(ids))
        recipients: dict[str, list[Recipient]] = {i: [] for i in ids}
        async with self._db.execute(
            f"SELECT dispatch_id, address, role FROM dispatch_recipients "
            f"WHERE dispatch_id IN ({marks}) ORDER BY role DESC, address",
            ids,
        ) as cursor:
            for dispatch_id, address, role in await cursor.fetchall():
                recipients[dispatch_id].append(Recipient(address, Role(role)))
        return [
            Dispatch(
                id=row["id"],
                tenant=row["tenant"],
                kind=row["kind"],
                subject=row["subject"],
                sender=row["sender"],
                recipients=tuple(sorted(recipients[row["id"]], key=role_order)),
                created_at=datetime.fromisoformat(row["created_at"]) if row["created_at"] else None,
                state=DispatchState(row["state"]),
                internal_error=row["internal_error"],
            )
            for row in rows
        ]


def _event_row(e: DeliveryEvent) -> tuple[Any, ...]:
    return (
        e.dedupe_key,
        e.provider,
        e.event_type.value,
        e.timestamp.isoformat(timespec="microseconds"),
        e.recipient.lower(),
        e.message_id,
        e.dispatch_id,
        e.tenant,
        e.reject_reason,
        e.smtp_code,
        e.enhanced_status,
        e.diagnostic,
        e.mx_host,
        e.reason,
        None if e.hard is None else int(e.hard),
        int(e.suppressed),
        payload_json(e.raw),
    )


def _event_from_row(row: Sequence[Any]) -> DeliveryEvent:
    return event_from_row(row, datetime.fromisoformat(row[3]))


async def _migrate(db: aiosqlite.Connection) -> None:
    await db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT)"
    )
    async with db.execute("SELECT version FROM schema_migrations") as cursor:
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
            await db.execute(
                "INSERT INTO schema_migrations VALUES (?, ?)", (migration.version, migration.name)
            )
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        await db.execute("COMMIT")
