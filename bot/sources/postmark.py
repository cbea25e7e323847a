"""Postmark webhook payloads (Delivery, Bounce, SpamComplaint, Open, Click, SubscriptionChange).

Postmark puts blocks, deferrals and auto-replies in the same Bounce record type; `Type` says
which, so the table below, not code, decides what each one means.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from bot.model import DeliveryEvent, EventType
from bot.query import normalise_address
from bot.sources.payload import (
    PayloadError,
    bounded,
    mapping,
    smtp_parts,
    text,
    timestamp,
)

PROVIDER = "postmark"


class _Meaning(NamedTuple):
    event_type: EventType
    reject_reason: str | None = None
    hard: bool | None = None
    suppressed: bool = False


# Bounce `Type` → meaning (Postmark's bounce type table; see README "Postmark").
_BOUNCE_TYPES: dict[str, _Meaning] = {
    "HardBounce": _Meaning(EventType.BOUNCED, "bounced", hard=True),
    "SoftBounce": _Meaning(EventType.BOUNCED, "bounced", hard=False),
    "Transient": _Meaning(EventType.DEFERRED, hard=False),
    "DnsError": _Meaning(EventType.DEFERRED, hard=False),
    "Blocked": _Meaning(EventType.BOUNCED, "blocked"),
    "DMARCPolicy": _Meaning(EventType.BOUNCED, "blocked"),
    "SpamNotification": _Meaning(EventType.BOUNCED, "spam"),
    "VirusNotification": _Meaning(EventType.BOUNCED, "other"),
    "BadEmailAddress": _Meaning(EventType.REJECTED, "invalid", hard=True),
    "ManuallyDeactivated": _Meaning(EventType.REJECTED, "blocked", suppressed=True),
    "Unconfirmed": _Meaning(EventType.REJECTED, "other"),
    "SpamComplaint": _Meaning(EventType.COMPLAINED, "spam", suppressed=True),
    "AutoResponder": _Meaning(EventType.AUTORESPONDED),
    "AddressChange": _Meaning(EventType.AUTORESPONDED),
    "ChallengeVerification": _Meaning(EventType.AUTORESPONDED),
    "Unsubscribe": _Meaning(EventType.UNSUBSCRIBED, "unsubscribed"),
    "SMTPApiError": _Meaning(EventType.FAILED, "other"),
    "TemplateRenderingFailed": _Meaning(EventType.FAILED, "other"),
    "OpenRelayTest": _Meaning(EventType.UNKNOWN),
    "Subscribe": _Meaning(EventType.UNKNOWN),
    "Unknown": _Meaning(EventType.UNKNOWN),
}

# RecordType → (meaning, where the recipient is, where the time is)
_RECORDS: dict[str, tuple[_Meaning | None, str, str]] = {
    "Delivery": (_Meaning(EventType.DELIVERED), "Recipient", "DeliveredAt"),
    "Bounce": (None, "Email", "BouncedAt"),
    "SpamComplaint": (_BOUNCE_TYPES["SpamComplaint"], "Email", "BouncedAt"),
    "Open": (_Meaning(EventType.OPENED), "Recipient", "ReceivedAt"),
    "Click": (_Meaning(EventType.CLICKED), "Recipient", "ReceivedAt"),
    "SubscriptionChange": (None, "Recipient", "ChangedAt"),
}


def normalize(payload: Mapping[str, Any]) -> list[DeliveryEvent]:
    record_type = text(payload, "RecordType")
    if record_type not in _RECORDS:
        raise PayloadError(
            f"RecordType {record_type!r} is not a delivery webhook "
            f"(expected one of {', '.join(_RECORDS)})"
        )
    meaning, recipient_field, time_field = _RECORDS[record_type]
    if record_type == "Bounce":
        meaning = _BOUNCE_TYPES.get(str(payload.get("Type")), _BOUNCE_TYPES["Unknown"])
    elif record_type == "SubscriptionChange":
        meaning = (
            _Meaning(EventType.UNSUBSCRIBED, "unsubscribed", suppressed=True)
            if payload.get("SuppressSending")
            else _Meaning(EventType.UNKNOWN)
        )
    assert meaning is not None

    details = text(payload, "Details", required=False)
    diagnostic = bounded(details.removeprefix("smtp;") if details else None)
    smtp_code, status = smtp_parts(diagnostic)
    if meaning.event_type in (EventType.DELIVERED, EventType.OPENED, EventType.CLICKED):
        smtp_code, status = None, None
    metadata = mapping(payload, "Metadata")
    event_id = payload.get("ID")
    recipient = text(payload, recipient_field, "Email", "Recipient")
    assert recipient is not None
    when = timestamp(payload, time_field, "ReceivedAt", "BouncedAt", "DeliveredAt", "ChangedAt")
    return [
        DeliveryEvent(
            provider=PROVIDER,
            event_type=meaning.event_type,
            timestamp=when,
            recipient=normalise_address(recipient),
            message_id=text(payload, "MessageID", required=False),
            dispatch_id=_meta(metadata, "dispatch_id"),
            tenant=_meta(metadata, "tenant"),
            reject_reason=meaning.reject_reason,
            smtp_code=smtp_code,
            enhanced_status=status,
            diagnostic=diagnostic,
            mx_host=None,
            hard=meaning.hard,
            suppressed=meaning.suppressed
            or (bool(payload.get("Inactive")) and meaning.event_type is EventType.REJECTED),
            dedupe_key=f"{PROVIDER}:{record_type}:{event_id}" if event_id is not None else "",
            raw=dict(payload),
        )
    ]


def _meta(metadata: Mapping[str, Any], key: str) -> str | None:
    value = metadata.get(key)
    return str(value) if value not in (None, "") else None
