"""Brevo: transactional events by recipient, and the blocked-contacts list.

The events endpoint sits in Brevo's 300-requests-per-hour bucket (General tier), so it has
its own slow limiter and few pages; blocked contacts can only be listed, not looked up, so
the newest pages are scanned for the address.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from bot.addresses import normalise_address
from bot.model import DeliveryEvent, parse_timestamp
from bot.sources.api.answers import list_of, reactivated, read_events, timeline
from bot.sources.api.base import ReactivationResult, Suppression
from bot.sources.api.http import ApiHttp, RateLimiter
from bot.sources.esps.brevo.events import PROVIDER
from bot.sources.esps.brevo.events import normalize as normalize_event

EVENTS_PAGE = 100
EVENTS_PAGES = 2
BLOCKED_PAGE = 100
BLOCKED_PAGES = 10


class BrevoClient:
    provider = PROVIDER

    def __init__(self, api_key: str, client: httpx.AsyncClient, base_url: str) -> None:
        self._http = ApiHttp(
            PROVIDER, client, base_url, headers={"api-key": api_key}, limiter=RateLimiter(10, 10)
        )
        self._events_limiter = RateLimiter(300 / 3600, burst=20)

    async def events_for_recipient(self, address: str) -> list[DeliveryEvent]:
        address = normalise_address(address)
        events: list[DeliveryEvent] = []
        for page in range(EVENTS_PAGES):
            response = await self._http.request(
                "GET",
                "/v3/smtp/statistics/events",
                params={
                    "email": address,
                    "limit": EVENTS_PAGE,
                    "offset": page * EVENTS_PAGE,
                    "sort": "desc",
                },
                limiter=self._events_limiter,
                accept=frozenset({200, 204}),
            )
            data = response.json() if response.content else {}
            items = list_of(PROVIDER, data, "events", empty_ok=True)
            events += read_events(PROVIDER, normalize_event, items)
            if len(items) < EVENTS_PAGE:
                break
        return timeline(events)

    async def suppression(self, address: str) -> Suppression | None:
        address = normalise_address(address)
        contact = await self._blocked(address)
        if contact is None:
            return None
        reason = contact.get("reason") if isinstance(contact.get("reason"), dict) else {}
        assert isinstance(reason, dict)
        try:
            since = parse_timestamp(contact.get("blockedAt"))
        except ValueError:
            since = None
        return Suppression(
            PROVIDER,
            address,
            ("blocked contacts",),
            str(reason.get("code") or "") or None,
            since,
            True,
            str(reason.get("message") or "") or None,
        )

    async def reactivate(self, address: str, actor: str) -> ReactivationResult:
        address = normalise_address(address)
        response = await self._http.request(
            "DELETE", f"/v3/smtp/blockedContacts/{quote(address, safe='@')}"
        )
        removed = () if response.status_code == 404 else ("blocked contacts",)
        return reactivated(PROVIDER, address, removed, "not blocked at Brevo")

    async def _blocked(self, address: str) -> dict[str, Any] | None:
        for page in range(BLOCKED_PAGES):
            response = await self._http.request(
                "GET",
                "/v3/smtp/blockedContacts",
                params={"limit": BLOCKED_PAGE, "offset": page * BLOCKED_PAGE, "sort": "desc"},
                accept=frozenset({200}),
            )
            contacts = list_of(PROVIDER, response.json(), "contacts", empty_ok=True)
            for contact in contacts:
                if normalise_address(str(contact.get("email") or "")) == address:
                    return contact
            if len(contacts) < BLOCKED_PAGE:
                return None
        return None
