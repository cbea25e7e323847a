"""What the SQLite and PostgreSQL stores share, written once: the column lists, the row <-> model
mapping, and the lookups whose SQL is the same in both dialects but for its parameter marks.

Shared statements are written with `?` marks and rendered for each dialect once, at import
(`numbered` makes PostgreSQL's `$1, $2, ...` of them), so a lookup sends exactly the text it
would send if written by hand, and asyncpg's statement cache sees one text per statement.
What really differs stays in each backend: ingest (binary COPY and key digests on PostgreSQL),
upserts, PRAGMAs and checkpoints, partitions, `prune`, `known_recipients`, token claims.
"""

from __future__ import annotations

import itertools
import re
from abc import abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from bot.model import (
    DeliveryEvent,
    Dispatch,
    DispatchState,
    EventType,
    Recipient,
    Role,
    StoredPayload,
    payload_json,
)
from bot.sources.store.base import Store

#: The events table's columns in the order every backend writes and reads them.
EVENT_FIELDS = (
    "dedupe_key",
    "provider",
    "event_type",
    "ts",
    "recipient",
    "message_id",
    "dispatch_id",
    "tenant",
    "reject_reason",
    "smtp_code",
    "enhanced_status",
    "diagnostic",
    "mx_host",
    "reason",
    "hard",
    "suppressed",
    "raw",
)
EVENT_COLUMNS = ", ".join(EVENT_FIELDS)
#: The dispatches table's columns in the order every backend writes and reads them.
DISPATCH_FIELDS = (
    "id",
    "tenant",
    "kind",
    "subject",
    "sender",
    "created_at",
    "state",
    "internal_error",
    "reply_to",
    "relay",
)
DISPATCH_COLUMNS = ", ".join(DISPATCH_FIELDS)
#: The same, of `dispatches d` in a join.
JOINED_DISPATCH_COLUMNS = ", ".join(f"d.{c}" for c in DISPATCH_FIELDS)

#: Stored event type → enum by dict: a lookup decodes hundreds of rows, and Enum() calls were a
#: measurable part of its time.
EVENT_TYPES = {t.value: t for t in EventType}
_ROLES = list(Role)


def role_order(recipient: Recipient) -> tuple[int, str]:
    """To, then cc, then bcc; by address within each: the order every backend returns."""
    return (_ROLES.index(recipient.role), recipient.address)


def event_row(e: DeliveryEvent, timestamp: Any) -> tuple[Any, ...]:
    """An event's `EVENT_FIELDS` values to store; the backend encodes the timestamp. Booleans
    stay booleans: asyncpg wants them so, and sqlite3 binds them as the integers 1 and 0."""
    return (
        e.dedupe_key,
        e.provider,
        e.event_type.value,
        timestamp,
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
        e.hard,
        e.suppressed,
        payload_json(e.raw),
    )


def event_from_row(row: Iterable[Any], timestamp: datetime) -> DeliveryEvent:
    """A stored event from its `EVENT_FIELDS` columns; the backend decodes the timestamp."""
    (key, provider, event_type, _, recipient, message_id, dispatch_id, tenant, reject_reason,
     smtp_code, status, diagnostic, mx_host, reason, hard, suppressed, raw) = row  # fmt: skip
    # Positional, in DeliveryEvent's field order: a lookup builds hundreds of events, and
    # seventeen keyword arguments cost as much again as building the object.
    return DeliveryEvent(
        provider,
        EVENT_TYPES[event_type],
        timestamp,
        recipient,
        message_id,
        dispatch_id,
        tenant,
        reject_reason,
        smtp_code,
        status,
        diagnostic,
        mx_host,
        reason,
        None if hard is None else bool(hard),  # SQLite stores booleans as 0 and 1
        bool(suppressed),
        key,
        StoredPayload(raw),
    )


def dispatch_row(d: Dispatch, created_at: Any) -> tuple[Any, ...]:
    """A dispatch's `DISPATCH_FIELDS` values to store; the backend encodes the creation time."""
    return (
        d.id,
        d.tenant,
        d.kind,
        d.subject,
        d.sender,
        created_at,
        d.state.value,
        d.internal_error,
        d.reply_to,
        d.relay,
    )


def dispatch_ids(rows: Iterable[Any]) -> list[str]:
    """Each id of `DISPATCH_FIELDS` rows once, in order: the ids to fetch recipients of (a
    dispatch that lists one address as to and cc can come twice)."""
    return list(dict.fromkeys(row[0] for row in rows))


def dispatches_from_rows(
    rows: Iterable[Any],
    recipient_rows: Iterable[Any],
    created_at: Callable[[Any], datetime | None],
) -> list[Dispatch]:
    """Dispatches from their `DISPATCH_FIELDS` rows and the (dispatch_id, address, role) rows of
    their recipients; `created_at` decodes the backend's stored time."""
    recipients: dict[str, list[Recipient]] = {}
    for dispatch_id, address, role in recipient_rows:
        recipients.setdefault(dispatch_id, []).append(Recipient(address, Role(role)))
    return [
        Dispatch(
            id=id_,
            tenant=tenant,
            kind=kind,
            subject=subject,
            sender=sender,
            recipients=tuple(sorted(recipients.get(id_, ()), key=role_order)),
            created_at=created_at(created),
            state=DispatchState(state),
            internal_error=internal_error,
            reply_to=reply_to,
            relay=relay,
        )
        for id_, tenant, kind, subject, sender, created, state, internal_error, reply_to, relay in (
            rows
        )
    ]


#: Renders a statement written with `?` marks in one dialect's parameter style.
Marks = Callable[[str], str]


def question_marks(sql: str) -> str:
    """SQLite's style: the statement as written."""
    return sql


def numbered(sql: str) -> str:
    """PostgreSQL's style: the n-th `?` becomes `$n`. (No shared statement has a `?` that is
    not a parameter, in a literal or as an operator.)"""
    count = itertools.count(1)
    return re.sub(r"\?", lambda _: f"${next(count)}", sql)


@dataclass(frozen=True, slots=True)
class Lookup:
    """A statement with an optional tenant filter, rendered both ways once rather than pieced
    together on every call."""

    any_tenant: str
    one_tenant: str

    @classmethod
    def of(cls, marks: Marks, head: str, tail: str = "", *, tenant: str = "tenant") -> Lookup:
        """`head` ends in the WHERE clause that the filter `AND {tenant} = ?` extends; `tail`
        (ORDER BY, LIMIT) follows either way."""
        return cls(marks(head + tail), marks(f"{head} AND {tenant} = ?{tail}"))

    def bind(self, key: Any, tenant: str | None, *rest: Any) -> tuple[str, list[Any]]:
        """The statement and its arguments: `key` for the head, `tenant` if any, `rest` for
        the tail's marks."""
        if tenant is None:
            return self.any_tenant, [key, *rest]
        return self.one_tenant, [key, tenant, *rest]


@dataclass(frozen=True, slots=True)
class Statements:
    """The statements both backends run, in one dialect's marks."""

    dispatch: Lookup
    events_for_recipient: Lookup
    events_for_dispatch: Lookup
    events_for_message: str
    kv_get: str
    #: Insert-if-absent: the one writer of a row is the one that posts its alert.
    claim_alert: str
    create_migrations: str
    applied_migrations: str
    record_migration: str

    @classmethod
    def written(cls, marks: Marks) -> Statements:
        events = f"SELECT {EVENT_COLUMNS} FROM events WHERE"
        return cls(
            dispatch=Lookup.of(marks, f"SELECT {DISPATCH_COLUMNS} FROM dispatches WHERE id = ?"),
            # Newest first so LIMIT keeps the newest; the caller turns them oldest first.
            events_for_recipient=Lookup.of(
                marks, f"{events} recipient = ?", " ORDER BY ts DESC, seq DESC LIMIT ?"
            ),
            events_for_dispatch=Lookup.of(
                marks, f"{events} dispatch_id = ?", " ORDER BY ts, seq LIMIT 2000"
            ),
            events_for_message=marks(f"{events} message_id = ? ORDER BY ts, seq"),
            kv_get=marks("SELECT value FROM kv WHERE scope = ? AND key = ?"),
            claim_alert=marks(
                "INSERT INTO alerts_sent (dispatch_id, recipient, verdict, tenant, sent_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (dispatch_id, recipient, verdict) DO NOTHING"
            ),
            create_migrations="CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT)",
            applied_migrations="SELECT version FROM schema_migrations",
            record_migration=marks("INSERT INTO schema_migrations VALUES (?, ?)"),
        )


SQLITE = Statements.written(question_marks)
POSTGRESQL = Statements.written(numbered)


class SQLStore(Store):
    """The `Store` methods whose SQL both backends share, written once over three small
    queries each backend answers on its own connections. Deriving from the Protocol makes
    mypy refuse to build a backend that lacks one of its methods."""

    #: The backend's dialect of the shared statements.
    _sql: ClassVar[Statements]

    @abstractmethod
    async def _events(self, sql: str, args: Sequence[Any]) -> list[DeliveryEvent]:
        """The events that `sql`, a SELECT of `EVENT_COLUMNS`, finds."""

    @abstractmethod
    async def _dispatches(self, sql: str, args: Sequence[Any]) -> list[Dispatch]:
        """The dispatches (with their recipients) that `sql`, a SELECT of `DISPATCH_FIELDS`,
        finds, in its order."""

    @abstractmethod
    async def _value(self, sql: str, args: Sequence[Any]) -> Any:
        """The first column of the first row `sql` finds; None when it finds none."""

    async def dispatch(self, dispatch_id: str, tenant: str | None = None) -> Dispatch | None:
        found = await self._dispatches(*self._sql.dispatch.bind(dispatch_id, tenant))
        return found[0] if found else None

    async def events_for_recipient(
        self, address: str, tenant: str | None = None, limit: int = 500
    ) -> list[DeliveryEvent]:
        sql, args = self._sql.events_for_recipient.bind(address.lower(), tenant, limit)
        return list(reversed(await self._events(sql, args)))

    async def events_for_dispatch(
        self, dispatch_id: str, tenant: str | None = None
    ) -> list[DeliveryEvent]:
        return await self._events(*self._sql.events_for_dispatch.bind(dispatch_id, tenant))

    async def events_for_message(self, message_id: str) -> list[DeliveryEvent]:
        return await self._events(self._sql.events_for_message, [message_id])

    async def kv_get(self, scope: str, key: str) -> str | None:
        value = await self._value(self._sql.kv_get, [scope, key])
        return None if value is None else str(value)
