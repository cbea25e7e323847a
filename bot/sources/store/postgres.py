"""The shared store: PostgreSQL through asyncpg, for several whymail instances and years of events.

Why the layout is what it is (the migration file has the tables):

- Events are RANGE-partitioned by calendar month of `ts` (UTC), so `prune` drops whole months
  (no row-by-row delete, no table bloat) and lookups stay index probes, one per live month.
- PostgreSQL only enforces a unique index on a partitioned table when it contains the partition
  key, and `(dedupe_key, ts)` would let a redelivery with a shifted timestamp in twice. So
  uniqueness lives in the narrow, unpartitioned `event_keys` table, as a 16-byte digest of each
  key (a small index is what keeps ingest fast once it no longer fits in memory). One statement
  claims a batch's digests there and returns the new ones; exactly those events are then stored.
  Concurrent instances claiming the same digest wait on its index entry, so each event is
  stored once.
- Batched ingest is that one statement, then binary COPY of the new events straight into
  `events`, in chunks of a transaction each: tens of thousands of events per second with no
  per-row round trip.
- Migrations run under an advisory lock, so instances starting together migrate exactly once;
  partitions are created under another, so two instances meeting a new month create it once.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from bot.model import DeliveryEvent, Dispatch, utc
from bot.sources.store import shared
from bot.sources.store.base import AlertClaim, StoreError
from bot.sources.store.migrations import pending_migrations

# Keys are claimed in digest order, so writers on several instances whose batches share keys
# always lock them in the same order and cannot deadlock. RETURNING names the keys that were new:
# exactly those events are then copied in. A plain insert first: most chunks hold only new keys,
# and ON CONFLICT's speculative insertion costs a sixth more per key (a confirmation record and
# a second look at the index) than a plain insert; a chunk with a stored key fails with a unique
# violation and is claimed again with ON CONFLICT DO NOTHING.
_CLAIM_NEW_KEYS = """
INSERT INTO event_keys (digest)
SELECT digest FROM unnest($1::uuid[]) AS claimed (digest) ORDER BY digest
RETURNING digest
"""
_CLAIM_KEYS = """
INSERT INTO event_keys (digest)
SELECT digest FROM unnest($1::uuid[]) AS claimed (digest) ORDER BY digest
ON CONFLICT (digest) DO NOTHING
RETURNING digest
"""
# Every address an event or a dispatch went to, for known_recipients. Last in its transaction
# and in address order, so a writer waiting here for another's new address holds all its keys
# and dispatch rows already, and the other holds no address it needs: the two cannot deadlock.
# The domain is the text after the last '@', as in migration 0002.
_ADD_ADDRESSES = """
INSERT INTO recipient_addresses (domain, address)
SELECT substring(address FROM '[^@]*$'), address
FROM unnest($1::text[]) AS seen (address) ORDER BY 1, 2
ON CONFLICT DO NOTHING
"""
_DISPATCH_ROWS = f"""
INSERT INTO dispatches ({shared.DISPATCH_COLUMNS})
SELECT * FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::text[],
    $8::text[], $9::text[], $10::text[]
)
"""
# Most records are of dispatches the store has not seen: inserted, they have no recipients to
# replace. Only the ids that were there already (or that another writer was inserting, waited
# for) are updated and get their recipients replaced.
_INSERT_DISPATCHES = _DISPATCH_ROWS + "ON CONFLICT (id) DO NOTHING RETURNING id"
_UPSERT_DISPATCHES = _DISPATCH_ROWS + (
    "ON CONFLICT (id) DO UPDATE SET tenant = excluded.tenant, kind = excluded.kind, "
    "subject = excluded.subject, sender = excluded.sender, created_at = excluded.created_at, "
    "state = excluded.state, internal_error = excluded.internal_error, "
    "reply_to = excluded.reply_to, relay = excluded.relay"
)
_INSERT_RECIPIENTS = """
INSERT INTO dispatch_recipients (dispatch_id, address, role, created_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
ON CONFLICT DO NOTHING
"""
# A dispatch's recipients are replaced id by id (asyncpg pipelines the statements), so each
# delete is an index probe whatever the planner thinks. One statement for the whole batch,
# `= ANY($1)` or a join with unnest($1), was planned as a scan of the table (a generic plan made
# while the table was small) or a merge join that reads the primary key from its first entry;
# either took seconds per batch once the table held millions of rows.
_DELETE_RECIPIENTS = "DELETE FROM dispatch_recipients WHERE dispatch_id = $1"
# At most `limit` ids, so the planner's estimate for unnest (ten rows) leads to a nested loop
# of index probes.
_RECIPIENTS_OF = """
SELECT r.dispatch_id, r.address, r.role
FROM unnest($1::text[]) AS wanted (id) JOIN dispatch_recipients r ON r.dispatch_id = wanted.id
"""
# Newest first, straight off the (address, created_at) index: reads `limit` rows, not every
# dispatch the address ever had. An address listed twice on one dispatch (to and cc) gives two
# rows, which the caller folds.
_DISPATCHES_FOR_RECIPIENT = f"""
SELECT {shared.JOINED_DISPATCH_COLUMNS}
FROM dispatch_recipients r JOIN dispatches d ON d.id = r.dispatch_id
WHERE r.address = $1 AND ($2::text IS NULL OR d.tenant = $2)
ORDER BY r.created_at DESC NULLS LAST, r.dispatch_id DESC
LIMIT $3
"""
_PARTITION_PREFIX = "events_p"
_LIST_PARTITIONS = """
SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'events'::regclass
"""
# Advisory lock keys are per schema, so separate whymail schemas in one database never wait on
# each other.
_LOCK = "SELECT pg_advisory_{kind}lock(hashtextextended($1 || current_schema(), 0))"
_MIGRATE_LOCK = "whymail.migrate."
_PARTITION_LOCK = "whymail.partitions."
_RECIPIENT = shared.EVENT_FIELDS.index("recipient")
_POOL_SIZE = 10
_CHUNK = 2_000
_IN_FLIGHT = 2


class PostgresStore(shared.SQLStore):
    _sql = shared.POSTGRESQL

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._months: set[tuple[int, int]] = set()

    @classmethod
    async def open(cls, url: str, *, pool_size: int = _POOL_SIZE) -> PostgresStore:
        """Connect, migrate (once across instances), and get the staging table ready."""
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=pool_size,
                init=_prepare_connection,
                reset=_keep_session,
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise StoreError(f"cannot connect to the PostgreSQL store: {exc}") from exc
        store = cls(pool)
        try:
            async with pool.acquire() as conn:
                await _migrate(conn)
            await store._load_months()
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            await pool.close()
            raise StoreError(f"cannot prepare the PostgreSQL store: {exc}") from exc
        return store

    async def close(self) -> None:
        await self._pool.close()

    async def add_events(self, events: Sequence[DeliveryEvent]) -> int:
        """Up to `_CHUNK` events are one transaction; a bigger call is written as chunks, two in
        flight on two connections, so Python encodes one while the server stores the other.
        If a chunk fails, earlier ones stay stored: a retry stores the rest (keys dedupe)."""
        if not events:
            return 0
        # The first copy of a key wins, as with SQLite's row-by-row insert; deduplicating here
        # also keeps a key out of two chunks that run at once.
        first: dict[str, DeliveryEvent] = {}
        for event in events:
            first.setdefault(event.dedupe_key, event)
        unique = list(first.values())
        months = {_month(utc(e.timestamp)) for e in unique}
        for attempt in (1, 2):
            await self._ensure_partitions(months)
            try:
                return await self._write(unique)
            except asyncpg.CheckViolationError:
                # Another instance pruned a month this one still believed in.
                if attempt == 2:
                    raise
                await self._load_months()
        raise AssertionError("unreachable")

    async def _write(self, events: Sequence[DeliveryEvent]) -> int:
        if len(events) <= _CHUNK:
            return await self._write_chunk(_Chunk.of(events))
        total = 0
        running: set[asyncio.Task[int]] = set()
        try:
            for start in range(0, len(events), _CHUNK):
                chunk = _Chunk.of(events[start : start + _CHUNK])
                if len(running) >= _IN_FLIGHT:
                    done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    total += sum(task.result() for task in done)
                running.add(asyncio.create_task(self._write_chunk(chunk)))
                await asyncio.sleep(0)  # let the new chunk reach the server before encoding more
            total += sum(await asyncio.gather(*running))
        finally:
            for task in running:
                task.cancel()
        return total

    async def _write_chunk(self, chunk: _Chunk) -> int:
        try:
            return await self._store_chunk(chunk, _CLAIM_NEW_KEYS)
        except asyncpg.UniqueViolationError:
            # A redelivery, or another writer storing the same event right now.
            return await self._store_chunk(chunk, _CLAIM_KEYS)

    async def _store_chunk(self, chunk: _Chunk, claim: str) -> int:
        """Claim the keys, then binary COPY the new events straight into their partitions: COPY
        writes a page of rows per WAL record, where INSERT … SELECT wrote one per row."""
        rows = chunk.rows
        async with self._pool.acquire() as conn, conn.transaction():
            claimed = await conn.fetch(claim, chunk.digests)
            if len(claimed) < len(rows):
                fresh = {record[0].hex for record in claimed}
                rows = [r for r, d in zip(rows, chunk.digests, strict=True) if d in fresh]
                if not rows:
                    return 0
            await conn.copy_records_to_table("events", columns=shared.EVENT_FIELDS, records=rows)
            await conn.execute(_ADD_ADDRESSES, list({row[_RECIPIENT] for row in rows}))
        return len(rows)

    async def put_dispatches(self, dispatches: Sequence[Dispatch]) -> int:
        if not dispatches:
            return 0
        # One row per id (the later record wins), in id order so that concurrent writers lock
        # rows in the same order and cannot deadlock.
        latest = {d.id: d for d in dispatches}
        ordered = [latest[i] for i in sorted(latest)]
        columns: list[list[Any]] = [[] for _ in shared.DISPATCH_FIELDS]
        for d in ordered:
            values = shared.dispatch_row(d, utc(d.created_at) if d.created_at else None)
            for column, value in zip(columns, values, strict=True):
                column.append(value)
        recipients = sorted(
            {(d.id, r.address.lower(), r.role.value) for d in ordered for r in d.recipients}
        )
        created = {d.id: utc(d.created_at) if d.created_at else None for d in ordered}
        async with self._pool.acquire() as conn, conn.transaction():
            inserted = {row[0] for row in await conn.fetch(_INSERT_DISPATCHES, *columns)}
            if len(inserted) < len(ordered):
                known = [n for n, i in enumerate(columns[0]) if i not in inserted]
                await conn.execute(_UPSERT_DISPATCHES, *([c[n] for n in known] for c in columns))
                await conn.executemany(_DELETE_RECIPIENTS, [(columns[0][n],) for n in known])
            await conn.execute(
                _INSERT_RECIPIENTS,
                [r[0] for r in recipients],
                [r[1] for r in recipients],
                [r[2] for r in recipients],
                [created[r[0]] for r in recipients],
            )
            await conn.execute(_ADD_ADDRESSES, list({r[1] for r in recipients}))
        return len(dispatches)

    async def dispatches_for_recipient(
        self, address: str, tenant: str | None = None, limit: int = 20
    ) -> list[Dispatch]:
        fetch = limit
        while True:
            found = await self._dispatches(
                _DISPATCHES_FOR_RECIPIENT, [address.lower(), tenant, fetch]
            )
            unique = list({d.id: d for d in found}.values())
            if len(unique) >= limit or len(found) < fetch:
                return unique[:limit]
            fetch *= 2

    async def known_recipients(self, domain: str, limit: int = 200) -> list[str]:
        """From recipient_addresses (migration 0002). An address a later record of a dispatch
        no longer lists stays there until the next prune: finding out on every record whether
        anything else still names it would cost more than the near miss it might suggest."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT address FROM recipient_addresses WHERE domain = $1 ORDER BY address "
                "LIMIT $2",
                domain.lower(),
                limit,
            )
        return [row[0] for row in rows]

    async def kv_put(self, scope: str, key: str, value: str) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO kv (scope, key, value) VALUES ($1, $2, $3) ON CONFLICT (scope, key) "
                "DO UPDATE SET value = excluded.value, updated_at = now()",
                scope,
                key,
                value,
            )

    async def claim_token(
        self, scope: str, token: str, fingerprint: str, expires: datetime
    ) -> bool:
        async with self._pool.acquire() as conn:
            # One statement, so two instances claiming one token at once cannot both win: the
            # row is written only when new or expired, else the kept fingerprint is returned.
            # An expired row being replaced is still in the statement's snapshot, so the
            # claim's own row is ranked first.
            kept = await conn.fetchval(
                """
                WITH claim AS (
                    INSERT INTO webhook_tokens (scope, token, fingerprint, expires_at)
                    VALUES ($1, $2, $3, $4)
                    ON CONFLICT (scope, token) DO UPDATE
                    SET fingerprint = excluded.fingerprint, expires_at = excluded.expires_at
                    WHERE webhook_tokens.expires_at < now()
                    RETURNING fingerprint
                )
                SELECT fingerprint FROM (
                    SELECT fingerprint, 0 AS rank FROM claim
                    UNION ALL
                    SELECT fingerprint, 1 FROM webhook_tokens WHERE scope = $1 AND token = $2
                ) AS found
                ORDER BY rank
                LIMIT 1
                """,
                scope,
                token,
                fingerprint,
                expires,
            )
            return bool(kept == fingerprint)

    async def claim_alerts(self, claims: Sequence[AlertClaim]) -> list[bool]:
        now = datetime.now(UTC)
        async with self._pool.acquire() as conn, conn.transaction():
            # The unique key decides between instances claiming at once: one INSERT writes
            # the row, the others touch nothing ("INSERT 0 0"), after waiting for its commit.
            # In key order, so two instances' batches never wait for each other in a circle.
            order = sorted(range(len(claims)), key=lambda i: _claim_key(claims[i]))
            found = dict.fromkeys(range(len(claims)), False)
            for i in order:
                c = claims[i]
                status = await conn.execute(
                    self._sql.claim_alert,
                    c.dispatch_id,
                    c.recipient.lower(),
                    c.verdict,
                    c.tenant,
                    now,
                )
                found[i] = status.endswith(" 1")
        return [found[i] for i in range(len(claims))]

    async def prune(self, older_than: timedelta) -> int:
        """Forget events older than the cutoff, and dispatches that have nothing newer.

        Whole months before the cutoff are dropped as partitions; only the month the cutoff falls
        in loses rows one by one. A dispatch goes when it was created before the cutoff (or has
        no creation time but had events) and none of its events is newer than the cutoff.
        """
        cutoff = datetime.now(UTC) - older_than
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(_LOCK.format(kind="xact_"), _PARTITION_LOCK)
            await conn.execute("SET LOCAL enable_bitmapscan = on")
            await conn.execute("DELETE FROM webhook_tokens WHERE expires_at < now()")
            await conn.execute("DELETE FROM alerts_sent WHERE sent_at < $1", cutoff)
            # Two statements rather than one OR, so each can use the created_at index.
            await conn.execute(
                """
                DELETE FROM dispatches d WHERE d.created_at < $1
                AND NOT EXISTS (SELECT 1 FROM events e WHERE e.dispatch_id = d.id AND e.ts >= $1)
                """,
                cutoff,
            )
            await conn.execute(
                """
                DELETE FROM dispatches d WHERE d.created_at IS NULL
                AND EXISTS (SELECT 1 FROM events e WHERE e.dispatch_id = d.id)
                AND NOT EXISTS (SELECT 1 FROM events e WHERE e.dispatch_id = d.id AND e.ts >= $1)
                """,
                cutoff,
            )
            removed = 0
            for (name,) in await conn.fetch(_LIST_PARTITIONS):
                month = _partition_month(name)
                if month is not None and _month_end(month) <= cutoff:
                    status = await conn.execute(
                        f'DELETE FROM event_keys k USING "{name}" e '
                        "WHERE k.digest = event_key_digest(e.dedupe_key)"
                    )
                    removed += _count(status)
                    await conn.execute(f'DROP TABLE "{name}"')
            status = await conn.execute(
                """
                WITH gone AS (DELETE FROM events WHERE ts < $1 RETURNING dedupe_key)
                DELETE FROM event_keys k USING gone
                WHERE k.digest = event_key_digest(gone.dedupe_key)
                """,
                cutoff,
            )
            removed += _count(status)
            # An address stored while this runs may be forgotten with the old ones; the next
            # event or dispatch to it lists it again.
            await conn.execute(
                """
                DELETE FROM recipient_addresses a
                WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.recipient = a.address)
                AND NOT EXISTS (SELECT 1 FROM dispatch_recipients r WHERE r.address = a.address)
                """
            )
        await self._load_months()
        return removed

    async def _ensure_partitions(self, months: set[tuple[int, int]]) -> None:
        missing = months - self._months
        if not missing:
            return
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(_LOCK.format(kind="xact_"), _PARTITION_LOCK)
            for year, month in sorted(missing):
                start = datetime(year, month, 1, tzinfo=UTC)
                end = _month_end((year, month))
                await conn.execute(
                    f'CREATE TABLE IF NOT EXISTS "{_partition_name((year, month))}" '
                    f"PARTITION OF events FOR VALUES FROM ('{start.isoformat()}') "
                    f"TO ('{end.isoformat()}')"
                )
        self._months |= missing

    async def _load_months(self) -> None:
        async with self._pool.acquire() as conn:
            names = [row[0] for row in await conn.fetch(_LIST_PARTITIONS)]
        self._months = {m for m in map(_partition_month, names) if m is not None}

    async def _events(self, sql: str, args: Sequence[Any]) -> list[DeliveryEvent]:
        async with self._pool.acquire() as conn:
            return [_event_from_row(row) for row in await conn.fetch(sql, *args)]

    async def _dispatches(self, sql: str, args: Sequence[Any]) -> list[Dispatch]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(sql, *args)
            if not rows:
                return []
            recipients = await conn.fetch(_RECIPIENTS_OF, shared.dispatch_ids(rows))
        return shared.dispatches_from_rows(rows, recipients, _as_stored)

    async def _value(self, sql: str, args: Sequence[Any]) -> Any:
        async with self._pool.acquire() as conn:
            return await conn.fetchval(sql, *args)


def _claim_key(c: AlertClaim) -> tuple[str, str, str]:
    return (c.dispatch_id, c.recipient.lower(), c.verdict)


async def _prepare_connection(conn: asyncpg.Connection) -> None:
    # asyncpg prepares every statement, and after a few runs PostgreSQL may plan it once for
    # any address, guessing a handful of rows. With a bitmap scan that plan fetches and sorts
    # every row of an address with thousands of events before keeping the newest 500; without
    # it, the planner walks the (address, time) index in order and stops at the limit. None of
    # the lookups needs a bitmap scan; prune turns them back on for the BRIN index.
    await conn.execute("SET enable_bitmapscan = off")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's reset query (RESET ALL, CLOSE ALL, ...) on every release: the store leaves
    no session state behind (its advisory locks are transaction-scoped, bar the migration lock it
    releases itself), and the reset would add a round trip to every lookup. asyncpg still rolls
    back a transaction left open."""


def _count(status: str) -> int:
    """Rows affected, from a command tag such as `INSERT 0 42` or `DELETE 7`."""
    return int(status.rsplit(" ", 1)[1])


def _month(ts: datetime) -> tuple[int, int]:
    return (ts.year, ts.month)


def _month_end(month: tuple[int, int]) -> datetime:
    year, number = month
    return datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)


def _partition_name(month: tuple[int, int]) -> str:
    return f"{_PARTITION_PREFIX}{month[0]:04d}{month[1]:02d}"


def _partition_month(name: str) -> tuple[int, int] | None:
    digits = name.removeprefix(_PARTITION_PREFIX)
    if name == digits or len(digits) != 6 or not digits.isdigit():
        return None
    return (int(digits[:4]), int(digits[4:]))


@dataclass(frozen=True, slots=True)
class _Chunk:
    """One transaction's events, encoded before a connection is taken, so that Python encodes the
    next chunk while the server stores this one."""

    digests: list[str]
    rows: list[tuple[Any, ...]]

    @classmethod
    def of(cls, events: Sequence[DeliveryEvent]) -> _Chunk:
        return cls([_digest(e.dedupe_key) for e in events], [_event_row(e) for e in events])


def _digest(key: str) -> str:
    """The key's digest as event_keys holds it: the SQL function event_key_digest (migration
    0002) in Python, as the hex digits of a uuid."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _event_row(e: DeliveryEvent) -> tuple[Any, ...]:
    return shared.event_row(e, utc(e.timestamp))


def _event_from_row(row: asyncpg.Record) -> DeliveryEvent:
    return shared.event_from_row(row, row[3])


def _as_stored(value: datetime | None) -> datetime | None:
    """asyncpg decodes timestamptz itself."""
    return value


async def _migrate(conn: PoolConnectionProxy[asyncpg.Record]) -> None:
    """Apply pending migrations, each in its own transaction, once across all instances."""
    await conn.execute(_LOCK.format(kind=""), _MIGRATE_LOCK)
    try:
        await conn.execute(shared.POSTGRESQL.create_migrations)
        applied = {row[0] for row in await conn.fetch(shared.POSTGRESQL.applied_migrations)}
        for migration in pending_migrations("postgresql", applied):
            async with conn.transaction():
                for statement in migration.statements():
                    await conn.execute(statement)
                await conn.execute(
                    shared.POSTGRESQL.record_migration, migration.version, migration.name
                )
    finally:
        await conn.execute(
            "SELECT pg_advisory_unlock(hashtextextended($1 || current_schema(), 0))",
            _MIGRATE_LOCK,
        )
