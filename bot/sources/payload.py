"""Reading untrusted ESP payloads: typed field access that fails with a message, not a KeyError."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal, NamedTuple, overload

from bot.addresses import normalise_address
from bot.model import DeliveryEvent, EventType, parse_timestamp

#: Remote servers' text is untrusted and sometimes huge; nothing useful is past this.
MAX_DIAGNOSTIC_CHARS = 2000

_SMTP_REPLY = re.compile(
    r"^\s*(?:smtp\s*;\s*)?(?P<code>[245]\d\d)?[\s-]*(?P<status>[245]\.\d{1,3}\.\d{1,3})?",
    re.IGNORECASE,
)

#: Events whose text is no SMTP reply to read codes from: a delivery's "250 OK" says nothing
#: about a failure, and open or click summaries are no replies at all.
_NO_REPLY = frozenset({EventType.DELIVERED, EventType.OPENED, EventType.CLICKED})


class Meaning(NamedTuple):
    """What one provider event type means in our vocabulary; each normalizer keeps a table."""

    event_type: EventType
    reject_reason: str | None = None
    hard: bool | None = None
    suppressed: bool = False

    def event(
        self,
        provider: str,
        when: datetime,
        recipient: str,
        *,
        tags: Mapping[str, Any],
        raw: Mapping[str, Any],
        message_id: str | None = None,
        diagnostic: str | None = None,
        smtp_code: int | None = None,
        enhanced_status: str | None = None,
        mx_host: str | None = None,
        suppressed: bool | None = None,
        dedupe_key: str = "",
    ) -> DeliveryEvent:
        """The event this meaning makes of one payload, read the same way for every provider.

        `recipient` is stored in the one form lookups compare. `tags` is what the sending
        product attached to the message (its `dispatch_id` and `tenant` are read from it).
        `diagnostic` is the remote server's reply as the provider quotes it: cut to size, and
        its reply code and enhanced status read from its start unless the payload states them
        apart (`smtp_code`, `enhanced_status` win). `suppressed` overrides the table's where
        the payload itself says."""
        diagnostic = bounded(diagnostic)
        if self.event_type in _NO_REPLY:
            smtp_code, enhanced_status = None, None
        else:
            code, status = smtp_parts(diagnostic)
            smtp_code = code if smtp_code is None else smtp_code
            enhanced_status = enhanced_status or status
        return DeliveryEvent(
            provider=provider,
            event_type=self.event_type,
            timestamp=when,
            recipient=normalise_address(recipient),
            message_id=message_id,
            dispatch_id=metadata_text(tags, "dispatch_id"),
            tenant=metadata_text(tags, "tenant"),
            reject_reason=self.reject_reason,
            smtp_code=smtp_code,
            enhanced_status=enhanced_status,
            diagnostic=diagnostic,
            mx_host=mx_host,
            hard=self.hard,
            suppressed=self.suppressed if suppressed is None else suppressed,
            dedupe_key=dedupe_key,
            raw=dict(raw),
        )


class PayloadError(ValueError):
    """A payload that is not what the provider documents; the message names the field."""


def field(payload: Mapping[str, Any], *names: str, required: bool = True) -> Any:
    """The first of `names` present and non-empty in `payload`."""
    for name in names:
        value = payload.get(name)
        if value not in (None, ""):
            return value
    if required:
        raise PayloadError(f"missing field {' or '.join(repr(n) for n in names)}")
    return None


_SCALARS = (str, int, float)


@overload
def text(payload: Mapping[str, Any], *names: str, required: Literal[True] = True) -> str: ...
@overload
def text(payload: Mapping[str, Any], *names: str, required: bool) -> str | None: ...


def text(payload: Mapping[str, Any], *names: str, required: bool = True) -> str | None:
    """The first of `names` as text. A required field is typed `str`, so callers need no check:
    it is there, or PayloadError said which one was missing."""
    value = field(payload, *names, required=required)
    if value is None:
        return None
    if not isinstance(value, _SCALARS):
        raise PayloadError(f"field {names[0]!r} should be text, got {type(value).__name__}")
    return str(value)


def timestamp(payload: Mapping[str, Any], *names: str) -> datetime:
    value = field(payload, *names)
    try:
        return parse_timestamp(value)
    except (ValueError, OverflowError, OSError) as exc:
        raise PayloadError(f"field {names[0]!r} is not a timestamp: {value!r}") from exc


def mapping(payload: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = payload.get(name) or {}
    if not isinstance(value, Mapping):
        raise PayloadError(f"field {name!r} should be an object")
    return value


def bounded(diagnostic: str | None) -> str | None:
    if diagnostic is None:
        return None
    return diagnostic[:MAX_DIAGNOSTIC_CHARS]


def smtp_parts(diagnostic: str | None) -> tuple[int | None, str | None]:
    """The reply code and enhanced status at the start of an SMTP reply, when they are there."""
    if not diagnostic:
        return None, None
    match = _SMTP_REPLY.match(diagnostic[:200])
    if not match:
        return None, None
    code = match.group("code")
    return (int(code) if code else None), match.group("status")


def metadata_text(metadata: Mapping[str, Any], key: str) -> str | None:
    """A value the sending product attached to the message (dispatch_id, tenant), as text; None
    when it is missing, empty, or an object or list rather than one value."""
    value = metadata.get(key)
    if value in (None, "") or isinstance(value, Mapping | list):
        return None
    return str(value)


def json_object(value: Any) -> Mapping[str, Any]:
    """Metadata some providers send as an object and elsewhere as a JSON string of one (Mailgun's
    user-variables in the Logs API, Brevo's X-Mailin-custom); anything else reads as empty."""
    if isinstance(value, str) and value.strip():
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return {}
    return value if isinstance(value, Mapping) else {}


def normalize_each(
    payload: Any, normalize: Callable[[Mapping[str, Any]], list[DeliveryEvent]]
) -> list[DeliveryEvent]:
    """A webhook body holding one event object or an array of them; a fault names the event."""
    items = payload if isinstance(payload, list) else [payload]
    events: list[DeliveryEvent] = []
    for number, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise PayloadError(f"event {number}: expected a JSON object")
        try:
            events += normalize(item)
        except PayloadError as exc:
            raise PayloadError(f"event {number}: {exc}") from None
    return events


class Envelope(NamedTuple):
    """What an ESP's event tells of the message itself, where it tells it: a dispatch known only
    from its events is described with these."""

    subject: str | None = None
    sender: str | None = None


def first_text(payload: Mapping[str, Any], *paths: tuple[str, ...]) -> str | None:
    """The first non-empty scalar (or first item of a list, as SES lists From) at one of the
    key paths; None when none is there. For reading optional fields deep in a payload."""
    for path in paths:
        value: Any = payload
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, _SCALARS) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()[:MAX_ENVELOPE_CHARS]
    return None


#: A subject or From header longer than this is not a subject: it is cut, like a diagnostic.
MAX_ENVELOPE_CHARS = 500


def body_json(body: bytes) -> Any:
    """A webhook body as JSON; a body that is not JSON, or nested past what Python parses, is a
    payload fault (400), never a crash."""
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PayloadError(f"body is not JSON: {exc}") from None
    except RecursionError:
        raise PayloadError("body is JSON nested too deeply") from None


def body_object(body: bytes) -> dict[str, Any]:
    payload = body_json(body)
    if not isinstance(payload, dict):
        raise PayloadError("body should be a JSON object")
    return payload
