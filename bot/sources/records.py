"""whymail's own JSON-lines records (`whymail ingest --provider whymail`), format in DESIGN.md."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.addresses import normalise_address
from bot.model import DeliveryEvent, Dispatch, DispatchState, EventType, Recipient, Role
from bot.sources.payload import PayloadError, bounded, field, text, timestamp


def normalize(payload: Mapping[str, Any]) -> list[Dispatch | DeliveryEvent]:
    kind = payload.get("type")
    if kind == "dispatch":
        return [_dispatch(payload)]
    if kind == "event":
        return [_event(payload)]
    raise PayloadError('field "type" must be "dispatch" or "event"')


def _enum(enum: type[Any], value: Any, name: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(m.value for m in enum)
        raise PayloadError(f"field {name!r} is {value!r}; expected one of {choices}") from None


def _dispatch(p: Mapping[str, Any]) -> Dispatch:
    recipients = p.get("recipients") or []
    if not isinstance(recipients, list) or not recipients:
        raise PayloadError("field 'recipients' should be a non-empty list")
    parsed = []
    for item in recipients:
        if isinstance(item, str):
            item = {"address": item}
        if not isinstance(item, Mapping) or not isinstance(item.get("address"), str):
            raise PayloadError("each recipient needs an 'address'")
        parsed.append(
            Recipient(
                normalise_address(item["address"]), _enum(Role, item.get("role", "to"), "role")
            )
        )
    return Dispatch(
        id=str(field(p, "id")),
        tenant=str(field(p, "tenant")),
        kind=str(p.get("kind") or ""),
        subject=str(p.get("subject") or ""),
        sender=str(p.get("sender") or ""),
        recipients=tuple(parsed),
        created_at=timestamp(p, "created_at") if p.get("created_at") else None,
        state=_enum(DispatchState, p.get("state", "pending"), "state"),
        internal_error=text(p, "internal_error", required=False),
        reply_to=str(p.get("reply_to") or ""),
        relay=str(p.get("relay") or ""),
    )


def _event(p: Mapping[str, Any]) -> DeliveryEvent:
    smtp_code = p.get("smtp_code")
    if smtp_code is not None and not isinstance(smtp_code, int):
        raise PayloadError("field 'smtp_code' should be a number")
    hard = p.get("hard")
    if hard is not None and not isinstance(hard, bool):
        raise PayloadError("field 'hard' should be true, false or null")
    return DeliveryEvent(
        provider=str(p.get("provider") or "whymail"),
        event_type=_enum(EventType, field(p, "event_type"), "event_type"),
        timestamp=timestamp(p, "timestamp"),
        recipient=normalise_address(str(field(p, "recipient"))),
        message_id=text(p, "message_id", required=False),
        dispatch_id=text(p, "dispatch_id", required=False),
        tenant=text(p, "tenant", required=False),
        reject_reason=text(p, "reject_reason", required=False),
        smtp_code=smtp_code,
        enhanced_status=text(p, "enhanced_status", required=False),
        diagnostic=bounded(text(p, "diagnostic", required=False)),
        mx_host=text(p, "mx_host", required=False),
        reason=text(p, "reason", required=False),
        hard=hard,
        suppressed=bool(p.get("suppressed", False)),
        dedupe_key=str(p.get("dedupe_key") or ""),
        raw=dict(p.get("raw") or {}),
    )
