"""Brevo (ex-Sendinblue) transactional webhook events, and the events API's items.

Brevo sends no event id (the payload's `id` is the webhook's), so the dedupe key is a hash of
message id, event name, recipient and the millisecond `ts_epoch`. Only `ts_epoch` (and
`ts_event`) are reliably UTC; `date` follows the account's time zone, so it is the last resort.
Our metadata travels in the `X-Mailin-custom` header as JSON.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.addresses import normalise_address
from bot.model import DeliveryEvent, EventType
from bot.sources.payload import (
    Envelope,
    Meaning,
    PayloadError,
    first_text,
    json_object,
    normalize_each,
    text,
    timestamp,
)

PROVIDER = "brevo"


_EVENTS: dict[str, Meaning] = {
    "request": Meaning(EventType.QUEUED),
    "sent": Meaning(EventType.QUEUED),
    "delivered": Meaning(EventType.DELIVERED),
    "hard_bounce": Meaning(EventType.BOUNCED, "bounced", hard=True),
    "soft_bounce": Meaning(EventType.BOUNCED, "bounced", hard=False),
    "blocked": Meaning(EventType.REJECTED, "blocked", suppressed=True),
    "spam": Meaning(EventType.COMPLAINED, "spam", suppressed=True),
    "complaint": Meaning(EventType.COMPLAINED, "spam", suppressed=True),
    "invalid_email": Meaning(EventType.REJECTED, "invalid", hard=True),
    "deferred": Meaning(EventType.DEFERRED, hard=False),
    "opened": Meaning(EventType.OPENED),
    "unique_opened": Meaning(EventType.OPENED),
    "proxy_open": Meaning(EventType.OPENED),
    "unique_proxy_open": Meaning(EventType.OPENED),
    "click": Meaning(EventType.CLICKED),
    "unsubscribe": Meaning(EventType.UNSUBSCRIBED, "unsubscribed", suppressed=True),
    "unsubscribed": Meaning(EventType.UNSUBSCRIBED, "unsubscribed", suppressed=True),
    "error": Meaning(EventType.FAILED, "other"),
}

# The events API (`/v3/smtp/statistics/events`) names the same events in camelCase plurals.
API_EVENTS: dict[str, str] = {
    "requests": "request",
    "delivered": "delivered",
    "hardBounces": "hard_bounce",
    "softBounces": "soft_bounce",
    "blocked": "blocked",
    "spam": "spam",
    "invalid": "invalid_email",
    "deferred": "deferred",
    "opened": "opened",
    "clicks": "click",
    "unsubscribed": "unsubscribed",
    "error": "error",
    "loadedByProxy": "proxy_open",
}

_ERROR_PREFIX = re.compile(r"^\s*[A-Za-z]+Error:\s*")


def normalize(payload: Mapping[str, Any]) -> list[DeliveryEvent]:
    name = text(payload, "event")
    name = API_EVENTS.get(name, name) if name not in _EVENTS else name
    meaning = _EVENTS.get(name, Meaning(EventType.UNKNOWN))
    address = normalise_address(text(payload, "email"))
    when = _when(payload)
    reason = text(payload, "reason", required=False)
    message_id = text(payload, "message-id", "messageId", required=False)
    stable = "\x1f".join(
        (message_id or "", name, address, str(payload.get("ts_epoch") or when.isoformat()))
    )
    return [
        meaning.event(
            PROVIDER,
            when,
            address,
            tags=json_object(payload.get("X-Mailin-custom")),
            raw=payload,
            message_id=message_id,
            diagnostic=_ERROR_PREFIX.sub("", reason).strip() if reason else None,
            dedupe_key=f"{PROVIDER}:h:{hashlib.sha256(stable.encode()).hexdigest()[:40]}",
        )
    ]


def normalize_batch(payload: Any) -> list[DeliveryEvent]:
    """A webhook body: one event, or an array when "batched webhooks" is on."""
    return normalize_each(payload, normalize)


def _when(payload: Mapping[str, Any]) -> datetime:
    epoch_ms = payload.get("ts_epoch")
    if isinstance(epoch_ms, int | float) and not isinstance(epoch_ms, bool):
        try:
            return datetime.fromtimestamp(epoch_ms / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            raise PayloadError(f"field 'ts_epoch' is not a timestamp: {epoch_ms!r}") from None
    return timestamp(payload, "ts_event", "date")


def envelope(raw: Mapping[str, Any]) -> Envelope:
    """Webhook events carry `subject` (and `sender_email` on some accounts); the events API
    has `subject` and `from`."""
    return Envelope(first_text(raw, ("subject",)), first_text(raw, ("sender_email",), ("from",)))
