"""SendGrid Event Webhook events (one element of the posted JSON array) and Email Logs events.

SendGrid merges the sender's `custom_args` into the event's top level (the Logs API keeps them
in `custom_args`); both are read. Unlike anymail, `bounce` is split by `type` (a `blocked` bounce
is soft) and `dropped` by its reason, because "dropped: Bounced Address" means suppressed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.model import DeliveryEvent, EventType
from bot.sources.payload import (
    Envelope,
    Meaning,
    first_text,
    mapping,
    normalize_each,
    text,
    timestamp,
)

PROVIDER = "sendgrid"


_EVENTS: dict[str, Meaning] = {
    "processed": Meaning(EventType.QUEUED),
    "deferred": Meaning(EventType.DEFERRED, hard=False),
    "delivered": Meaning(EventType.DELIVERED),
    "open": Meaning(EventType.OPENED),
    "click": Meaning(EventType.CLICKED),
    "spamreport": Meaning(EventType.COMPLAINED, "spam", suppressed=True),
    "unsubscribe": Meaning(EventType.UNSUBSCRIBED, "unsubscribed", suppressed=True),
    "group_unsubscribe": Meaning(EventType.UNSUBSCRIBED, "unsubscribed", suppressed=True),
    "group_resubscribe": Meaning(EventType.UNKNOWN),
}

# `bounce` by `type`.
_BOUNCES: dict[str, Meaning] = {
    "bounce": Meaning(EventType.BOUNCED, "bounced", hard=True),
    "blocked": Meaning(EventType.BOUNCED, "blocked", hard=False),
}

# `dropped` by `reason`, lower-cased: SendGrid did not try, mostly because of a suppression list.
_DROPS: dict[str, Meaning] = {
    "bounced address": Meaning(EventType.REJECTED, "bounced", hard=True, suppressed=True),
    "unsubscribed address": Meaning(EventType.REJECTED, "unsubscribed", suppressed=True),
    "spam reporting address": Meaning(EventType.REJECTED, "spam", suppressed=True),
    "invalid": Meaning(EventType.REJECTED, "invalid", hard=True, suppressed=True),
    "spam content": Meaning(EventType.REJECTED, "blocked"),
    "expired": Meaning(EventType.REJECTED, "timed_out"),
}
_OTHER_DROP = Meaning(EventType.REJECTED, "other")


def normalize(payload: Mapping[str, Any]) -> list[DeliveryEvent]:
    name = text(payload, "event")
    if name == "bounce":
        meaning = _BOUNCES.get(str(payload.get("type") or "bounce"), _BOUNCES["bounce"])
    elif name == "dropped":
        meaning = _DROPS.get(str(payload.get("reason") or "").strip().lower(), _OTHER_DROP)
    else:
        meaning = _EVENTS.get(name, Meaning(EventType.UNKNOWN))
    recipient = text(payload, "email")
    diagnostic = text(payload, "response", "reason", required=False)
    status = text(payload, "status", required=False)
    # An enhanced status code (5.1.1) here beats what the response's text starts with.
    enhanced = status if status and status[:1] in "245" and status.count(".") == 2 else None
    custom = {**mapping(payload, "custom_args"), **payload}
    event_id = text(payload, "sg_event_id", required=False)
    return [
        meaning.event(
            PROVIDER,
            timestamp(payload, "timestamp"),
            recipient,
            tags=custom,
            raw=payload,
            message_id=text(payload, "sg_message_id", "smtp-id", required=False),
            diagnostic=diagnostic,
            enhanced_status=enhanced,
            mx_host=text(payload, "mx_server", required=False),
            dedupe_key=f"{PROVIDER}:{event_id}" if event_id else "",
        )
    ]


def normalize_batch(payload: Any) -> list[DeliveryEvent]:
    """The webhook body: a JSON array of events (a lone object is accepted too)."""
    return normalize_each(payload, normalize)


def envelope(raw: Mapping[str, Any]) -> Envelope:
    """Webhook events carry neither (unless the sender adds them as custom args); the Email
    Logs API has `subject` and `from_email`."""
    return Envelope(
        first_text(raw, ("subject",), ("custom_args", "subject")),
        first_text(raw, ("from_email",), ("from",)),
    )
