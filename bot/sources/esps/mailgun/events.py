"""Mailgun events: JSON webhooks (`{"signature", "event-data"}`), Events API and Logs API items.

All three carry the same event object (the Logs API spells the time `@timestamp` and sends
`user-variables` as a JSON string), so one normalizer reads them all. `failed` means a retry
when `severity` is temporary and a final failure otherwise; `reason` and the pseudo-SMTP codes
605-607 say when Mailgun did not even try because the address is suppressed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.model import DeliveryEvent, EventType
from bot.sources.payload import (
    Envelope,
    Meaning,
    PayloadError,
    first_text,
    json_object,
    mapping,
    text,
    timestamp,
)

PROVIDER = "mailgun"


_EVENTS: dict[str, Meaning] = {
    "accepted": Meaning(EventType.QUEUED),
    "rejected": Meaning(EventType.REJECTED, "other"),
    "delivered": Meaning(EventType.DELIVERED),
    "opened": Meaning(EventType.OPENED),
    "unique_opened": Meaning(EventType.OPENED),
    "clicked": Meaning(EventType.CLICKED),
    "unique_clicked": Meaning(EventType.CLICKED),
    "unsubscribed": Meaning(EventType.UNSUBSCRIBED, "unsubscribed"),
    "complained": Meaning(EventType.COMPLAINED, "spam"),
    "stored": Meaning(EventType.UNKNOWN),
}

_TEMPORARY_FAILURE = Meaning(EventType.DEFERRED, hard=False)
_PERMANENT_FAILURE = Meaning(EventType.BOUNCED, "other")

# Permanent `failed` events by `reason` (Mailgun's own delivery investigator uses the same split).
_FAILED_REASONS: dict[str, Meaning] = {
    "suppress-bounce": Meaning(EventType.REJECTED, "bounced", suppressed=True),
    "suppress-unsubscribe": Meaning(EventType.REJECTED, "unsubscribed", suppressed=True),
    "suppress-complaint": Meaning(EventType.REJECTED, "spam", suppressed=True),
    "bounce": Meaning(EventType.BOUNCED, "bounced", hard=True),
    "old": Meaning(EventType.BOUNCED, "timed_out", hard=False),
    "espblock": Meaning(EventType.BOUNCED, "blocked"),
    "generic": _PERMANENT_FAILURE,
}

# Mailgun's pseudo-SMTP codes for sends it refused because of a suppression list.
_SUPPRESSION_CODES: dict[int, str] = {
    605: "suppress-bounce",
    606: "suppress-unsubscribe",
    607: "suppress-complaint",
}


def normalize(payload: Mapping[str, Any]) -> list[DeliveryEvent]:
    data = mapping(payload, "event-data") if "event-data" in payload else payload
    name = text(data, "event")
    status = mapping(data, "delivery-status")
    code = status.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    meaning = _meaning(name, data, code)

    headers = mapping(mapping(data, "message"), "headers")
    recipient = text(data, "recipient", required=False) or text(headers, "to", required=False)
    if recipient is None:
        raise PayloadError("missing field 'recipient' (and no message.headers.to)")
    when = timestamp(data, "timestamp", "@timestamp")
    reject = mapping(data, "reject")
    diagnostic = text(status, "message", "description", required=False) or text(
        reject, "reason", "description", required=False
    )
    enhanced = text(status, "enhanced-code", required=False)
    message_id = text(headers, "message-id", required=False)
    event_id = text(data, "id", required=False)
    return [
        meaning.event(
            PROVIDER,
            when,
            recipient,
            tags=json_object(data.get("user-variables")),  # a JSON string in the Logs API
            raw=payload,
            message_id=message_id.strip("<>") if message_id else None,
            diagnostic=diagnostic,
            smtp_code=code if code is not None and 200 <= code < 600 else None,
            enhanced_status=enhanced,
            mx_host=text(status, "mx-host", required=False),
            # event-data.id is unique only within a day: its timestamp makes it unique.
            dedupe_key=f"{PROVIDER}:{event_id}:{when.timestamp():.6f}" if event_id else "",
        )
    ]


def _meaning(name: str, data: Mapping[str, Any], code: int | None) -> Meaning:
    if name != "failed":
        return _EVENTS.get(name, Meaning(EventType.UNKNOWN))
    if data.get("severity") == "temporary":
        return _TEMPORARY_FAILURE
    reason = str(data.get("reason") or "")
    if code in _SUPPRESSION_CODES:
        reason = _SUPPRESSION_CODES[code]
    if reason not in _FAILED_REASONS and mapping(data, "delivery-status").get("bounce-type"):
        reason = "bounce"
    return _FAILED_REASONS.get(reason, _PERMANENT_FAILURE)


def envelope(raw: Mapping[str, Any]) -> Envelope:
    """The message headers Mailgun repeats in every event (webhook body or Logs API item)."""
    headers = ("event-data", "message", "headers"), ("message", "headers")
    return Envelope(
        first_text(raw, *((*path, "subject") for path in headers)),
        first_text(raw, *((*path, "from") for path in headers)),
    )
