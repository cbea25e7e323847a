"""Postmark: outbound message search by recipient, each message's event timeline, bounces,
suppressions, and reactivation (bounce activate, or suppression delete for manual ones).

A send to an inactive recipient is refused at send time and never becomes a message, so "no
messages, but an inactive bounce or a suppression" is the whole story for such addresses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx

from bot.addresses import normalise_address
from bot.model import DeliveryEvent, EventType, parse_timestamp
from bot.sources.api.answers import list_of, reactivated, read_events, timeline
from bot.sources.api.base import ReactivationResult, Suppression
from bot.sources.api.http import ApiHttp, RateLimiter
from bot.sources.esps.postmark.events import PROVIDER
from bot.sources.esps.postmark.events import normalize as normalize_event
from bot.sources.payload import Meaning

PAGE = 50  # count per page (Postmark allows 500, and count + offset <= 10,000)
MAX_PAGES = 4
MAX_DETAILS = 10  # newest messages whose timelines are fetched
STREAM = "outbound"

# MessageEvents[].Type → meaning (the official SDK's enum).
_TIMELINE: dict[str, Meaning] = {
    "Delivered": Meaning(EventType.DELIVERED),
    "Transient": Meaning(EventType.DEFERRED, hard=False),
    "Opened": Meaning(EventType.OPENED),
    "Bounced": Meaning(EventType.BOUNCED),
    "SubscriptionChanged": Meaning(EventType.UNSUBSCRIBED),
    "LinkClicked": Meaning(EventType.CLICKED),
}

# Message search `Status` → what it says before any timeline event.
_STATUS: dict[str, Meaning] = {
    "Sent": Meaning(EventType.SENT),
    "Processed": Meaning(EventType.SENT),
    "Queued": Meaning(EventType.QUEUED),
    "Scheduled": Meaning(EventType.QUEUED),
    "Blocked": Meaning(EventType.REJECTED),
    "Failed": Meaning(EventType.FAILED),
}


class PostmarkClient:
    provider = PROVIDER

    def __init__(self, token: str, client: httpx.AsyncClient, base_url: str) -> None:
        self._http = ApiHttp(
            PROVIDER,
            client,
            base_url,
            headers={"X-Postmark-Server-Token": token},
            limiter=RateLimiter(10, burst=10),
        )

    async def events_for_recipient(self, address: str) -> list[DeliveryEvent]:
        address = normalise_address(address)
        messages = await self._paged(
            "/messages/outbound", {"recipient": address}, "Messages", MAX_PAGES
        )
        timelines, bounces = await asyncio.gather(
            asyncio.gather(*(self._timeline(m, address) for m in messages[:MAX_DETAILS])),
            self._bounces(address),
        )
        events = [event for found in timelines for event in found]
        events += read_events(
            PROVIDER,
            normalize_event,
            ({"RecordType": "Bounce", **b} for b in bounces),
            label=lambda bounce: f"bounce {bounce.get('ID')}",
        )
        # The bounce list's record of a bounce beats the timeline's summary of it.
        return timeline(events, replaces=lambda e: e.raw.get("RecordType") == "Bounce")

    async def suppression(self, address: str) -> Suppression | None:
        address = normalise_address(address)
        inactive = [b for b in await self._bounces(address) if b.get("Inactive")]
        suppressions = await self._suppressions(address)
        if not inactive and not suppressions:
            return None
        lists: list[str] = []
        reason = None
        can = True
        since = None
        if inactive:
            newest = inactive[0]
            lists.append("inactive bounce")
            reason = str(newest.get("Type") or "")
            can = bool(newest.get("CanActivate"))
            since = _when(newest.get("BouncedAt"))
        for item in suppressions:
            lists.append(f"{STREAM} suppressions")
            reason = reason or str(item.get("SuppressionReason") or "")
            if item.get("SuppressionReason") == "SpamComplaint":
                can = False
            since = since or _when(item.get("CreatedAt"))
        return Suppression(PROVIDER, address, tuple(dict.fromkeys(lists)), reason, since, can)

    async def reactivate(self, address: str, actor: str) -> ReactivationResult:
        address = normalise_address(address)
        removed: list[str] = []
        refused: list[str] = []
        for bounce in await self._bounces(address):
            if not bounce.get("Inactive"):
                continue
            if not bounce.get("CanActivate"):
                refused.append(f"bounce {bounce.get('ID')} ({bounce.get('Type')}) cannot be")
                continue
            await self._http.request(
                "PUT", f"/bounces/{bounce['ID']}/activate", accept=frozenset({200})
            )
            removed.append(f"bounce {bounce['ID']}")
        for item in await self._suppressions(address):
            if item.get("SuppressionReason") == "SpamComplaint":
                refused.append("a spam-complaint suppression cannot be")
                continue
            response = await self._http.request(
                "POST",
                f"/message-streams/{STREAM}/suppressions/delete",
                json={"Suppressions": [{"EmailAddress": address}]},
                accept=frozenset({200}),
            )
            results = list_of(PROVIDER, response.json(), "Suppressions")
            if any(r.get("Status") == "Deleted" for r in results):
                removed.append(f"{STREAM} suppressions")
            else:
                refused.append(f"the {STREAM} suppression was not deleted: {results!r}"[:200])
        if refused:
            message = "; ".join(refused) + " reactivated (Postmark: contact its support)"
            return ReactivationResult(PROVIDER, address, False, tuple(removed), message)
        return reactivated(PROVIDER, address, removed, "not suppressed at Postmark")

    async def _timeline(self, message: Mapping[str, Any], address: str) -> list[DeliveryEvent]:
        message_id = str(message.get("MessageID") or "")
        metadata = message.get("Metadata")
        tags: Mapping[str, Any] = metadata if isinstance(metadata, dict) else {}
        events: list[DeliveryEvent] = []
        status = _STATUS.get(str(message.get("Status")))
        received = _when(message.get("ReceivedAt"))
        if status is not None and received is not None:
            events.append(
                status.event(
                    PROVIDER,
                    received,
                    address,
                    tags=tags,
                    raw={"search": dict(message)},
                    message_id=message_id,
                    dedupe_key=f"{PROVIDER}:api:{message_id}:{status.event_type.value}",
                )
            )
        response = await self._http.request(
            "GET",
            f"/messages/outbound/{message_id}/details",
            accept=frozenset({200, 404, 422}),  # 422 ErrorCode 701: "message was not found"
        )
        if response.status_code != 200:
            return events
        for item in list_of(PROVIDER, response.json(), "MessageEvents"):
            meaning = _TIMELINE.get(str(item.get("Type")))
            when = _when(item.get("ReceivedAt"))
            recipient = str(item.get("Recipient") or "")
            if meaning is None or when is None or normalise_address(recipient) != address:
                continue
            details = item.get("Details") if isinstance(item.get("Details"), dict) else {}
            assert isinstance(details, dict)
            text = details.get("DeliveryMessage") or details.get("Summary")
            bounce_id = details.get("BounceID")
            events.append(
                meaning.event(
                    PROVIDER,
                    when,
                    address,
                    tags=tags,
                    raw={"event": dict(item)},
                    message_id=message_id,
                    diagnostic=str(text).removeprefix("smtp;") if text else None,
                    mx_host=_server(details.get("DestinationServer")),
                    dedupe_key=f"{PROVIDER}:Bounce:{bounce_id}"
                    if bounce_id
                    else f"{PROVIDER}:api:{message_id}:{item.get('Type')}:{when.isoformat()}",
                )
            )
        return events

    async def _bounces(self, address: str) -> list[dict[str, Any]]:
        """Bounces of exactly `address` (emailFilter matches substrings), newest first."""
        found = await self._paged("/bounces", {"emailFilter": address}, "Bounces", MAX_PAGES)
        return [b for b in found if normalise_address(str(b.get("Email") or "")) == address]

    async def _suppressions(self, address: str) -> list[dict[str, Any]]:
        response = await self._http.request(
            "GET",
            f"/message-streams/{STREAM}/suppressions/dump",
            params={"EmailAddress": address},
        )
        if response.status_code == 404:
            return []
        return [
            s
            for s in list_of(PROVIDER, response.json(), "Suppressions")
            if normalise_address(str(s.get("EmailAddress") or "")) == address
        ]

    async def _paged(
        self, path: str, params: Mapping[str, str], key: str, pages: int
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in range(pages):
            offset = page * PAGE
            response = await self._http.request(
                "GET", path, params={**params, "count": PAGE, "offset": offset}
            )
            if response.status_code == 404:
                break
            data = response.json()
            batch = list_of(PROVIDER, data, key)
            items += batch
            total = data.get("TotalCount") if isinstance(data, dict) else None
            if len(batch) < PAGE or (isinstance(total, int) and offset + PAGE >= total):
                break
        return items


def _when(value: Any) -> datetime | None:
    try:
        return parse_timestamp(value) if value else None
    except ValueError:
        return None


def _server(value: Any) -> str | None:
    """'gmail-smtp-in.l.google.com (142.250.27.26)' → the host name."""
    return str(value).split(" ", 1)[0] if value else None
