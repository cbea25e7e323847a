"""A bounce email someone pasted or attached: its failed recipients become evidence for the
core (events beside the stored ones), and a short summary of what the bounce itself says.

The bounce's own words decide the answer when nothing else is known of the recipient, so an
agent who pastes a bounce for an address the store never saw still gets a verdict.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.addresses import normalise_address
from bot.bounces import BouncedRecipient, BounceReport, Cut, ParseNote, parse_bounce_report
from bot.chrome import Chrome
from bot.model import DeliveryEvent, EventType

#: What the evidence lines name as the source of a pasted bounce's events.
SOURCE = "bounce email"
MAX_SUMMARY_ROWS = 10
MAX_PASTED_CHARS = 8_000

_BOUNCE_HINT = re.compile(
    r"(?im)^(?:final-recipient|diagnostic-code|status|action):"
    r"|\b[245]\d\d[ -][245]\.\d{1,3}\.\d{1,3}\b"
    r"|delivery (?:has )?failed|undeliver|mail delivery (?:subsystem|failed)"
)


def looks_like_bounce(text: str) -> bool:
    """A pasted bounce spans lines and shows DSN fields, an SMTP reply or the usual wording;
    a one-line question never counts, even when it quotes a reply code."""
    return "\n" in text and bool(_BOUNCE_HINT.search(text))


async def read(message: bytes | str, parsing: asyncio.Semaphore) -> BounceReport:
    """The failed recipients of a pasted or attached bounce, parsed in a worker thread.

    Parsing a large paste takes the better part of a second of CPU; on the event loop that
    would hold up every other request's acknowledgement (Slack allows 3 s). `parsing` bounds
    how many run at once, so a burst of pastes cannot take every worker thread either. A paste
    is cut to MAX_PASTED_CHARS: a bounce's failed recipients and their reasons come first, and
    an attachment is bounded by the parser's own size limit.
    """
    cut: tuple[ParseNote, ...] = ()
    if isinstance(message, str) and len(message) > MAX_PASTED_CHARS:
        whole = len(message.encode())
        message = message[:MAX_PASTED_CHARS]
        cut = (ParseNote(Cut.SIZE, len(message.encode()), whole),)
    async with parsing:
        report = await asyncio.to_thread(parse_bounce_report, message)
    return BounceReport(report.recipients, cut + report.notes)


def note_lines(notes: Sequence[ParseNote], chrome: Chrome) -> list[str]:
    """What was not read of a bounce, in the asker's words: its answer may be partial."""
    return [chrome(f"bounce_cut_{n.cut}", **n.amounts()) for n in notes]


def listed(rows: Sequence[BouncedRecipient], notes: Sequence[ParseNote]) -> int:
    """How many failed recipients the bounce named, counting those the parser did not list."""
    found = [n.total for n in notes if n.cut is Cut.RECIPIENTS and n.total is not None]
    return max([len(rows), *found])


def as_events(rows: Sequence[BouncedRecipient], now: datetime | None = None) -> list[DeliveryEvent]:
    """One event per failed recipient, as of now: the newest word on that recipient."""
    when = now or datetime.now(UTC)
    return [
        DeliveryEvent(
            provider=SOURCE,
            event_type=EventType.DEFERRED if row.hard is False else EventType.BOUNCED,
            timestamp=when,
            recipient=normalise_address(row.recipient),
            smtp_code=row.smtp_code,
            enhanced_status=row.status,
            diagnostic=row.diagnostic,
            mx_host=row.mx_host,
            reason=row.reason,
            hard=row.hard,
        )
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class SummaryLine:
    recipient: str
    kind: str
    reason: str
    code: str
    diagnostic: str | None


def summary(rows: Sequence[BouncedRecipient], chrome: Chrome) -> list[SummaryLine]:
    """What the bounce says of each recipient, in the asker's words; untrusted text as it came."""
    kinds = {True: "hard_bounce", False: "soft_bounce", None: "bounce"}
    return [
        SummaryLine(
            row.recipient,
            chrome(kinds[row.hard]),
            chrome.label(row.reason),
            " ".join(str(p) for p in (row.smtp_code, row.status) if p),
            row.diagnostic,
        )
        for row in rows[:MAX_SUMMARY_ROWS]
    ]
