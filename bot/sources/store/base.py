"""The store interface every backend implements and the store test suite checks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.model import DeliveryEvent, Dispatch, EventType, Recipient, Role, StoredPayload

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

#: Stored event type → enum by dict: a lookup decodes hundreds of rows, and Enum() calls were a
#: measurable part of its time.
EVENT_TYPES = {t.value: t for t in EventType}
_ROLES = list(Role)


def role_order(recipient: Recipient) -> tuple[int, str]:
    """To, then cc, then bcc; by address within each: the order every backend returns."""
    return (_ROLES.index(recipient.role), recipient.address)


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


class StoreError(Exception):
    """The store cannot be opened or used; the message says what to do about it."""


class Store(Protocol):
    async def add_events(self, events: Sequence[DeliveryEvent]) -> int:
        """Store events; returns how many were new (duplicates by dedupe_key are ignored)."""
        ...

    async def put_dispatches(self, dispatches: Sequence[Dispatch]) -> int:
        """Insert or update dispatches by id; a later record of the same dispatch wins."""
        ...

    async def dispatch(self, dispatch_id: str, tenant: str | None = None) -> Dispatch | None: ...

    async def dispatches_for_recipient(
        self, address: str, tenant: str | None = None, limit: int = 20
    ) -> list[Dispatch]:
        """Newest first."""
        ...

    async def events_for_recipient(
        self, address: str, tenant: str | None = None, limit: int = 500
    ) -> list[DeliveryEvent]:
        """Oldest first, the newest `limit` of them."""
        ...

    async def events_for_dispatch(
        self, dispatch_id: str, tenant: str | None = None
    ) -> list[DeliveryEvent]: ...

    async def events_for_message(self, message_id: str) -> list[DeliveryEvent]: ...

    async def known_recipients(self, domain: str, limit: int = 200) -> list[str]:
        """Addresses we have seen at `domain`, so "not found" can suggest a near miss."""
        ...

    async def prune(self, older_than: timedelta) -> int:
        """Delete events older than `older_than` (and dispatches with nothing newer); returns
        how many events went. Retention is the operator's call: `whymail store prune`."""
        ...

    async def kv_get(self, scope: str, key: str) -> str | None:
        """A small value every instance sees alike (people's language and recent lookups)."""
        ...

    async def kv_put(self, scope: str, key: str, value: str) -> None: ...

    async def claim_token(
        self, scope: str, token: str, fingerprint: str, expires: datetime
    ) -> bool:
        """A webhook signature's token, remembered until `expires` (see TokenLedger)."""
        ...

    async def close(self) -> None: ...
