"""Turn one remote reply (text, status, reply code, MX host, phase) into a reason and hard/soft.

Compiled once at import: every reason's phrasings become one named group of a single
alternation, so a diagnostic is scanned once whatever the number of rules, and the priority
order is applied to the set of reasons that matched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from bot.bounces import _rules
from bot.bounces._gate import Gate, words
from bot.bounces._providers import provider_of

# Remote servers can send anything; nothing useful sits past the first few kilobytes.
MAX_SCAN: Final = 4096


@dataclass(frozen=True, slots=True)
class Classification:
    """A reason in Sisimai's vocabulary, whether retrying the address is pointless, and the SMTP
    phase the reply answered (given, or read from the text; None when neither says)."""

    reason: str
    hard: bool | None
    phase: str | None = None


#: Every reason `classify` (and so `parse_bounce`) can return: a rule's reason always has a place
#: in the priority order, and "undefined" is what is left when nothing decides.
REASONS: Final[frozenset[str]] = frozenset((*_rules.PRIORITY, "undefined"))

_STRONG: Final = Gate(_rules.TEXT_RULES, _rules.PRIORITY)
_WEAK: Final = Gate(_rules.WEAK_RULES, _rules.PRIORITY)
_OVERRIDES: Final = Gate(_rules.OVERRIDES, _rules.PRIORITY)
_PHASE_GATE: Final = Gate(_rules.PHASE_PATTERNS, _rules.PHASE_ORDER)
_RANK: Final[dict[str, int]] = {r: i for i, r in enumerate(_rules.PRIORITY)}
_PHASES: Final = frozenset(_rules.PHASE_ORDER)
_PROVIDERS: Final = tuple(
    (entry, Gate(entry.rules, _rules.PRIORITY)) for entry in _rules.PROVIDER_RULES
)
_ID_GATES: Final = {pid: gate for entry, gate in _PROVIDERS for pid in entry.ids}
_MARKER_GATES: Final = {marker: gate for entry, gate in _PROVIDERS for marker in entry.markers}
_MARKERS: Final = re.compile("|".join(re.escape(m) for m in _MARKER_GATES))
_STATUS_RE: Final = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")
_CODE_RE: Final = re.compile(r"(?:(?<![\d.:#\-\w])|(?<= :))([245]\d\d)(?=[ \-:;,)\]]|$)")
_CONTINUATION: Final = re.compile(r"(?<![\w.])[245]\d\d-(?:[245]\.\d{1,3}\.\d{1,3}\s+)?")
_REPLY_HEAD: Final = re.compile(r"\s*([245]\d\d)-([245]\.\d{1,3}\.\d{1,3})\s")
_PLACEHOLDER: Final = re.compile(r"[45]\.0\.9\d\d")
_NO_WORDS: Final[set[str]] = set()
# Bounded on the left so that a long run of word characters without "@" costs linear time.
_ADDRESS_RE: Final = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]+(?:\.[\w-]+)+")


def normalise(text: str) -> str:
    """Fold case, line wraps and SMTP continuation prefixes so one phrasing covers them all."""
    text = text[:MAX_SCAN].lower()
    head = _REPLY_HEAD.match(text)
    if "-" in text:
        text = _CONTINUATION.sub(" ", text)
    text = " ".join(text.split())
    if head is not None:
        # the last line of a multi-line reply ("550-5.7.1 ..." lines, then "550 5.7.1 ...")
        # repeats the prefix mid-sentence
        token = f"{head.group(1)} {head.group(2)} "
        if text.startswith(token):
            text = token + text[len(token) :].replace(" " + token, " ")
        else:
            text = text.replace(" " + token, " ")
    return text


def find_status(text: str) -> str | None:
    """First failure status (4.x.x, 5.x.x) in the text, else the first success status.

    Transcripts quote the successful replies that preceded the failing one ("250 2.1.5 Ok").
    """
    first: str | None = None
    for m in _STATUS_RE.finditer(text):
        if m.group(1) != "2":
            return f"{m.group(1)}.{m.group(2)}.{m.group(3)}"
        if first is None:
            first = f"2.{m.group(2)}.{m.group(3)}"
    return first


def find_code(text: str) -> int | None:
    """First failure reply code (4xx, 5xx) in the text, else the first success code."""
    first: int | None = None
    for m in _CODE_RE.finditer(text):
        code = int(m.group(1))
        if code >= 400:
            return code
        if first is None:
            first = code
    return first


def find_phase(norm: str, tokens: set[str] | None = None) -> str | None:
    """The SMTP stage (`_rules.PHASE_ORDER`) the rejection answered, when the text says so.

    A transcript names the commands that succeeded before the one that failed, so the stage
    named last in the text is the one that counts.
    """
    return _PHASE_GATE.last(norm, words(norm) if tokens is None else tokens)


def canonical_phase(phase: str | None) -> str | None:
    """A caller's name for an SMTP stage ("RCPT TO", "EHLO", Sisimai's "CONN") as one of
    `_rules.PHASE_ORDER`; None for anything else, which then counts as not known."""
    if not isinstance(phase, str):
        return None
    key = " ".join(phase.lower().replace("_", " ").replace("-", " ").split())
    return _rules.PHASE_ALIASES.get(key, key if key in _PHASES else None)


def _best(found: set[str]) -> str | None:
    best: str | None = None
    rank = len(_RANK) + 1
    for name in found:
        r = _RANK.get(name, len(_RANK))
        if r < rank or (r == rank and best is not None and name < best):
            best, rank = name, r
    return best


def _status_reason(status: str | None) -> str | None:
    """The reason a specific status implies; None for catch-alls and Sisimai placeholders."""
    if not status or _PLACEHOLDER.fullmatch(status):
        return None
    cls, _, rest = status.partition(".")
    if cls == "2":
        return "delivered"
    return _rules.STATUS_REASONS.get(rest)


def _provider(mx_host: str | None, norm: str) -> Gate | None:
    """The phrasings of the provider that answered: by its host, else by its own wording."""
    if mx_host:
        gate = _ID_GATES.get(provider_of(mx_host) or "")
        if gate is not None:
            return gate
    m = _MARKERS.search(norm)
    return _MARKER_GATES[m.group(0)] if m else None


def _strong_status(status: str | None) -> str | None:
    if not status:
        return None
    return _rules.STRONG_STATUS.get(status.partition(".")[2])


def failure_class(status: str | None, smtp_code: int | None) -> str | None:
    """'4' temporary, '5' permanent, '2' success, or None when nothing says."""
    if status and status[0] in "245" and not _PLACEHOLDER.fullmatch(status):
        return status[0]
    if smtp_code is not None and 200 <= smtp_code < 600:
        return str(smtp_code // 100)
    if status and status[0] in "45":
        return status[0]
    return None


def is_hard(reason: str, cls: str | None) -> bool | None:
    """Sisimai's rule: only a wrong address is hard; a null MX is hard unless it is temporary."""
    if reason in _rules.NON_FAILURES:
        return None
    if reason in _rules.HARD_REASONS:
        return True
    if reason == "notaccept":
        return cls != "4"
    return False


def classify(
    diagnostic: str | None,
    *,
    status: str | None = None,
    smtp_code: int | None = None,
    mx_host: str | None = None,
    phase: str | None = None,
) -> Classification:
    """Classify one remote reply; never raises, whatever the remote server sent.

    `phase` is the SMTP stage the reply answered (`canonical_phase` names); without it, the
    phase is read from the text when the text names it. A phase not known means just that: an
    ESP's diagnostic almost always answers RCPT TO, so "user unknown" stays userunknown unless
    the phase (or a status saying the mailbox exists) says the message body had been sent.
    """
    return classify_reported(
        diagnostic, status=status, smtp_code=smtp_code, mx_host=mx_host, phase=phase
    )


def classify_reported(
    diagnostic: str | None,
    *,
    status: str | None = None,
    smtp_code: int | None = None,
    mx_host: str | None = None,
    phase: str | None = None,
    in_bounce: bool = False,
    norm: str | None = None,
    relayed: bool = False,
) -> Classification:
    """`classify`, plus what a bounce email's layout tells about the SMTP dialogue.

    With `in_bounce`, the reply comes from a bounce whose transcript was read for the SMTP
    command: when it names none, a remote server's "550 User unknown" without an address status
    (`ADDRESS_STATUSES`) is the recipient's filter speaking, as Sisimai reads it (filtered,
    soft); only a refusal at RCPT TO, an address status, a provider's own wording, or the
    reporting MTA's own lookup (no reply code) says the mailbox is gone; `relayed` marks text
    the bounce's layout shows to be a remote reply even without its code. `norm` lets a caller
    that already normalised the text skip doing it again.
    """
    text = diagnostic if isinstance(diagnostic, str) else ""
    if norm is None:
        norm = normalise(text) if text else ""
    status = status.strip() if isinstance(status, str) and status.strip() else None
    text_status = find_status(norm) if norm else None
    if status is None or (status.endswith(".0.0") and text_status):
        status = text_status or status
    if not isinstance(smtp_code, int) or isinstance(smtp_code, bool):
        smtp_code = find_code(norm) if norm else None
    cls = failure_class(status, smtp_code)

    reason: str | None = None
    by_provider = by_status = False
    tokens = words(norm) if norm else _NO_WORDS
    if norm:
        provider = _provider(mx_host, norm)
        if provider is not None:
            reason = provider.best(norm, tokens)
            by_provider = reason is not None
        if reason is None:
            reason = _OVERRIDES.best(norm, tokens)
        if reason is None:
            # A specific status counts as much as a phrase: only a higher-priority phrase beats it.
            coded = _best({r for r in (_strong_status(status), _strong_status(text_status)) if r})
            below = _RANK.get(coded, len(_RANK)) if coded is not None else None
            reason = _STRONG.best(norm, tokens, below)
            if reason is None:
                reason, by_status = coded, coded is not None
    if reason is None:
        reason = _status_reason(status)
        by_status = reason is not None
    if reason is None and cls == "2" and (not in_bounce or (status or "").startswith("2.")):
        # In a bounce's prose a bare "250" or "222" is a transcript line or a byte count.
        reason = "delivered"

    phase = canonical_phase(phase)
    if phase is None and norm:
        phase = find_phase(norm, tokens)
    if reason is None and cls in ("4", "5"):
        # A refusal before any address was sent is about the sending host or the sender.
        reason = _rules.PHASE_REASONS.get(phase or "")
    if reason is None and norm:
        reason = _WEAK.best(norm, tokens)
    if reason in _rules.ADDRESS_REASONS and not by_provider:
        reason = _address_reason(reason, status, phase, in_bounce, relayed or smtp_code is not None)
    if reason is None:
        if not norm and cls is None:
            return Classification("undefined", None, phase)
        # A failure was reported (a 4xx/5xx code, or a named recipient) but nothing says why:
        # Sisimai's `onhold`. With neither, there is nothing to go on: `undefined`.
        reported = cls in ("4", "5") or ("@" in norm and _ADDRESS_RE.search(norm) is not None)
        reason = "onhold" if reported else "undefined"
    hard = is_hard(reason, cls)
    if by_status and cls == "4" and hard and _STRONG.best(norm, tokens) != reason:
        # Only a status said it, and the status says "temporary": not proof the address is gone.
        # (A server that also says "no such user" in words is believed: hard.)
        hard = False
    return Classification(reason, hard, phase)


def _address_reason(
    reason: str, status: str | None, phase: str | None, in_bounce: bool, remote: bool
) -> str:
    """What "no such user" (or host) means at the SMTP stage where the server said it.

    At MAIL FROM the reply is about the sender, whose address is what was refused (rejected).
    After DATA, or with a status saying the mailbox exists (X.2.0), the mailbox is there and
    the recipient's side refused this one message: Sisimai's `filtered`, soft. So is a bounce's
    bare "550 User unknown" from a remote server (it has a reply code; a reporting MTA that says
    it in its own words looked the mailbox up itself) when the transcript does not place it at
    RCPT TO and no address status backs it. A status that itself says the address is wrong
    (5.1.1) keeps the reason, whatever the stage.
    """
    sub = status.partition(".")[2] if status else ""
    if _rules.STRONG_STATUS.get(sub) == reason:
        return reason
    if phase == "mail":
        return "rejected"
    if reason != "userunknown" or phase == "rcpt":
        return reason
    if phase == "data" or sub in _rules.MAILBOX_EXISTS_STATUSES:
        return "filtered"
    if in_bounce and phase is None and remote and sub not in _rules.ADDRESS_STATUSES:
        return "filtered"
    return reason
