"""The store interface every backend implements and the store test suite checks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

from bot.model import DeliveryEvent, Dispatch, EventType, Recipient, Role

#: Stored event type → enum by dict: a lookup decodes hundreds of rows, and Enum() calls were a
#: measurable part of its time.
EVENT_TYPES = {t.value: t for t in EventType}
_ROLES = list(Role)


def role_order(recipient: Recipient) -> tuple[int, str]:
    """To, then cc, then bcc; by address within each: the order every backend returns."""
    return (_ROLES.index(recipient.role), recipient.address)


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

    async def close(self) -> None: ...
