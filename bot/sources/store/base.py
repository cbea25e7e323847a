"""The store interface every backend implements and the store test suite checks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.model import DeliveryEvent, Dispatch


@dataclass(frozen=True, slots=True)
class AlertClaim:
    """The unique key of an alert ("" for mail without our dispatch id), and its tenant."""

    dispatch_id: str
    recipient: str
    verdict: str
    tenant: str | None


class StoreError(Exception):
    """The store cannot be opened or used; the message says what to do about it."""


class Store(Protocol):
    """Everything whymail asks of its evidence, whichever backend holds it.

    `tenant`, where a lookup takes one, limits it to that tenant's records (None: any tenant).
    Addresses are matched lower-cased. Every method here is used by the product; a backend may
    have more (`open`), but nothing only tests need belongs here.
    """

    async def add_events(self, events: Sequence[DeliveryEvent]) -> int:
        """Store events; returns how many were new (duplicates by dedupe_key are ignored)."""
        ...

    async def put_dispatches(self, dispatches: Sequence[Dispatch]) -> int:
        """Insert or update dispatches by id; a later record of the same dispatch wins."""
        ...

    async def dispatch(self, dispatch_id: str, tenant: str | None = None) -> Dispatch | None:
        """The dispatch with that id, or None (also when it belongs to another tenant)."""
        ...

    async def dispatches_for_recipient(
        self, address: str, tenant: str | None = None, limit: int = 20
    ) -> list[Dispatch]:
        """Newest first, each dispatch once."""
        ...

    async def events_for_recipient(
        self, address: str, tenant: str | None = None, limit: int = 500
    ) -> list[DeliveryEvent]:
        """Oldest first, the newest `limit` of them."""
        ...

    async def events_for_dispatch(
        self, dispatch_id: str, tenant: str | None = None
    ) -> list[DeliveryEvent]:
        """Oldest first, the oldest 2,000 of them."""
        ...

    async def events_for_message(self, message_id: str) -> list[DeliveryEvent]:
        """The events of one ESP message id, oldest first."""
        ...

    async def known_recipients(self, domain: str, limit: int = 200) -> list[str]:
        """Addresses we have seen at `domain`, so "not found" can suggest a near miss."""
        ...

    async def prune(self, older_than: timedelta) -> int:
        """Delete events older than `older_than` (and dispatches with nothing newer); returns
        how many events went. Retention is the operator's call: `whymail store prune`."""
        ...

    async def kv_get(self, scope: str, key: str) -> str | None:
        """A small value every instance sees alike (people's language and recent lookups:
        bot.conversation.prefs), or None."""
        ...

    async def kv_put(self, scope: str, key: str, value: str) -> None:
        """Set (or replace) the value of `key` in `scope`."""
        ...

    async def claim_token(
        self, scope: str, token: str, fingerprint: str, expires: datetime
    ) -> bool:
        """A webhook signature's token, remembered until `expires`: True when it is new (or its
        claim expired) or was claimed with this `fingerprint`, False when it came before with
        another body (see bot.sources.provider.TokenLedger)."""
        ...

    async def claim_alerts(self, claims: Sequence[AlertClaim]) -> list[bool]:
        """Claim the one alert of each (dispatch, recipient, verdict): True for the first caller
        ever, in this process or any other sharing the store, False for every later one, so
        alerts survive restarts and several instances without being posted twice. One
        transaction for all of them, as alerts come in bursts."""
        ...

    async def close(self) -> None:
        """Release the connections; the store is not used after."""
        ...
