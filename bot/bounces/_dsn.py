"""Read a bounce email: which recipients failed, and what the remote server said about each.

RFC 3464 delivery-status parts are trusted first. Bounces without one (qmail, old Exim,
Exchange, Gmail's plain-text notices, carriers) are read from the human-readable part: it is cut
where the returned original begins, then split into one block per recipient address.
Amazon SES notifications (JSON in the body) and ARF complaints are read too.

Everything is bounded: the email is truncated before parsing, parts and text are capped, so a
hostile or broken message costs a few milliseconds and yields no rows rather than an error.
"""

from __future__ import annotations

import email
import email.errors
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import Message
from email.policy import compat32
from typing import Any, Final

from bot.bounces._classify import classify, find_code, find_phase, find_status, normalise

MAX_BYTES: Final = 512 * 1024
MAX_PARTS: Final = 64
MAX_TEXT: Final = 32 * 1024
MAX_DIAGNOSTIC: Final = 1000
MAX_RECIPIENTS: Final = 200


@dataclass(frozen=True, slots=True)
class BouncedRecipient:
    """One recipient of a bounce, with the remote text and what it means."""

    recipient: str
    status: str | None
    smtp_code: int | None
    diagnostic: str | None
    reason: str
    hard: bool | None
    mx_host: str | None = None


# Bounded repeats keep a long run of address characters from going quadratic.
_ADDR: Final = re.compile(
    r"[\w.!#$%&'*+/=?^`{|}~-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}", re.ASCII
)
_ENCODED_ADDR: Final = re.compile(r"=\?[^?]+\?[bq]\?[^?]+\?=@[\w-]+(?:\.[\w-]+)+", re.I)
_ORIGINAL_MARKERS: Final = re.compile(
    r"^.*(?:"
    r"-{2,} ?(?:original message|this is a copy of|below this line is a copy|forwarded message)"
    r"|below is a copy of the original|included is a copy of the message header"
    r"|^original message follows|^-+ ?original message ?-+|^--- ?below this line"
    r"|^content-type: message/rfc822|^return-path: <|^received: from "
    r"|the original message (?:was|is) (?:attached|included|follows|below)"
    r"|^\s*-+ ?the header of the original message"
    r"|^\s*-+ ?undelivered message"
    r").*$",
    re.I | re.M,
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
    r"|mail system error|notification|not delivered|warning",
    re.I,
)
_HUMAN_HOST: Final = re.compile(
    r"(?:host|remote-mta:?|talking to|server)\s+\[?([a-z0-9-]+(?:\.[a-z0-9-]+)+)\]?", re.I
)


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


class _Walk:
    """What a walk over the bounce's MIME tree found, stopping at the returned original."""

    def __init__(self) -> None:
        self.dsn: list[dict[str, str]] = []
        self.texts: list[str] = []
        self.feedback: list[dict[str, str]] = []
        self.original: list[Message] = []
        self.parts = 0

    def visit(self, part: Message, depth: int = 0) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS or depth > 8:
            return
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            self._dsn(part)
        elif ctype == "message/feedback-report":
            self.feedback.append(_fields(_decode_any(part)))
        elif ctype in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
            self._original(part)
        elif part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list):
                for sub in payload:
                    if isinstance(sub, Message):
                        self.visit(sub, depth + 1)
        elif ctype.startswith("text/") or ctype == "application/json":
            text = _decode(part)
            if ctype == "text/html":
                text = _strip_html(text)
            self.texts.append(text)

    def _dsn(self, part: Message) -> None:
        payload = part.get_payload()
        blocks: list[dict[str, str]] = []
        if isinstance(payload, list):
            for sub in payload:
                if isinstance(sub, Message):
                    blocks.append({k.lower(): str(v) for k, v in sub.items()})
        if not any("final-recipient" in b or "original-recipient" in b for b in blocks):
            blocks = _blocks(_decode_any(part))
        self.dsn.extend(blocks)

    def _original(self, part: Message) -> None:
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            self.original.append(payload[0])
        else:
            self.original.append(email.message_from_string(_decode_any(part)[:MAX_TEXT]))


def _decode_any(part: Message) -> str:
    payload = part.get_payload()
    if isinstance(payload, list):
        return "\n\n".join(str(p) for p in payload if isinstance(p, Message))[:MAX_TEXT]
    return _decode(part)


def _fields(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    key = ""
    for line in text[:MAX_TEXT].splitlines():
        if line[:1] in (" ", "\t") and key:
            out[key] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if sep and name and " " not in name.strip():
            key = name.strip().lower()
            out.setdefault(key, value.strip())
    return out


def _blocks(text: str) -> list[dict[str, str]]:
    """DSN fields pasted as text (or a delivery-status part the parser did not split)."""
    chunks = re.split(r"\n\s*\n|(?=^final-recipient:)", text[:MAX_TEXT], flags=re.I | re.M)
    return [f for f in (_fields(c) for c in chunks) if f]


def _strip_html(text: str) -> str:
    text = re.sub(r"<(?:br|/p|/div|/tr|/li)[^>]*>", "\n", text, flags=re.I)
    return re.sub(r"<[^>]+>", " ", text)


def _human(texts: list[str]) -> str:
    """The bounce's own words, cut where the copy of the original message begins."""
    joined = "\n".join(t for t in texts if t.strip())[:MAX_TEXT]
    m = _ORIGINAL_MARKERS.search(joined)
    return joined[: m.start()] if m and m.start() > 40 else joined


def _clean_addr(value: str) -> str:
    value = _RFC822_PREFIX.sub("", value).strip().strip("<>\"' ")
    m = _ADDR.search(value)
    if m:
        return m.group(0).strip(".").lower()
    m2 = _ENCODED_ADDR.search(value)
    return m2.group(0).lower() if m2 else value.lower()


def _one(
    recipient: str,
    diagnostic: str,
    status: str | None,
    context: str = "",
    mx_host: str | None = None,
    smtp_code: int | None = None,
) -> BouncedRecipient:
    diagnostic = " ".join(diagnostic.split())[:MAX_DIAGNOSTIC]
    context_norm = normalise(context) if context else ""
    phase = find_phase(context_norm) if context_norm else None
    code = smtp_code if smtp_code is not None else find_code(normalise(diagnostic))
    result = classify(diagnostic, status=status, smtp_code=code, mx_host=mx_host, phase=phase)
    if result.reason in ("undefined", "onhold") and context_norm:
        combined = f"{diagnostic} {context}"
        result = classify(combined, status=status, smtp_code=code, mx_host=mx_host, phase=phase)
        if not diagnostic:
            diagnostic = " ".join(context.split())[:MAX_DIAGNOSTIC]
    return BouncedRecipient(
        recipient=recipient,
        status=status,
        smtp_code=code,
        diagnostic=diagnostic or None,
        reason=result.reason,
        hard=result.hard,
        mx_host=mx_host,
    )


def _recipient_block(human: str, recipient: str, others: Sequence[str] = ()) -> str:
    """The lines of the human text about one recipient: up to the next recipient's address."""
    if not recipient:
        return ""
    low = human.lower()
    at = low.find(recipient.lower())
    if at < 0:
        return ""
    after = at + len(recipient)
    end = min(len(human), after + 2000)
    for other in others:
        if other and other != recipient:
            nxt = low.find(other.lower(), after)
            if 0 <= nxt < end:
                end = nxt
    return human[after:end]


_SENDER_CONTEXT: Final = re.compile(
    r"(?:from|sender|envelope-from|return-path|reply-to|by|to yourself \(|postmaster)[:\s<(\"]*$",
    re.I,
)


def _candidates(human: str, own: set[str]) -> list[str]:
    """Addresses the human text reports on, leaving out senders and the MTA's own mailboxes."""
    seen: list[str] = []
    for m in _ADDR.finditer(human):
        addr = m.group(0).strip(".").lower()
        if addr in seen or addr in own or _NOT_RECIPIENT.match(addr):
            continue
        if _SENDER_CONTEXT.search(human[max(0, m.start() - 20) : m.start()]):
            continue
        seen.append(addr)
        if len(seen) >= MAX_RECIPIENTS:
            break
    return seen


def _from_dsn(walk: _Walk, human: str) -> list[BouncedRecipient]:
    rows: list[BouncedRecipient] = []
    recipients = [
        _clean_addr(b.get("final-recipient") or b.get("original-recipient") or "")
        for b in walk.dsn
    ]
    for block in walk.dsn:
        raw = (
            block.get("final-recipient")
            or block.get("original-recipient")
            or block.get("x-actual-recipient")
        )
        if not raw:
            continue
        recipient = _clean_addr(raw)
        status = (block.get("status") or "").strip().split(" ")[0] or None
        action = (block.get("action") or "").strip().lower()
        diag = _DIAG_TYPE.sub("", block.get("diagnostic-code") or "").strip()
        host_m = _HOST_FIELD.match(block.get("remote-mta") or "")
        mx_host = host_m.group(1).lower() if host_m else None
        context = _recipient_block(human, recipient, recipients) or human
        if action.startswith("delayed") and not diag:
            diag = f"Action: {action}"
        if action in ("delivered", "relayed", "expanded") and not diag:
            diag = action
        rows.append(_one(recipient, diag, status, context, mx_host))
        if len(rows) >= MAX_RECIPIENTS:
            break
    return rows


def _from_text(human: str, msg: Message, walk: _Walk) -> list[BouncedRecipient]:
    failed = [_clean_addr(a) for a in str(msg.get("x-failed-recipients") or "").split(",")]
    failed = [a for a in failed if "@" in a]
    own = {_clean_addr(str(msg.get(h) or "")) for h in ("from", "to", "return-path", "sender")}
    for original in walk.original:
        own.add(_clean_addr(str(original.get("from") or "")))
    others = _candidates(human, own)
    if not failed:
        failed = others
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
    for addr in failed:
        block = _recipient_block(human, addr, others + failed)
        text = block if find_code(normalise(block)) or len(block.strip()) > 8 else human
        status = find_status(normalise(text))
        host = _HUMAN_HOST.search(text)
        mx_host = host.group(1) if host else None
        rows.append(_one(addr, text.strip(" :>\n\t"), status, text, mx_host))
    return rows


def _from_json(texts: list[str]) -> list[BouncedRecipient] | None:
    """Amazon SES notifications (bare, or wrapped in an SNS envelope)."""
    for text in texts:
        start = text.find("{")
        if start < 0 or ('"notificationType"' not in text and '"eventType"' not in text):
            continue
        try:
            doc: Any = json.loads(text[start : text.rfind("}") + 1])
            if isinstance(doc, dict) and isinstance(doc.get("Message"), str):
                doc = json.loads(doc["Message"])
        except ValueError:
            continue
        if isinstance(doc, dict):
            return _ses_rows(doc)
    return None


def _ses_rows(doc: dict[str, Any]) -> list[BouncedRecipient]:
    kind = str(doc.get("notificationType") or doc.get("eventType") or "").lower()
    rows: list[BouncedRecipient] = []
    if kind == "bounce" and isinstance(doc.get("bounce"), dict):
        for r in doc["bounce"].get("bouncedRecipients") or []:
            if isinstance(r, dict):
                diag = str(r.get("diagnosticCode") or "")
                status = str(r.get("status") or "") or None
                if not diag:
                    diag = f"{doc['bounce'].get('bounceType')} {doc['bounce'].get('bounceSubType')}"
                rows.append(_one(_clean_addr(str(r.get("emailAddress") or "")), diag, status))
    elif kind == "complaint" and isinstance(doc.get("complaint"), dict):
        for r in doc["complaint"].get("complainedRecipients") or []:
            if isinstance(r, dict):
                addr = _clean_addr(str(r.get("emailAddress") or ""))
                ftype = doc["complaint"].get("complaintFeedbackType") or "abuse"
                rows.append(BouncedRecipient(addr, None, None, f"feedback-type={ftype}",
                                             "feedback", None))
    elif kind == "delivery" and isinstance(doc.get("delivery"), dict):
        d = doc["delivery"]
        for addr in d.get("recipients") or []:
            diag = str(d.get("smtpResponse") or "delivered")
            status = find_status(diag)
            rows.append(BouncedRecipient(_clean_addr(str(addr)), status, find_code(diag), diag,
                                         "delivered", None, d.get("remoteMtaIp")))
    return rows


def _feedback(walk: _Walk, human: str) -> list[BouncedRecipient]:
    rows = []
    diag = " ".join(human.split())[:MAX_DIAGNOSTIC] or "feedback report"
    for report in walk.feedback:
        addrs = [
            _clean_addr(v)
            for k, v in report.items()
            if k in ("original-rcpt-to", "removal-recipient")
        ]
        for addr in addrs or [""]:
            rows.append(BouncedRecipient(addr, None, None, diag, "feedback", None))
    return rows


def _is_autoreply(msg: Message) -> bool:
    subject = str(msg.get("subject") or "")
    if _BOUNCE_SUBJECT.search(subject) and not _AUTO_SUBJECT.match(subject):
        return False
    auto = str(msg.get("auto-submitted") or "").lower()
    return bool(
        _AUTO_SUBJECT.match(subject)
        or auto.startswith("auto-replied")
        or msg.get("x-autoreply")
        or msg.get("x-autorespond")
        or str(msg.get("precedence") or "").lower() == "auto_reply"
    )


def parse_message(msg: Message) -> list[BouncedRecipient]:
    """Rows for an already parsed email."""
    walk = _Walk()
    walk.visit(msg)
    human = _human(walk.texts)
    if walk.feedback:
        return _feedback(walk, human)
    ses = _from_json(walk.texts)
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
        return [
            BouncedRecipient(r.recipient, r.status, r.smtp_code, r.diagnostic, "rejected", False)
            for r in _from_text(human, msg, walk)
        ]
    if not walk.dsn and _is_autoreply(msg):
        sender = _clean_addr(str(msg.get("from") or ""))
        text = " ".join(human.split())[:MAX_DIAGNOSTIC]
        return [BouncedRecipient(sender if "@" in sender else "", None, None, text or None,
                                 "vacation", None)]
    return _from_text(human, msg, walk)


def parse_bounce(data: bytes | str) -> list[BouncedRecipient]:
    """One row per recipient the bounce reports on; [] for anything that is not a bounce."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    if not isinstance(data, bytes | bytearray) or not data.strip():
        return []
    try:
        msg = email.message_from_bytes(bytes(data[:MAX_BYTES]), policy=compat32)
        return parse_message(msg)
    except (
        email.errors.MessageError,
        ValueError,
        LookupError,
        TypeError,
        AttributeError,
        IndexError,
        RecursionError,
        UnicodeError,
    ):
        return []
