"""Mailgun: the Logs API (`POST /v1/analytics/logs`), the older Events API for accounts
without it, and the per-domain bounces / unsubscribes / complaints lists."""

from __future__ import annotations

import email.utils
import time
from typing import Any
from urllib.parse import quote

import httpx

from bot.addresses import normalise_address
from bot.model import DeliveryEvent
from bot.sources.api.answers import list_of, reactivated, read_events, timeline
from bot.sources.api.base import EspApiError, ReactivationResult, Suppression
from bot.sources.api.http import ApiHttp, RateLimiter
from bot.sources.esps.mailgun.events import PROVIDER
from bot.sources.esps.mailgun.events import normalize as normalize_event

LOOKBACK_DAYS = 30
PAGE = 100  # the Logs API's maximum
EVENTS_PAGE = 300  # the Events API's maximum
MAX_PAGES = 5
SUPPRESSION_LISTS = ("bounces", "unsubscribes", "complaints")
_LOG_EVENTS = ["accepted", "delivered", "failed", "rejected", "complained", "unsubscribed"]


class MailgunClient:
    provider = PROVIDER

    def __init__(self, api_key: str, domain: str, client: httpx.AsyncClient, base_url: str) -> None:
        self._domain = domain
        self._http = ApiHttp(
            PROVIDER, client, base_url, auth=("api", api_key), limiter=RateLimiter(10, burst=10)
        )

    async def events_for_recipient(self, address: str) -> list[DeliveryEvent]:
        address = normalise_address(address)
        items = await self._logs(address)
        if items is None:
            items = await self._events(address)
        events = read_events(
            PROVIDER, normalize_event, items, label=lambda item: f"event {item.get('id')}"
        )
        return timeline(events)

    async def _logs(self, address: str) -> list[dict[str, Any]] | None:
        """None when this account has no Logs API (then the Events API answers)."""
        now = time.time()

        def value(v: str) -> list[dict[str, str]]:
            return [{"label": v, "value": v}]

        body: dict[str, Any] = {
            "start": email.utils.formatdate(now - LOOKBACK_DAYS * 86400, usegmt=True),
            "end": email.utils.formatdate(now, usegmt=True),
            "events": _LOG_EVENTS,
            "filter": {
                "AND": [
                    {"attribute": "recipient", "comparator": "=", "values": value(address)},
                    {"attribute": "domain", "comparator": "=", "values": value(self._domain)},
                ]
            },
            "include_subaccounts": True,
            "include_totals": False,
            "pagination": {"sort": "timestamp:asc", "limit": PAGE},
        }
        items: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            response = await self._http.request(
                "POST", "/v1/analytics/logs", json=body, accept=frozenset({200, 403, 404})
            )
            if response.status_code in (403, 404):
                return None
            data = response.json()
            page = list_of(PROVIDER, data, "items")
            items += page
            token = (data.get("pagination") or {}).get("next")
            if len(page) < PAGE or not token:
                break
            body["pagination"] = {**body["pagination"], "token": token}
        return items

    async def _events(self, address: str) -> list[dict[str, Any]]:
        url = f"/v3/{quote(self._domain)}/events"
        params: dict[str, Any] | None = {
            "recipient": address,
            "ascending": "yes",
            "limit": EVENTS_PAGE,
            "begin": int(time.time() - LOOKBACK_DAYS * 86400),
        }
        items: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            response = await self._http.request("GET", url, params=params, accept=frozenset({200}))
            data = response.json()
            page = list_of(PROVIDER, data, "items")
            items += page
            following = (data.get("paging") or {}).get("next")
            if not page or not isinstance(following, str):
                break
            if not self._http.same_origin(following):
                raise EspApiError(PROVIDER, f"paging link to another host: {following[:100]}")
            url, params = following, None
        return items

    async def suppression(self, address: str) -> Suppression | None:
        address = normalise_address(address)
        found = await self._listed(address)
        if not found:
            return None
        first = next(iter(found.values()))
        detail = str(first.get("error") or "") or None
        since = None
        if first.get("created_at"):
            try:
                since = email.utils.parsedate_to_datetime(str(first["created_at"]))
            except (TypeError, ValueError):
                since = None
        return Suppression(PROVIDER, address, tuple(found), next(iter(found)), since, True, detail)

    async def reactivate(self, address: str, actor: str) -> ReactivationResult:
        address = normalise_address(address)
        found = await self._listed(address)
        for name in found:
            await self._http.request("DELETE", self._path(name, address), accept=frozenset({200}))
        return reactivated(PROVIDER, address, found, "not suppressed at Mailgun")

    async def _listed(self, address: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for name in SUPPRESSION_LISTS:
            response = await self._http.request("GET", self._path(name, address))
            if response.status_code == 200:
                data = response.json()
                found[name] = data if isinstance(data, dict) else {}
        return found

    def _path(self, name: str, address: str) -> str:
        return f"/v3/{quote(self._domain)}/{name}/{quote(address, safe='')}"
