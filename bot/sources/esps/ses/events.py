"""Amazon SES events, as SNS delivers them (a Notification wrapping the SES event as a string).

One SES event can name several recipients (a bounce of three addresses, a delivery to two), so
it fans out to one DeliveryEvent each; the SNS MessageId plus the recipient is the event id,
stable across SNS retries. Event Publishing (`eventType`, with message tags) and the older
identity notifications (`notificationType`, no tags) are "almost exactly the same" and share
the table below. A bare SES event (no SNS envelope, e.g. from Firehose) is accepted too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from bot.addresses import normalise_address
from bot.model import DeliveryEvent, EventType
from bot.sources.payload import (
    Envelope,
    Meaning,
    PayloadError,
    bounded,
    first_text,
    mapping,
    text,
    timestamp,
)

PROVIDER = "ses"


class _Shape(NamedTuple):
    """Where one SES event type keeps its details and its recipients."""

    section: str  # the object beside `mail` ("bounce", "delivery", …)
    recipients: str | None  # list in that object; None: everyone in mail.destination
    meaning: Meaning


_TYPES: dict[str, _Shape] = {
    "Bounce": _Shape("bounce", "bouncedRecipients", Meaning(EventType.BOUNCED, "bounced")),
    "Complaint": _Shape(
        "complaint",
        "complainedRecipients",
        Meaning(EventType.COMPLAINED, "spam", suppressed=True),
    ),
    "Delivery": _Shape("delivery", "recipients", Meaning(EventType.DELIVERED)),
    "Send": _Shape("send", None, Meaning(EventType.SENT)),
    "Reject": _Shape("reject", None, Meaning(EventType.REJECTED, "blocked")),
    "Rendering Failure": _Shape("failure", None, Meaning(EventType.FAILED, "other")),
    "DeliveryDelay": _Shape(
        "deliveryDelay", "delayedRecipients", Meaning(EventType.DEFERRED, hard=False)
    ),
    "Open": _Shape("open", None, Meaning(EventType.OPENED)),
    "Click": _Shape("click", None, Meaning(EventType.CLICKED)),
    "Subscription": _Shape("subscription", None, Meaning(EventType.UNKNOWN)),
}

# Bounce (bounceType, bounceSubType) → meaning; a missing subtype entry falls back to the type.
_BOUNCES: dict[tuple[str, str | None], Meaning] = {
    ("Permanent", None): Meaning(EventType.BOUNCED, "bounced", hard=True),
    ("Permanent", "OnAccountSuppressionList"): Meaning(
        EventType.REJECTED, "bounced", hard=True, suppressed=True
    ),
    ("Permanent", "Suppressed"): Meaning(EventType.REJECTED, "bounced", hard=True, suppressed=True),
    ("Transient", None): Meaning(EventType.BOUNCED, "bounced", hard=False),
    ("Undetermined", None): Meaning(EventType.BOUNCED, "bounced"),
}

# Where each event's diagnostic text is, in its section (per recipient first, then the section).
_DIAGNOSTIC_FIELDS = ("diagnosticCode", "smtpResponse", "reason", "errorMessage")


def normalize(payload: Mapping[str, Any]) -> list[DeliveryEvent]:
    """An SNS Notification envelope, or a bare SES event."""
    sns_id: str | None = None
    if "Message" in payload and "Type" in payload:
        if payload.get("Type") != "Notification":
            raise PayloadError(f"SNS message type {payload.get('Type')!r} carries no SES event")
        sns_id = text(payload, "MessageId")
        try:
            event = json.loads(str(payload["Message"]))
        except json.JSONDecodeError:
            raise PayloadError("SNS Message is not an SES event (not JSON)") from None
        if not isinstance(event, Mapping):
            raise PayloadError("SNS Message is not an SES event (not a JSON object)")
    else:
        event = payload
    return _events(event, sns_id, payload)


def _events(
    event: Mapping[str, Any], sns_id: str | None, raw: Mapping[str, Any]
) -> list[DeliveryEvent]:
    kind = text(event, "eventType", "notificationType")
    if kind not in _TYPES:
        if kind == "Received":
            raise PayloadError("inbound mail (Received) was sent to the delivery webhook")
        shape = _Shape(kind[:1].lower() + kind[1:], None, Meaning(EventType.UNKNOWN))
    else:
        shape = _TYPES[kind]
    mail = mapping(event, "mail")
    section = mapping(event, shape.section)
    meaning = shape.meaning
    if kind == "Bounce":
        bounce_type = str(section.get("bounceType") or "Undetermined")
        meaning = _BOUNCES.get(
            (bounce_type, str(section.get("bounceSubType"))),
            _BOUNCES.get((bounce_type, None), _BOUNCES[("Undetermined", None)]),
        )
    when = timestamp(
        {"a": section.get("timestamp"), "b": raw.get("Timestamp"), "c": mail.get("timestamp")},
        "a",
        "b",
        "c",
    )
    tags = _metadata(mail)
    message_id = text(mail, "messageId", required=False)
    results = []
    for address, detail in _recipients(shape, section, mail):
        diagnostic = bounded(
            text(detail, *_DIAGNOSTIC_FIELDS, required=False)
            or text(section, *_DIAGNOSTIC_FIELDS, required=False)
        )
        if diagnostic and diagnostic.lower().startswith("smtp;"):
            diagnostic = diagnostic[5:].lstrip()
        recipient = normalise_address(address)
        results.append(
            meaning.event(
                PROVIDER,
                when,
                recipient,
                tags=tags,
                raw=raw,
                message_id=message_id,
                diagnostic=diagnostic,
                enhanced_status=text(detail, "status", required=False),
                dedupe_key=_key(sns_id, kind, section, recipient),
            )
        )
    if not results:
        raise PayloadError(f"SES {kind} event names no recipient")
    return results


def _recipients(
    shape: _Shape, section: Mapping[str, Any], mail: Mapping[str, Any]
) -> list[tuple[str, Mapping[str, Any]]]:
    listed: Any = section.get(shape.recipients) if shape.recipients else None
    if listed is None:
        listed = mail.get("destination") or []
    if not isinstance(listed, Sequence) or isinstance(listed, str):
        raise PayloadError(f"field {shape.recipients or 'mail.destination'!r} should be a list")
    found: list[tuple[str, Mapping[str, Any]]] = []
    for item in listed:
        if isinstance(item, str):
            found.append((item, {}))
        elif isinstance(item, Mapping) and isinstance(item.get("emailAddress"), str):
            found.append((item["emailAddress"], item))
        else:
            raise PayloadError("a recipient entry has no emailAddress")
    return found


def _metadata(mail: Mapping[str, Any]) -> dict[str, str | None]:
    """Message tags (Event Publishing), else X-Dispatch-Id / X-Tenant headers."""
    tags = mapping(mail, "tags")
    headers = {
        str(h.get("name", "")).lower(): h.get("value")
        for h in mail.get("headers") or []
        if isinstance(h, Mapping)
    }

    def read(tag: str, header: str) -> str | None:
        value = tags.get(tag)
        if isinstance(value, list):
            value = value[0] if value else None
        value = value or headers.get(header)
        return str(value) if value not in (None, "") else None

    return {
        "dispatch_id": read("dispatch_id", "x-dispatch-id"),
        "tenant": read("tenant", "x-tenant"),
    }


def _key(sns_id: str | None, kind: str, section: Mapping[str, Any], recipient: str) -> str:
    if sns_id:
        return f"{PROVIDER}:{sns_id}:{recipient}"
    feedback = section.get("feedbackId")
    return f"{PROVIDER}:{kind}:{feedback}:{recipient}" if feedback else ""


def envelope(raw: Mapping[str, Any]) -> Envelope:
    """`mail.commonHeaders`, inside the SNS envelope's Message when the event came through SNS;
    `mail.source` is the envelope sender when the headers were not included."""
    event: Any = raw
    if "Message" in raw and "Type" in raw:
        try:
            event = json.loads(str(raw["Message"]))
        except json.JSONDecodeError:
            return Envelope()
    if not isinstance(event, Mapping):
        return Envelope()
    return Envelope(
        first_text(event, ("mail", "commonHeaders", "subject")),
        first_text(event, ("mail", "commonHeaders", "from"), ("mail", "source")),
    )
