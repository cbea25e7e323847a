"""Postmark webhook payloads (Delivery, Bounce, SpamComplaint, Open, Click, SubscriptionChange).

Postmark puts blocks, deferrals and auto-replies in the same Bounce record type; `Type` says
which, so the table below, not code, decides what each one means.
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
    mapping,
    text,
    timestamp,
)

PROVIDER = "postmark"


# Bounce `Type` → meaning (Postmark's bounce type table; see README "Postmark").
_BOUNCE_TYPES: dict[str, Meaning] = {
    "HardBounce": Meaning(EventType.BOUNCED, "bounced", hard=True),
    "SoftBounce": Meaning(EventType.BOUNCED, "bounced", hard=False),
    "Transient": Meaning(EventType.DEFERRED, hard=False),
    "DnsError": Meaning(EventType.DEFERRED, hard=False),
    "Blocked": Meaning(EventType.BOUNCED, "blocked"),
    "DMARCPolicy": Meaning(EventType.BOUNCED, "blocked"),
    "SpamNotification": Meaning(EventType.BOUNCED, "spam"),
    "VirusNotification": Meaning(EventType.BOUNCED, "other"),
    "BadEmailAddress": Meaning(EventType.REJECTED, "invalid", hard=True),
    "ManuallyDeactivated": Meaning(EventType.REJECTED, "blocked", suppressed=True),
    "Unconfirmed": Meaning(EventType.REJECTED, "other"),
    "SpamComplaint": Meaning(EventType.COMPLAINED, "spam", suppressed=True),
    "AutoResponder": Meaning(EventType.AUTORESPONDED),
    "AddressChange": Meaning(EventType.AUTORESPONDED),
    "ChallengeVerification": Meaning(EventType.AUTORESPONDED),
    "Unsubscribe": Meaning(EventType.UNSUBSCRIBED, "unsubscribed"),
    "SMTPApiError": Meaning(EventType.FAILED, "other"),
    "TemplateRenderingFailed": Meaning(EventType.FAILED, "other"),
    "OpenRelayTest": Meaning(EventType.UNKNOWN),
    "Subscribe": Meaning(EventType.UNKNOWN),
    "Unknown": Meaning(EventType.UNKNOWN),
}

# RecordType → (meaning, where the recipient is, where the time is)
_RECORDS: dict[str, tuple[Meaning | None, str, str]] = {
    "Delivery": (Meaning(EventType.DELIVERED), "Recipient", "DeliveredAt"),
    "Bounce": (None, "Email", "BouncedAt"),
    "SpamComplaint": (_BOUNCE_TYPES["SpamComplaint"], "Email", "BouncedAt"),
    "Open": (Meaning(EventType.OPENED), "Recipient", "ReceivedAt"),
    "Click": (Meaning(EventType.CLICKED), "Recipient", "ReceivedAt"),
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
            Meaning(EventType.UNSUBSCRIBED, "unsubscribed", suppressed=True)
            if payload.get("SuppressSending")
            else Meaning(EventType.UNKNOWN)
        )
    assert meaning is not None

    details = text(payload, "Details", required=False)
    metadata = mapping(payload, "Metadata")
    event_id = payload.get("ID")
    recipient = text(payload, recipient_field, "Email", "Recipient")
    when = timestamp(payload, time_field, "ReceivedAt", "BouncedAt", "DeliveredAt", "ChangedAt")
    return [
        meaning.event(
            PROVIDER,
            when,
            recipient,
            tags=metadata,
            raw=payload,
            message_id=text(payload, "MessageID", required=False),
            diagnostic=details.removeprefix("smtp;") if details else None,
            suppressed=meaning.suppressed
            or (bool(payload.get("Inactive")) and meaning.event_type is EventType.REJECTED),
            dedupe_key=f"{PROVIDER}:{record_type}:{event_id}" if event_id is not None else "",
        )
    ]


def envelope(raw: Mapping[str, Any]) -> Envelope:
    """Bounce and spam-complaint records (and the API's messages) carry Subject and From."""
    return Envelope(first_text(raw, ("Subject",)), first_text(raw, ("From",)))
