"""Amazon SES v2: the account-level suppression list (get, delete), SigV4-signed.

SES keeps no per-recipient history to search (GetMessageInsights needs a message id and the
paid Virtual Deliverability Manager), so events come only from the SNS webhooks; this client
answers "is the address suppressed" and removes it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from bot.addresses import normalise_address
from bot.model import DeliveryEvent
from bot.sources.api.answers import reactivated
from bot.sources.api.base import ReactivationResult, Suppression
from bot.sources.api.http import ApiHttp, RateLimiter
from bot.sources.esps.ses.events import PROVIDER
from bot.sources.esps.ses.sigv4 import SigV4Auth

#: The one list SES keeps per account.
LIST = "account suppression list"


class SesClient:
    provider = PROVIDER

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        region: str,
        client: httpx.AsyncClient,
        base_url: str,
        session_token: str | None = None,
    ) -> None:
        self._http = ApiHttp(
            PROVIDER,
            client,
            base_url,
            auth=SigV4Auth(access_key, secret_key, region, "ses", session_token),
            limiter=RateLimiter(1, burst=2),
        )

    async def events_for_recipient(self, address: str) -> list[DeliveryEvent]:
        return []

    async def suppression(self, address: str) -> Suppression | None:
        address = normalise_address(address)
        response = await self._http.request("GET", self._path(address))
        if response.status_code == 404:
            return None
        data = response.json()
        item: Any = data.get("SuppressedDestination") if isinstance(data, dict) else None
        if not isinstance(item, dict):
            return None
        updated = item.get("LastUpdateTime")
        since = datetime.fromtimestamp(updated, UTC) if isinstance(updated, int | float) else None
        reason = str(item.get("Reason") or "") or None
        return Suppression(PROVIDER, address, (LIST,), reason, since, True)

    async def reactivate(self, address: str, actor: str) -> ReactivationResult:
        address = normalise_address(address)
        response = await self._http.request("DELETE", self._path(address))
        removed = () if response.status_code == 404 else (LIST,)
        return reactivated(PROVIDER, address, removed, "not suppressed at SES")

    @staticmethod
    def _path(address: str) -> str:
        return f"/v2/email/suppression/addresses/{quote(address, safe='')}"
