"""Reading ESP API answers the same way in every client, so that each client says only where
its provider keeps things: which list holds the items, which normalizer reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from bot.model import DeliveryEvent
from bot.sources.api.base import EspApiError, ReactivationResult
from bot.sources.payload import PayloadError

Normalize = Callable[[Mapping[str, Any]], list[DeliveryEvent]]


def list_of(provider: str, data: Any, key: str, *, empty_ok: bool = False) -> list[dict[str, Any]]:
    """The objects in `data[key]`. An answer without that list is not the API we know, so it
    fails the lookup rather than reading as "nothing there"; `empty_ok` is for APIs that leave
    an empty list out of an object (Brevo)."""
    items = data.get(key) if isinstance(data, dict) else None
    if items is None and empty_ok and isinstance(data, dict):
        return []
    if not isinstance(items, list):
        raise EspApiError(provider, f"unexpected answer: no {key!r} list")
    return [i for i in items if isinstance(i, dict)]


def read_events(
    provider: str,
    normalize: Normalize,
    items: Iterable[Mapping[str, Any]],
    *,
    label: Callable[[Mapping[str, Any]], str] = lambda _: "event",
) -> list[DeliveryEvent]:
    """API items read by the provider's webhook normalizer (the APIs answer in the webhooks'
    shapes), so both paths agree on what an event means and on its dedupe key. An item it
    cannot read fails the lookup, named by `label`, instead of vanishing from the timeline."""
    events: list[DeliveryEvent] = []
    for item in items:
        try:
            events += normalize(item)
        except PayloadError as exc:
            raise EspApiError(provider, f"unreadable {label(item)}: {exc}") from None
    return events


def timeline(
    events: Iterable[DeliveryEvent],
    *,
    replaces: Callable[[DeliveryEvent], bool] = lambda _: True,
) -> list[DeliveryEvent]:
    """One event per dedupe key, oldest first: pages and endpoints overlap, and the store keys
    events the same way. A later event with a key already seen takes its place where `replaces`
    says (always, unless the provider has a better copy of the same event)."""
    chosen: dict[str, DeliveryEvent] = {}
    for event in events:
        if event.dedupe_key not in chosen or replaces(event):
            chosen[event.dedupe_key] = event
    return sorted(chosen.values(), key=lambda e: e.timestamp)


def reactivated(
    provider: str, address: str, removed: Iterable[str], nothing: str
) -> ReactivationResult:
    """Lifting a suppression that was not there is no failure: the address can be sent to, and
    `nothing` tells the agent so in the provider's words."""
    lists = tuple(removed)
    return ReactivationResult(provider, address, True, lists, "reactivated" if lists else nothing)
