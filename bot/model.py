"""The plain records that flow through whymail, one direction, from sources to answers.

They are deliberately dumb dataclasses: every stage reads them and builds new ones, so any stage
can be tested alone and nothing hides behaviour in an object graph.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from bot.chrome import Chrome
from bot.facts import Facts


class EventType(StrEnum):
    """django-anymail's event vocabulary, so every ESP's events mean the same thing."""

    QUEUED = "queued"
    SENT = "sent"
    REJECTED = "rejected"
    FAILED = "failed"
    BOUNCED = "bounced"
    DEFERRED = "deferred"
    DELIVERED = "delivered"
    AUTORESPONDED = "autoresponded"
    OPENED = "opened"
    CLICKED = "clicked"
    COMPLAINED = "complained"
    UNSUBSCRIBED = "unsubscribed"
    UNKNOWN = "unknown"


#: Events that say where a message stands; engagement events (opened, clicked) only corroborate.
OUTCOME_EVENTS = frozenset(
    {
        EventType.QUEUED,
        EventType.SENT,
        EventType.REJECTED,
        EventType.FAILED,
        EventType.BOUNCED,
        EventType.DEFERRED,
        EventType.DELIVERED,
    }
)


class DispatchState(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Role(StrEnum):
    TO = "to"
    CC = "cc"
    BCC = "bcc"


@dataclass(frozen=True, slots=True)
class Recipient:
    address: str
    role: Role = Role.TO


@dataclass(frozen=True, slots=True)
class Dispatch:
    """One thing the sending product tried to send (an invoice, a reminder...)."""

    id: str
    tenant: str
    kind: str = ""
    subject: str = ""
    sender: str = ""
    recipients: tuple[Recipient, ...] = ()
    created_at: datetime | None = None
    state: DispatchState = DispatchState.PENDING
    internal_error: str | None = None
    #: Where replies go, when not to `sender` (often the sending user while From is ours).
    reply_to: str = ""
    #: The customer's own outgoing mail server it went through instead of our ESP, if any:
    #: then no delivery events will come back, and only that server's logs can tell.
    relay: str = ""


@dataclass(slots=True)
class DeliveryEvent:
    """One thing an ESP said about one message to one recipient.

    Treat it as frozen, like the other records: stages build changed copies with
    `dataclasses.replace`. It is not declared frozen because a lookup builds hundreds of them and
    a frozen dataclass's `__init__` (one `object.__setattr__` call per field) made that four
    times slower, most of a recipient lookup's time (bench/store.py).
    """

    provider: str
    event_type: EventType
    timestamp: datetime
    recipient: str
    message_id: str | None = None
    dispatch_id: str | None = None
    tenant: str | None = None
    reject_reason: str | None = None
    smtp_code: int | None = None
    enhanced_status: str | None = None
    diagnostic: str | None = None
    mx_host: str | None = None
    reason: str | None = None
    hard: bool | None = None
    suppressed: bool = False
    dedupe_key: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.dedupe_key:
            self.dedupe_key = stable_key(self)


class StoredPayload(Mapping[str, Any]):
    """An event's provider payload as the store holds it (JSON text), decoded on first read.

    A lookup returns up to hundreds of events and almost nothing reads their payloads (the
    Reactivate button reads one field of one event), while decoding every payload was the larger
    part of a lookup's time. Written back, the text goes as it came (`payload_json`).
    """

    __slots__ = ("_decoded", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._decoded: dict[str, Any] | None = None

    def _value(self) -> dict[str, Any]:
        if self._decoded is None:
            value = json.loads(self.text)
            self._decoded = value if isinstance(value, dict) else {}
        return self._decoded

    def __getitem__(self, key: str) -> Any:
        return self._value()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._value())

    def __len__(self) -> int:
        return len(self._value())

    def __repr__(self) -> str:
        return f"StoredPayload({self.text[:80]!r})"


def payload_json(raw: Mapping[str, Any]) -> str:
    """The payload as compact JSON text for the store; values JSON cannot hold become strings."""
    if isinstance(raw, StoredPayload):
        return raw.text
    return json.dumps(raw, default=str, separators=(",", ":"))


def stable_key(event: DeliveryEvent) -> str:
    """A dedupe key for providers that send no event id: the same payload twice gives one key."""
    parts = [
        event.provider,
        event.event_type.value,
        event.recipient,
        event.message_id or "",
        event.timestamp.isoformat(),
        event.diagnostic or "",
    ]
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return f"{event.provider}:h:{digest[:40]}"


def utc(value: datetime) -> datetime:
    """Naive timestamps are taken as UTC; aware ones are converted, so comparisons never lie."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_timestamp(value: Any) -> datetime:
    """ISO 8601 (any offset, up to Postmark's seven fractional digits) or epoch seconds → UTC."""
    if isinstance(value, datetime):
        return utc(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"not a timestamp: {value!r}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    head, dot, tail = text.partition(".")
    if dot:
        digits = len(tail) - len(tail.lstrip("0123456789"))
        if digits > 6:
            tail = tail[:6] + tail[digits:]
        text = f"{head}.{tail}"
    return utc(datetime.fromisoformat(text))


@dataclass(frozen=True, slots=True)
class Timeline:
    """A dispatch (when we know it) and what the ESPs said about one of its recipients."""

    recipient: str
    dispatch: Dispatch | None
    events: tuple[DeliveryEvent, ...]


@dataclass(frozen=True, slots=True)
class Answer:
    """The tree's rendered text for one locale and audience."""

    title: str
    summary: str
    steps: tuple[str, ...]
    locale: str
    audience: str
    #: The words, value names and time zone every surface shows this answer with.
    chrome: Chrome
    #: What the UI may offer as buttons for this audience (ids in bot/trees/model.py ACTIONS).
    actions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Question:
    """A question the evidence cannot answer ("has the recipient looked in the junk folder?").

    The answer is never held up by it: the tree answers with what it knows, and the question,
    once answered (a Slack button), continues the walk with `answers[id] = value`.
    """

    id: str
    text: str
    options: tuple[tuple[str, str], ...]  # (value, label), in the answer's locale


@dataclass(frozen=True, slots=True)
class Unanswered:
    """An ESP whose API did not answer (in time), so the answer may lack its records; `why` is
    the technical detail (an HTTP status, a deadline), shown as a quotation in any language."""

    provider: str  # its display name
    why: str


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """Everything one answer needs: the verdict, how the tree got there and the evidence."""

    subject: str
    verdict: str
    severity: str
    path: tuple[str, ...]
    facts: Facts
    answer: Answer
    recipient: str | None = None
    dispatch_id: str | None = None
    reason: str | None = None
    hard: bool | None = None
    timeline: Timeline | None = None
    notes: tuple[Unanswered, ...] = ()
    question: Question | None = None

    def note_lines(self) -> list[str]:
        """The notes in the answer's language (the `why` in backticks, as a reply is)."""
        chrome = self.answer.chrome
        return [chrome("esp_unanswered", provider=n.provider, why=n.why) for n in self.notes]

    def to_json(self) -> dict[str, Any]:
        """The public JSON shape of `whymail ask --json` (DESIGN.md contract).

        A customer's answer keeps every key but only what a customer in Slack sees: the
        address, the text and the question. The verdict, path, reason, dispatch id, facts,
        timeline and notes stay empty, so nothing internal (tree ids, ESP names, hosts, SMTP
        codes, the server's reply) leaves with it, whoever shows the JSON on.
        """
        agent = self.answer.audience != "customer"
        return {
            "subject": self.subject if agent else (self.recipient or self.subject),
            "verdict": self.verdict if agent else None,
            "severity": self.severity,
            "reason": self.reason if agent else None,
            "hard": self.hard if agent else None,
            "recipient": self.recipient,
            "dispatch_id": self.dispatch_id if agent else None,
            "path": list(self.path) if agent else [],
            "facts": json.loads(json.dumps(self.facts, default=str)) if agent else {},
            "answer": {
                "title": self.answer.title,
                "summary": self.answer.summary,
                "steps": list(self.answer.steps),
                "locale": self.answer.locale,
                "audience": self.answer.audience,
                "actions": list(self.answer.actions),
                "time_zone": self.answer.chrome.time_zone,
            },
            "timeline": [
                {
                    "timestamp": e.timestamp.isoformat(),
                    "provider": e.provider,
                    "event_type": e.event_type.value,
                    "smtp_code": e.smtp_code,
                    "enhanced_status": e.enhanced_status,
                    "diagnostic": e.diagnostic,
                    "reason": e.reason,
                }
                for e in (self.timeline.events if self.timeline and agent else ())
            ],
            "notes": self.note_lines()
            if agent
            else ([self.answer.chrome("partial")] if self.notes else []),
            "question": None
            if self.question is None
            else {
                "id": self.question.id if agent else None,
                "text": self.question.text,
                "options": [{"value": v, "label": label} for v, label in self.question.options],
            },
        }
