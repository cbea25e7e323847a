"""SendGrid: the Email Logs API (`POST /v3/logs`, then each message's events) and the
suppression lists (bounces, blocks, spam reports, invalid emails, global unsubscribes).

The older Email Activity API is not used: it needs a paid add-on and allows 6 requests/min.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from bot.addresses import normalise_address
from bot.model import DeliveryEvent
from bot.sources.api.answers import list_of, reactivated, read_events, timeline
from bot.sources.api.base import EspApiError, ReactivationResult, Suppression
from bot.sources.api.http import ApiHttp, RateLimiter
from bot.sources.esps.sendgrid.events import PROVIDER
from bot.sources.esps.sendgrid.events import normalize as normalize_event

LIMIT = 100
MAX_DETAILS = 10
LISTS = ("bounces", "blocks", "spam_reports", "invalid_emails")


class SendGridClient:
    provider = PROVIDER

    def __init__(self, api_key: str, client: httpx.AsyncClient, base_url: str) -> None:
        self._http = ApiHttp(
            PROVIDER,
            client,
            base_url,
            headers={"Authorization": f"Bearer {api_key}"},
            limiter=RateLimiter(5, burst=5),
        )

    async def events_for_recipient(self, address: str) -> list[DeliveryEvent]:
        address = normalise_address(address)
        if '"' in address or "\\" in address:
            raise EspApiError(PROVIDER, "cannot search the Email Logs API for a quoted address")
        response = await self._http.request(
            "POST",
            "/v3/logs",
            json={"query": f'to_email = "{address}"', "limit": LIMIT},
            accept=frozenset({200}),
        )
        messages = list_of(PROVIDER, response.json(), "messages")
        messages.sort(key=lambda m: str(m.get("sg_message_id_created_at") or ""), reverse=True)
        events: list[DeliveryEvent] = []
        for message in messages[:MAX_DETAILS]:
            message_id = str(message.get("sg_message_id") or "")
            detail = await self._http.request("GET", f"/v3/logs/{quote(message_id, safe='')}")
            if detail.status_code == 404:
                continue
            data = detail.json()
            custom = (data.get("custom_args") if isinstance(data, dict) else None) or {}
            items = list_of(PROVIDER, data, "events")
            events += read_events(
                PROVIDER, normalize_event, ({"custom_args": custom, **item} for item in items)
            )
        return timeline(events)

    async def suppression(self, address: str) -> Suppression | None:
        address = normalise_address(address)
        found = await self._listed(address)
        if not found:
            return None
        name, item = next(iter(found.items()))
        created = item.get("created")
        since = datetime.fromtimestamp(created, UTC) if isinstance(created, int) else None
        detail = str(item.get("reason") or "") or None
        return Suppression(PROVIDER, address, tuple(found), name, since, True, detail)

    async def reactivate(self, address: str, actor: str) -> ReactivationResult:
        address = normalise_address(address)
        found = await self._listed(address)
        for name in found:
            await self._http.request(
                "DELETE", self._path(name, address), accept=frozenset({200, 204})
            )
        return reactivated(PROVIDER, address, found, "not suppressed at SendGrid")

    async def _listed(self, address: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for name in (*LISTS, "global_unsubscribes"):
            response = await self._http.request("GET", self._path(name, address))
            if response.status_code != 200:
                continue
            data = response.json()
            if isinstance(data, list) and data and isinstance(data[0], dict):
                found[name] = data[0]
            elif isinstance(data, dict) and data.get("recipient_email"):
                found[name] = data
        return found

    @staticmethod
    def _path(name: str, address: str) -> str:
        encoded = quote(address, safe="@")
        if name == "global_unsubscribes":
            return f"/v3/asm/suppressions/global/{encoded}"
        return f"/v3/suppression/{name}/{encoded}"
