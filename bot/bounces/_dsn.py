"""Read a bounce email: which recipients failed, and what the remote server said about each.

RFC 3464 delivery-status parts are trusted first. Bounces without one (qmail, old Exim,
Exchange, Gmail's plain-text notices, carriers) are read from the human-readable part: it is cut
where the returned original begins, then split into one block per recipient address (Sendmail
transcripts per recipient dialogue). Amazon SES notifications (JSON in the body, also when a
relay folded its lines) and ARF complaints (one row per reported recipient) are read too.

The SMTP phase comes from each recipient's own reply first, then from its part of the text
(RFC 3464 fields carry no command; only the Diagnostic-Code's words and the MTA's prose name
it), and it matters: a bare "550 User unknown" that the transcript does not place at RCPT TO is
read as the recipient's filter, as Sisimai does. Each row keeps the phase it was read with.
Broken structure is repaired rather than given up on: a multipart whose declared boundary is
wrong, a bounce forwarded inside another bounce.

Everything is bounded: the email is truncated before parsing, parts, nesting, recipients and
text are capped, so a hostile or broken message costs a few milliseconds and yields no rows
rather than an error. A cut that may have changed the answer is reported with it
(`parse_bounce_report`), so that no one mistakes a partial reading for the whole email.
"""

from __future__ import annotations

import email
import email.errors
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from email.message import Message
from email.policy import compat32
from enum import StrEnum
from typing import Any, Final, TypeVar

from bot.bounces._classify import (
    classify,
    classify_reported,
    find_code,
    find_phase,
    find_status,
    normalise,
)

MAX_BYTES: Final = 512 * 1024
MAX_PARTS: Final = 64
MAX_TEXT: Final = 32 * 1024
MAX_DIAGNOSTIC: Final = 1000
MAX_RECIPIENTS: Final = 200
#: How many levels of multipart a message's own MIME tree is read to.
MAX_DEPTH: Final = 8
#: How many times a bounce may have been forwarded (or quoted in another bounce) and still be
#: read, and how many such messages one email may hold in all (four per level would otherwise
#: let a small email cost thousands of parses).
MAX_NESTING: Final = 10
MAX_INNER: Final = 32

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class BouncedRecipient:
    """One recipient of a bounce, with the remote text and what it means.

    `phase` is the SMTP stage the remote reply answered (connect, helo, starttls, mail, rcpt,
    data), as the recipient's reply or its part of the bounce names it; None when neither does.
    It is kept because it changes what a reply means ("user unknown" after DATA is a filter).
    """

    recipient: str
    status: str | None
    smtp_code: int | None
    diagnostic: str | None
    reason: str
    hard: bool | None
    mx_host: str | None = None
    phase: str | None = None


class Cut(StrEnum):
    """A part of a bounce the parser did not read, or recipients it did not list."""

    SIZE = "size"
    HEADERS = "headers"
    PARTS = "parts"
    DEPTH = "depth"
    FORWARDS = "forwards"
    RECIPIENTS = "recipients"
    UNREADABLE = "unreadable"


@dataclass(frozen=True, slots=True)
class ParseNote:
    """One cut, with the counts an answer needs to say what is missing in any language.

    `read` and `total` count what `cut` is about: bytes (SIZE, HEADERS), MIME parts (PARTS),
    levels (DEPTH, FORWARDS) or recipients (RECIPIENTS). `total` is None when it is not known.
    `str()` is the English sentence that the CLI prints.
    """

    cut: Cut
    read: int = 0
    total: int | None = None

    def amounts(self) -> dict[str, str]:
        """`read` and `total` as text, for a sentence in any language: sizes in KiB or MiB,
        counts with thousands separators, "?" for a total not known."""

        def text(n: int | None) -> str:
            if n is None:
                return "?"
            return _size(n) if self.cut in (Cut.SIZE, Cut.HEADERS) else f"{n:,}"

        return {"read": text(self.read), "total": text(self.total)}

    def __str__(self) -> str:
        match self.cut:
            case Cut.SIZE if self.total is not None:
                return (
                    f"only the first {_size(self.read)} of the email were read "
                    f"(it is {_size(self.total)})"
                )
            case Cut.SIZE:
                return f"only the first {_size(self.read)} of the email were read"
            case Cut.HEADERS:
                return f"its headers fill the first {_size(self.read)}; the body was not read"
            case Cut.PARTS:
                return f"only the first {self.read} MIME parts were read"
            case Cut.DEPTH:
                return f"MIME parts nested more than {self.read} levels deep were not read"
            case Cut.FORWARDS:
                return (
                    f"messages forwarded inside it were not all read (the limit is {self.read} "
                    f"levels, {MAX_INNER} messages)"
                )
            case Cut.RECIPIENTS:
                return f"only {self.read:,} of the {self.total or 0:,} recipients found are listed"
            case _:
                return "the email could not be read (its MIME structure is broken or too deep)"


@dataclass(frozen=True, slots=True)
class BounceReport:
    """What `parse_bounce_report` found, and what it did not read; no notes means all was read."""

    recipients: tuple[BouncedRecipient, ...]
    notes: tuple[ParseNote, ...] = ()


def _size(n: int) -> str:
    if n < 1024 * 1024:
        return f"{n / 1024:,.0f} KiB"
    return f"{n / (1024 * 1024):,.1f} MiB"


class _Cuts:
    """The cuts of one parse, shared by every nested level; the first of each kind is kept."""

    __slots__ = ("inner_left", "notes")

    def __init__(self) -> None:
        self.notes: dict[Cut, ParseNote] = {}
        self.inner_left = MAX_INNER

    def add(self, cut: Cut, read: int = 0, total: int | None = None) -> None:
        self.notes.setdefault(cut, ParseNote(cut, read, total))

    def capped(self, items: Sequence[_T]) -> list[_T]:
        """At most MAX_RECIPIENTS of `items`, noting how many there were when that is fewer."""
        if len(items) > MAX_RECIPIENTS:
            self.add(Cut.RECIPIENTS, MAX_RECIPIENTS, len(items))
        return list(items[:MAX_RECIPIENTS])


# Bounded repeats keep a long run of address characters from going quadratic.
_ADDR: Final = re.compile(
    r"[\w.!#$%&'*+/=?^`{|}~-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}", re.ASCII
)
_ENCODED_ADDR: Final = re.compile(r"=\?[^?]+\?[bq]\?[^?]+\?=@[\w-]+(?:\.[\w-]+)+", re.I)
# Where the bounce's own words end and the returned original (or its headers) begins.
_ORIGINAL_MARKERS: Final = re.compile(
    r"(?:"
    r"-{2,} ?(?:original message|this is a copy of|below this line is a copy|forwarded message)"
    r"|below is a copy of the original|included is a copy of the message header"
    r"|^original message follows|^-+ ?original message ?-+|^--- ?below this line"
    r"|^content-type: message/rfc822|^return-path: <|^received: from "
    r"|the original message (?:was|is) (?:attached|included|follows|below)"
    r"|^\s*-+ ?the header of the original message"
    r"|^\s*-+ ?undelivered message"
    r"|^\s*-+ ?(?:returned|unsent) message(?: follows)? ?-*\s*$"
    r")",
    re.I | re.M,
)
_MARKER_WORDS: Final = (
    "original",
    "copy",
    "forwarded message",
    "below this line",
    "rfc822",
    "return-path",
    "received: from",
    "undelivered message",
    "returned message",
    "unsent message",
)
_NOT_RECIPIENT: Final = re.compile(
    r"^(?:mailer-daemon|postmaster|mail-daemon|mailerdaemon|noreply|no-reply|root|daemon)@", re.I
)
_DIAG_TYPE: Final = re.compile(r"^\s*smtp\s*;\s*", re.I)
_RFC822_PREFIX: Final = re.compile(r"^\s*rfc822\s*;\s*", re.I)
_HOST_FIELD: Final = re.compile(r"^\s*dns\s*;\s*([\w.-]+)", re.I)
_AUTO_SUBJECT: Final = re.compile(
    r"^(?:auto(?:matic)?[ -]?(?:reply|response|antwort)|out of (?:the )?office|abwesenheit"
    r"|absence|vacation|away from|autosvar|automatisch)",
    re.I,
)
_BOUNCE_SUBJECT: Final = re.compile(
    r"undeliver|deliver(?:y|ed)|returned|failure|failed|non[- ]?remis|bounce|rejected"
    r"|mail system error|notification|not delivered|warning|\berror\b",
    re.I,
)
_HUMAN_HOST: Final = re.compile(
    r"(?:host|remote-mta:?|talking to|server)\s+\[?([a-z0-9-]+(?:\.[a-z0-9-]+)+)\]?", re.I
)
# A bounce quoted inside another message's text: an mbox separator or an empty Return-Path.
_EMBEDDED_BOUNCE: Final = re.compile(
    r"^(?:From (?:MAILER-DAEMON|postmaster)\b|Return-Path: <>)", re.I | re.M
)
# Sendmail splits lines longer than SMTP allows with "!" + newline + space; JSON bodies relayed
# through it (SNS notifications) must be joined again before parsing.
_SENDMAIL_FOLD: Final = re.compile(r"!\r?\n ")
_X_UNIX: Final = re.compile(r"x-unix\s*;\s*\D", re.I)
_LOCAL_PROGRAM_REASONS: Final = frozenset({"userunknown", "filtered", "undefined", "onhold"})
_HEADER_LINE: Final = re.compile(r"^[\w-]{1,76}:[ \t]")
# C0 controls and DEL, but not the tab, line ends and feeds that separate words.
_CONTROL: Final = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_BOUNDARY_LINE: Final = re.compile(r"^--([^\s]{1,200})\s*$", re.M)
_FAILURE_REASONS_SKIP: Final = frozenset({"undefined", "onhold"})


def _decode(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        charset = part.get_content_charset() or "utf-8"
        try:
            return payload[:MAX_TEXT].decode(charset, "replace")
        except LookupError:
            return payload[:MAX_TEXT].decode("utf-8", "replace")
    raw = part.get_payload()
    return raw[:MAX_TEXT] if isinstance(raw, str) else ""


def _repaired(part: Message) -> Message | None:
    """A multipart whose declared boundary never occurs, re-read with the one its body uses.

    Relays that rewrap headers (or editors that break a folded Content-Type line) leave the
    boundary parameter wrong or missing; the body's own "--boundary" lines are the truth.
    """
    raw = part.get_payload()
    if not isinstance(raw, str):
        return None
    m = _BOUNDARY_LINE.search(raw[:MAX_TEXT])
    if m is None or m.group(1) == part.get_boundary():
        return None
    boundary = m.group(1)
    if boundary.endswith("--"):
        boundary = boundary[:-2]
    head = f'Content-Type: multipart/mixed; boundary="{boundary}"\n\n'
    fixed = email.message_from_string(head + raw[:MAX_BYTES], policy=compat32)
    return fixed if fixed.is_multipart() else None


class _Walk:
    """What a walk over the bounce's MIME tree found, stopping at the returned original."""

    def __init__(self, cuts: _Cuts) -> None:
        self.cuts = cuts
        self.dsn: list[dict[str, str]] = []
        self.texts: list[str] = []
        self.feedback: list[Message] = []
        self.original: list[Message] = []
        self.reporting_mta: str | None = None
        self.parts = 0

    def visit(self, part: Message, depth: int = 0) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            self.cuts.add(Cut.PARTS, MAX_PARTS)
            return
        if depth > MAX_DEPTH:
            self.cuts.add(Cut.DEPTH, MAX_DEPTH)
            return
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            self._dsn(part)
        elif ctype == "message/feedback-report":
            self.feedback.append(_as_fields(part))
        elif ctype in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
            self._original(part)
        elif part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list):
                for sub in payload:
                    if isinstance(sub, Message):
                        self.visit(sub, depth + 1)
        elif ctype.startswith("multipart/"):
            fixed = _repaired(part)
            if fixed is not None:
                self.visit(fixed, depth + 1)
            else:
                self.texts.append(_decode(part))
        elif ctype.startswith("text/") or ctype == "application/json":
            text = _decode(part)
            if ctype == "text/html":
                text = _strip_html(text)
            if (
                _HEADER_LINE.match(text)
                and "attachment" in str(part.get("content-disposition"))
                and "final-recipient:" not in text.lower()
            ):
                # The original's headers sent as a plain-text attachment: not the bounce's words.
                self.original.append(email.message_from_string(text, policy=compat32))
                return
            self.texts.append(text)

    def _dsn(self, part: Message) -> None:
        payload = part.get_payload()
        blocks: list[dict[str, str]] = []
        if isinstance(payload, list):
            for sub in payload:
                if isinstance(sub, Message):
                    blocks.extend(_split_recipients([(k.lower(), str(v)) for k, v in sub.items()]))
        if not any("final-recipient" in b or "original-recipient" in b for b in blocks):
            blocks = _blocks(_decode_any(part))
        for block in blocks:
            host = _HOST_FIELD.match(block.get("reporting-mta") or "")
            if host is not None:
                self.reporting_mta = host.group(1).lower()
        self.dsn.extend(blocks)

    def _original(self, part: Message) -> None:
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            self.original.append(payload[0])
        else:
            self.original.append(email.message_from_string(_decode_any(part)[:MAX_TEXT]))


def _as_fields(part: Message) -> Message:
    """A feedback report's fields as a header block, keeping repeated fields (one per rcpt)."""
    return email.message_from_string(_decode_any(part)[:MAX_TEXT].lstrip(), policy=compat32)


def _decode_any(part: Message) -> str:
    payload = part.get_payload()
    if isinstance(payload, list):
        return "\n\n".join(str(p) for p in payload if isinstance(p, Message))[:MAX_TEXT]
    return _decode(part)


_RECIPIENT_FIELDS: Final = ("final-recipient", "original-recipient")


def _split_recipients(items: list[tuple[str, str]]) -> list[dict[str, str]]:
    """Per-recipient field groups, also when an MTA leaves out the blank lines between them.

    A recipient field seen a second time starts the next recipient's group.
    """
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for key, value in items:
        if key in _RECIPIENT_FIELDS and key in current:
            blocks.append(current)
            current = {}
        current.setdefault(key, value)
    if current:
        blocks.append(current)
    return blocks


def _fields(text: str) -> list[dict[str, str]]:
    items: list[tuple[str, str]] = []
    for line in text[:MAX_TEXT].splitlines():
        if line[:1] in (" ", "\t") and items:
            key, value = items[-1]
            items[-1] = (key, value + " " + line.strip())
            continue
        name, sep, value = line.partition(":")
        if sep and name and " " not in name.strip():
            items.append((name.strip().lower(), value.strip()))
    return _split_recipients(items)


def _blocks(text: str) -> list[dict[str, str]]:
    """DSN fields pasted as text (or a delivery-status part the parser did not split)."""
    chunks = re.split(r"\n\s*\n|(?=^final-recipient:)", text[:MAX_TEXT], flags=re.I | re.M)
    return [f for c in chunks for f in _fields(c) if f]


def _strip_html(text: str) -> str:
    text = re.sub(r"<(?:br|/p|/div|/tr|/li)[^>]*>", "\n", text, flags=re.I)
    return re.sub(r"<[^>]+>", " ", text)


def _human(texts: list[str]) -> str:
    """The bounce's own words, cut where the copy of the original message begins."""
    joined = "\n".join(t for t in texts if t.strip())[:MAX_TEXT]
    # Every marker contains one of these words: find the first cheaply, then run the full
    # pattern only from that line on.
    low = joined.lower()
    hits = [at for word in _MARKER_WORDS if (at := low.find(word)) >= 0]
    if not hits:
        return joined
    m = _ORIGINAL_MARKERS.search(joined, low.rfind("\n", 0, min(hits)) + 1)
    if m is None:
        return joined
    cut = joined.rfind("\n", 0, m.start()) + 1
    return joined[:cut] if joined[:cut].strip() else joined


def _clean_addr(value: str) -> str:
    """The address a field names, or "" when a control character is part of it.

    No address holds a control character, not even a quoted one (RFC 5321 qtext), so the NUL in
    "nul\\x00@example.test" marks a corrupt or hostile field, not a mailbox's name. Such an
    address is dropped, not cleaned: cleaning would invent one the email never named
    ("nul@example.test", or "b@example.test" out of "a\\x00b@example.test"), which may be
    someone else's, and the answer would then say their mail bounced.
    """
    # a quoted local part ("first..last"@example.org) is the same mailbox without the quotes
    value = _RFC822_PREFIX.sub("", value).replace('"', "").strip().strip("<>' ")
    m = _ADDR.search(value) or _ENCODED_ADDR.search(value)
    if _CONTROL.search(value) is not None and (
        m is None or _touches_control(value, m.start(), m.end())
    ):
        return ""
    return (m.group(0).strip(".") if m is not None else value).lower()


def _touches_control(text: str, start: int, end: int) -> bool:
    """A control character right before or after a match is part of the address written there,
    so the match is only a piece of it."""
    return _CONTROL.search(text[max(0, start - 1) : start] + text[end : end + 1]) is not None


def _plain_addr(value: str) -> bool:
    """An addr-spec a person could write to (not a source route or an internal mailbox)."""
    local, at, domain = value.rpartition("@")
    return bool(at and local and "." in domain and ":" not in local and not local.startswith("@"))


def _one(
    recipient: str,
    diagnostic: str,
    status: str | None,
    context: str = "",
    mx_host: str | None = None,
    smtp_code: int | None = None,
    fallback: str = "",
    provider_host: str | None = None,
    relayed: bool = False,
    transcript: bool = True,
) -> BouncedRecipient:
    """Classify one recipient's reply, reading the SMTP phase from its part of the transcript.

    When the reply alone decides nothing, the recipient's block of the human text and then the
    whole human text (`fallback`) are read too: many MTAs put the reason above the address list.
    `transcript` is False for an ESP's structured report (SES), which carries no dialogue to
    place the reply in, so that it reads as `classify` reads any ESP diagnostic.
    """
    diagnostic = " ".join(diagnostic.split())[:MAX_DIAGNOSTIC]
    diag_norm = normalise(diagnostic) if diagnostic else ""
    # The reply itself first (an Exim or Sendmail transcript line is the diagnostic), then the
    # recipient's part of the bounce (Postfix writes "(in reply to ... command)" there).
    phase = find_phase(diag_norm) if diag_norm else None
    if phase is None and context and context != diagnostic:
        phase = find_phase(normalise(context))
    code = smtp_code if smtp_code is not None else find_code(diag_norm)
    provider_host = provider_host or mx_host
    result = classify_reported(
        diagnostic,
        status=status,
        smtp_code=code,
        mx_host=provider_host,
        phase=phase,
        in_bounce=transcript,
        norm=diag_norm,
        relayed=relayed,
    )
    for extra in (context, fallback):
        if result.reason not in _FAILURE_REASONS_SKIP or not extra or extra == diagnostic:
            continue
        combined = f"{diagnostic} {extra}"
        retry = classify_reported(
            combined,
            status=status,
            smtp_code=code,
            mx_host=provider_host,
            phase=phase,
            in_bounce=transcript,
            relayed=relayed,
        )
        if retry.reason not in _FAILURE_REASONS_SKIP or result.reason == "undefined":
            result = retry
        if not diagnostic:
            diagnostic = " ".join(extra.split())[:MAX_DIAGNOSTIC]
    return BouncedRecipient(
        recipient=recipient,
        status=status,
        smtp_code=code,
        diagnostic=diagnostic or None,
        reason=result.reason,
        hard=result.hard,
        mx_host=mx_host,
        phase=result.phase,
    )


def _recipient_block(human: str, recipient: str, others: Sequence[str] = ()) -> str:
    """The human text about one recipient: from its line up to the next recipient's line."""
    if not recipient:
        return ""
    low = human.lower()
    at = low.find(recipient.lower())
    if at < 0:
        return ""
    start = low.rfind("\n", 0, at) + 1
    after = at + len(recipient)
    end = min(len(human), after + 2000)
    for other in others:
        if other and other != recipient:
            nxt = low.find(other.lower(), after)
            if 0 <= nxt < end:
                end = max(after, low.rfind("\n", after, nxt) + 1 or nxt)
    return human[start:end]


# Sendmail's transcript: the dialogue ("While talking to ...", ">>> RCPT To:", "<<< 550 ...")
# precedes a summary line per recipient ("550 <addr>... User unknown").
_SUMMARY_LINE: Final = re.compile(
    r"^[ \t]*[2-5]\d\d[ -](?:[245]\.\d{1,3}\.\d{1,3} )?<?([^\s<>@]{1,64}@[^\s<>]{1,255}?)>?\.\.\.",
    re.M,
)


_DIALOGUE: Final = re.compile(r"^(?:>>>|<<<) |while talking to ", re.I | re.M)


def _transcript_segments(human: str) -> dict[str, str]:
    """Each recipient's part of a Sendmail transcript: its dialogue and its summary line."""
    segments: dict[str, str] = {}
    if _DIALOGUE.search(human) is None:
        return segments
    start = 0
    for m in _SUMMARY_LINE.finditer(human):
        end = human.find("\n", m.end())
        end = len(human) if end < 0 else end
        addr = m.group(1).strip(".").lower()
        segments[addr] = segments.get(addr, "") + human[start:end] + "\n"
        start = end + 1
    return segments


_SENDER_CONTEXT: Final = re.compile(
    r"(?:from|sender|envelope-from|return-path|reply-to|by|to yourself \(|postmaster|message-id)"
    r"[:\s<(\"]*$",
    re.I,
)


def _candidates(human: str, own: set[str]) -> tuple[list[str], int]:
    """Addresses the human text reports on, leaving out senders and the MTA's own mailboxes:
    the first MAX_RECIPIENTS, and how many there are in all."""
    found = [
        (m.group(0).strip(".").lower(), m.start())
        for m in _ADDR.finditer(human)
        if not _touches_control(human, m.start(), m.end())
    ]
    # an address the text ever names as the sender is the sender wherever else it appears
    senders = {a for a, at in found if _SENDER_CONTEXT.search(human[max(0, at - 20) : at])}
    seen = dict.fromkeys(
        addr
        for addr, _at in found
        if addr not in own and addr not in senders and not _NOT_RECIPIENT.match(addr)
    )
    return list(seen)[:MAX_RECIPIENTS], len(seen)


def _from_dsn(walk: _Walk, human: str) -> list[BouncedRecipient]:
    rows: list[BouncedRecipient] = []
    recipients = [_dsn_recipient(b) for b in walk.dsn]
    named = walk.cuts.capped([(b, r) for b, r in zip(walk.dsn, recipients, strict=True) if r])
    segments = _transcript_segments(human)
    for block, recipient in named:
        status = (block.get("status") or "").strip().split(" ")[0] or None
        action = (block.get("action") or "").strip().lower()
        diag = _DIAG_TYPE.sub("", block.get("diagnostic-code") or "").strip()
        host_m = _HOST_FIELD.match(block.get("remote-mta") or "")
        mx_host = host_m.group(1).lower() if host_m else None
        # Without a Remote-MTA the reporting MTA refused the message itself: its name tells
        # which provider's wording to read the text with.
        provider_host = mx_host or walk.reporting_mta
        own_block = segments.get(recipient) or _recipient_block(human, recipient, recipients)
        if not diag and own_block:
            # No Diagnostic-Code: the MTA's transcript for this recipient is the remote text.
            diag = own_block.strip(" :>\n\t")
        if action.startswith("delayed") and not diag:
            diag = f"Action: {action}"
        if action in ("delivered", "relayed", "expanded") and not diag:
            diag = action
        row = _one(
            recipient,
            diag,
            status,
            own_block or human,
            mx_host,
            fallback=human if len(walk.dsn) == 1 else "",
            provider_host=provider_host,
        )
        if _X_UNIX.match(diag) and row.reason in _LOCAL_PROGRAM_REASONS:
            # X-Unix: a local delivery program (procmail, a pipe) failed; its words are not a
            # remote server's verdict on the address.
            row = replace(row, reason="mailererror", hard=False)
        rows.append(row)
    return _one_per_recipient(rows)


def _one_per_recipient(rows: list[BouncedRecipient]) -> list[BouncedRecipient]:
    """A recipient reported in several DSN blocks (a relay's report and the final MTA's, both
    forwarded) gets one row: the block that carries a status and a reply code says more than one
    that only names the address, so it wins; the first such block keeps its place."""
    best: dict[str, BouncedRecipient] = {}
    for row in rows:
        held = best.get(row.recipient)
        if held is None or _detail(row) > _detail(held):
            best[row.recipient] = row
    return list(best.values())


def _detail(row: BouncedRecipient) -> int:
    return (row.status is not None) + (row.smtp_code is not None) + (row.phase is not None)


def _dsn_recipient(block: dict[str, str]) -> str:
    """The address a DSN block reports on; Original-Recipient when the final one is internal."""
    final = _clean_addr(block.get("final-recipient") or "")
    if _plain_addr(final):
        return final
    original = _clean_addr(block.get("original-recipient") or block.get("x-actual-recipient") or "")
    return original if _plain_addr(original) else final or original


# "addr [User unknown]": a list of failed addresses, each with the remote server's reply cut
# down to its text; the code is gone but it is still the remote server's verdict.
_BRACKETED: Final = re.compile(r"[ \t]*<?[^\s<>@]+@[^\s<>]+>?[ \t]+\[[^\]\n]{3,200}\][ \t]*$", re.M)

# Gmail's older notices wrap the remote reply in their own prose ("... it was rejected by the
# recipient domain ... The error that the other server returned was: 550 ..."): only the quoted
# reply is the remote server's.
_QUOTED_REPLY: Final = re.compile(
    r"the\s+error\s+that\s+the\s+other\s+server\s+returned\s+was:\s*", re.I
)


def _remote_part(text: str) -> str:
    m = _QUOTED_REPLY.search(text)
    return text[m.end() :] if m else text


def _from_text(human: str, msg: Message, walk: _Walk) -> list[BouncedRecipient]:
    own = {_clean_addr(str(msg.get(h) or "")) for h in ("from", "to", "return-path", "sender")}
    for original in walk.original:
        own.add(_clean_addr(str(original.get("from") or "")))
    others, found = _candidates(human, own)
    failed = [_clean_addr(a) for a in str(msg.get("x-failed-recipients") or "").split(",")]
    failed = [a for a in failed if "@" in a]
    low = human.lower()
    if failed and others and not any(a in low for a in failed):
        # The header names someone the text never mentions: trust the text's own list.
        failed = []
    if failed:
        failed = walk.cuts.capped(failed)
    else:
        failed = others
        if found > len(others):
            walk.cuts.add(Cut.RECIPIENTS, len(others), found)
    if not failed:
        for original in walk.original:
            to = _clean_addr(str(original.get("to") or ""))
            if "@" in to:
                failed = [to]
                break
    if not failed:
        # No address to report on: keep the row only if the text itself says why it failed.
        row = _one("", human, None) if human.strip() else None
        return [row] if row is not None and row.reason != "undefined" else []
    rows = []
    segments = _transcript_segments(human)
    for addr in failed:
        block = segments.get(addr) or _recipient_block(human, addr, others + failed)
        text = block if find_code(normalise(block)) or len(block.strip()) > 8 else human
        status = find_status(normalise(text))
        host = _HUMAN_HOST.search(text)
        mx_host = host.group(1) if host else None
        relayed = _BRACKETED.match(block) is not None
        rows.append(
            _one(
                addr,
                _remote_part(text).strip(" :>\n\t"),
                status,
                text,
                mx_host,
                fallback=human,
                relayed=relayed,
            )
        )
    return rows


def _from_json(texts: list[str], cuts: _Cuts) -> list[BouncedRecipient] | None:
    """Amazon SES notifications (bare, or wrapped in an SNS envelope)."""
    for text in texts:
        start = text.find("{")
        if start < 0 or ('"notificationType"' not in text and '"eventType"' not in text):
            continue
        body = text[start : text.rfind("}") + 1]
        doc: Any = None
        for candidate in (body, _SENDMAIL_FOLD.sub("", body)):
            try:
                doc = json.loads(candidate)
                break
            except ValueError:
                continue
        if isinstance(doc, dict) and isinstance(doc.get("Message"), str):
            try:
                doc = json.loads(doc["Message"])
            except ValueError:
                continue
        if isinstance(doc, dict):
            return _ses_rows(doc, cuts)
    return None


def _listed(value: object, cuts: _Cuts) -> list[Any]:
    """A JSON list of recipients, capped; anything else lists no one."""
    return cuts.capped(value) if isinstance(value, list) else []


def _ses_rows(doc: dict[str, Any], cuts: _Cuts) -> list[BouncedRecipient]:
    kind = str(doc.get("notificationType") or doc.get("eventType") or "").lower()
    rows: list[BouncedRecipient] = []
    if kind == "bounce" and isinstance(doc.get("bounce"), dict):
        bounce = doc["bounce"]
        for r in _listed(bounce.get("bouncedRecipients"), cuts):
            row = _ses_bounced(r, bounce) if isinstance(r, dict) else None
            if row is not None:
                rows.append(row)
    elif kind == "complaint" and isinstance(doc.get("complaint"), dict):
        for r in _listed(doc["complaint"].get("complainedRecipients"), cuts):
            if isinstance(r, dict):
                addr = _clean_addr(str(r.get("emailAddress") or ""))
                ftype = doc["complaint"].get("complaintFeedbackType") or "abuse"
                rows.append(
                    BouncedRecipient(addr, None, None, f"feedback-type={ftype}", "feedback", None)
                )
    elif kind == "delivery" and isinstance(doc.get("delivery"), dict):
        d = doc["delivery"]
        for addr in _listed(d.get("recipients"), cuts):
            diag = str(d.get("smtpResponse") or "delivered")
            status = find_status(diag)
            rows.append(
                BouncedRecipient(
                    _clean_addr(str(addr)),
                    status,
                    find_code(diag),
                    diag,
                    "delivered",
                    None,
                    d.get("remoteMtaIp"),
                )
            )
    return rows


def _ses_bounced(r: dict[str, Any], bounce: dict[str, Any]) -> BouncedRecipient | None:
    """One recipient of an SES bounce; None when its address is unusable, as in a DSN."""
    addr = _clean_addr(str(r.get("emailAddress") or ""))
    if not addr:
        return None
    diag = str(r.get("diagnosticCode") or "")
    if not diag:
        diag = f"{bounce.get('bounceType')} {bounce.get('bounceSubType')}"
    return _one(addr, diag, str(r.get("status") or "") or None, transcript=False)


def _feedback(walk: _Walk, human: str) -> list[BouncedRecipient]:
    """One row per complaining recipient (an ARF report may list several)."""
    rows = []
    text = " ".join(human.split())
    for report in walk.feedback:
        # the report's own type (abuse, fraud, opt-out, ...) first: the prose is boilerplate
        kind = str(report.get("feedback-type") or "").strip()
        diag = f"Feedback-Type: {kind}. {text}" if kind else text or "feedback report"
        diag = diag[:MAX_DIAGNOSTIC]
        addrs = [
            _clean_addr(str(v))
            for field in ("original-rcpt-to", "removal-recipient")
            for v in report.get_all(field) or ()
        ]
        for addr in walk.cuts.capped(addrs) or [""]:
            rows.append(BouncedRecipient(addr, None, None, diag, "feedback", None))
    return rows


def _is_autoreply(msg: Message, human: str) -> bool:
    """An auto-reply, not a bounce that merely carries an Auto-Submitted header.

    MTAs mark their bounces auto-replied too, so the text must not name a delivery failure.
    """
    subject = str(msg.get("subject") or "")
    if _BOUNCE_SUBJECT.search(subject) and not _AUTO_SUBJECT.match(subject):
        return False
    auto = str(msg.get("auto-submitted") or "").lower()
    flagged = bool(
        _AUTO_SUBJECT.match(subject)
        or auto.startswith("auto-replied")
        or msg.get("x-autoreply")
        or msg.get("x-autorespond")
        or str(msg.get("precedence") or "").lower() == "auto_reply"
    )
    if not flagged:
        return False
    said = classify(human[: MAX_DIAGNOSTIC * 4]).reason
    return said in ("vacation", "undefined", "onhold")


def _nested(walk: _Walk, depth: int) -> list[BouncedRecipient]:
    """Rows of a bounce that arrived inside this one (forwarded, or quoted as text).

    Used only when the outer message says nothing decisive; the inner rows count only when
    they carry SMTP evidence (a status or a reply code), not merely words.
    """
    if depth >= MAX_NESTING:
        if walk.original or any(_EMBEDDED_BOUNCE.search(t) for t in walk.texts):
            walk.cuts.add(Cut.FORWARDS, MAX_NESTING)
        return []
    inner: list[Message] = list(walk.original)
    for text in walk.texts:
        m = _EMBEDDED_BOUNCE.search(text)
        if m is not None:
            inner.append(email.message_from_string(text[m.start() :], policy=compat32))
    for msg in inner[:4]:
        if walk.cuts.inner_left <= 0:
            walk.cuts.add(Cut.FORWARDS, MAX_NESTING)
            break
        walk.cuts.inner_left -= 1
        rows = _parse(msg, depth + 1, walk.cuts)
        if any(r.reason not in _FAILURE_REASONS_SKIP and (r.status or r.smtp_code) for r in rows):
            return rows
    return []


def _decided(rows: list[BouncedRecipient]) -> bool:
    return any(r.reason not in _FAILURE_REASONS_SKIP for r in rows)


def _parse(msg: Message, depth: int, cuts: _Cuts) -> list[BouncedRecipient]:
    walk = _Walk(cuts)
    walk.visit(msg)
    human = _human(walk.texts)
    if walk.feedback:
        return _feedback(walk, human)
    ses = _from_json(walk.texts, cuts)
    if ses is not None:
        return ses
    if walk.dsn:
        rows = _from_dsn(walk, human)
        if rows:
            return rows
    if "final-recipient:" in human.lower():
        walk.dsn = _blocks(human)
        rows = _from_dsn(walk, human)
        if rows:
            return rows
    failed_to = str(msg.get("x-failed-recipients") or "").lower()
    if "@googlegroups.com" in failed_to and not walk.dsn:
        # Google Groups answers in the poster's language; the format itself says "you may not
        # post to this group or it does not exist", which is a rejection of the sender.
        return [replace(r, reason="rejected", hard=False) for r in _from_text(human, msg, walk)]
    if not walk.dsn and _is_autoreply(msg, human):
        sender = _clean_addr(str(msg.get("from") or ""))
        text = " ".join(human.split())[:MAX_DIAGNOSTIC]
        return [
            BouncedRecipient(
                sender if "@" in sender else "", None, None, text or None, "vacation", None
            )
        ]
    rows = _from_text(human, msg, walk)
    if not _decided(rows):
        inner = _nested(walk, depth)
        if len(inner) == 1 == len(rows) and not inner[0].recipient:
            # the inner text names no one it does not also address: the outer bounce did
            inner = [replace(inner[0], recipient=rows[0].recipient)]
        if not inner and Cut.FORWARDS in cuts.notes:
            # The failure lies deeper than was read; these rows would only guess at it, and
            # the guess is the forwarder (the To of the message it forwarded).
            return []
        return inner or rows
    return rows


def parse_message(msg: Message) -> list[BouncedRecipient]:
    """Rows for an already parsed email."""
    return _parse(msg, 0, _Cuts())


def parse_bounce(data: bytes | str) -> list[BouncedRecipient]:
    """One row per recipient the bounce reports on; [] for anything that is not a bounce.

    What was not read is dropped here; `parse_bounce_report` tells it too.
    """
    return list(parse_bounce_report(data).recipients)


def _start(data: bytes | bytearray | str) -> tuple[bytes, int | None]:
    """Up to MAX_BYTES + 1 bytes of the email (one more than is read, to tell a cut), and its
    length in bytes when that is known without encoding all of a long text."""
    if isinstance(data, str):
        whole = len(data) <= MAX_BYTES
        start = data[: MAX_BYTES + 1].encode("utf-8", "surrogateescape")
        return start[: MAX_BYTES + 1], (len(start) if whole else None)
    if isinstance(data, bytes | bytearray):
        return bytes(data[: MAX_BYTES + 1]), len(data)
    return b"", None


def _no_body(head: bytes) -> bool:
    """No blank line in what is read: the cut fell inside the headers."""
    return head.find(b"\n\n") < 0 and head.find(b"\n\r\n") < 0


_UNREADABLE: Final = (
    email.errors.MessageError,
    ValueError,
    LookupError,
    TypeError,
    AttributeError,
    IndexError,
    RecursionError,
    UnicodeError,
)


def parse_bounce_report(data: bytes | str, *, size: int | None = None) -> BounceReport:
    """The recipients a bounce reports on, with a note for each cut that may hide others.

    `size` is the email's full length in bytes when `data` is only its start, so that a caller
    need not read more than MAX_BYTES + 1 bytes of a large file for the note to say how large
    it was. Only the start of `data` is ever copied or encoded.
    """
    start, length = _start(data)
    total = max(length or 0, size or 0)
    cut = len(start) > MAX_BYTES or total > MAX_BYTES
    head = start[:MAX_BYTES]
    if not head or head.isspace():
        return BounceReport(())
    cuts = _Cuts()
    try:
        msg = email.message_from_bytes(head, policy=compat32)
        if cut:
            kind = Cut.HEADERS if _no_body(head) else Cut.SIZE
            cuts.add(kind, MAX_BYTES, total if total > MAX_BYTES else None)
        rows = cuts.capped(_parse(msg, 0, cuts))
    except _UNREADABLE:
        cuts.add(Cut.UNREADABLE)
        rows = []
    return BounceReport(tuple(rows), tuple(cuts.notes.values()))
