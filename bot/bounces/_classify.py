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

# Remote servers can send anything; nothing useful sits past the first few kilobytes.
MAX_SCAN: Final = 4096


@dataclass(frozen=True, slots=True)
class Classification:
    """A reason in Sisimai's vocabulary, and whether retrying the address is pointless."""

    reason: str
    hard: bool | None


_STRONG: Final = Gate(_rules.TEXT_RULES)
_WEAK: Final = Gate(_rules.WEAK_RULES)
_PHASE_GATE: Final = Gate(_rules.PHASE_PATTERNS)
_RANK: Final[dict[str, int]] = {r: i for i, r in enumerate(_rules.PRIORITY)}
_PROVIDERS: Final = tuple(
    (re.compile(host), markers, Gate(rules)) for host, markers, rules in _rules.PROVIDERS.values()
)

_MARKERS: Final = tuple((marker, gate) for _host, markers, gate in _PROVIDERS for marker in markers)
_STATUS_RE: Final = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")
_CODE_RE: Final = re.compile(r"(?<![\d.:#\-\w])([245]\d\d)(?=[ \-:;,)\]]|$)")
_CONTINUATION: Final = re.compile(r"(?<![\w.])[245]\d\d-(?:[245]\.\d{1,3}\.\d{1,3}\s+)?")
_PLACEHOLDER: Final = re.compile(r"[45]\.0\.9\d\d")


def normalise(text: str) -> str:
    """Fold case, line wraps and SMTP continuation prefixes so one phrasing covers them all."""
    text = text[:MAX_SCAN].lower()
    if "-" in text:
        text = _CONTINUATION.sub(" ", text)
    return " ".join(text.split())


def find_status(text: str) -> str | None:
    """First RFC 3463 status in the text, which is the remote server's own when present."""
    m = _STATUS_RE.search(text)
    return f"{m.group(1)}.{m.group(2)}.{m.group(3)}" if m else None


def find_code(text: str) -> int | None:
    """First SMTP reply code in the text."""
    m = _CODE_RE.search(text)
    return int(m.group(1)) if m else None


def find_phase(norm: str, tokens: set[str] | None = None) -> str | None:
    """The SMTP command the rejection answered, when the text says so."""
    found = _PHASE_GATE.matches(norm, words(norm) if tokens is None else tokens)
    for name in _rules.PHASE_ORDER:
        if name in found:
            return name
    return None


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
    if mx_host:
        host = mx_host.lower().rstrip(".")
        for host_rx, _markers, rules in _PROVIDERS:
            if host_rx.search(host):
                return rules
    for marker, rules in _MARKERS:
        if marker in norm:
            return rules
    return None


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


def is_hard(reason: str, cls: str | None, norm: str = "") -> bool | None:
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
    """Classify one remote reply; never raises, whatever the remote server sent."""
    text = diagnostic if isinstance(diagnostic, str) else ""
    norm = normalise(text) if text else ""
    status = status.strip() if isinstance(status, str) and status.strip() else None
    text_status = find_status(norm) if norm else None
    if status is None or (status.endswith(".0.0") and text_status):
        status = text_status or status
    if not isinstance(smtp_code, int) or isinstance(smtp_code, bool):
        smtp_code = find_code(norm) if norm else None
    cls = failure_class(status, smtp_code)

    reason: str | None = None
    tokens = words(norm) if norm else set()
    if norm:
        provider = _provider(mx_host, norm)
        if provider is not None:
            reason = _best(provider.matches(norm, tokens))
        if reason is None:
            found = _STRONG.matches(norm, tokens)
            for st in (status, text_status):
                strong = _strong_status(st)
                if strong:
                    found.add(strong)
            reason = _best(found)
    if reason is None:
        reason = _status_reason(status)
    if reason is None and norm:
        reason = _best(_WEAK.matches(norm, tokens))
    if reason is None and cls == "2":
        reason = "delivered"

    phase = (phase or "").lower() or (find_phase(norm, tokens) if norm else None)
    if reason is None:
        if phase == "connect" and cls in ("4", "5"):
            reason = "blocked"
        elif phase == "mail" and cls in ("4", "5"):
            reason = "rejected"
    if reason == "userunknown" and phase == "data" and _strong_status(status) != "userunknown":
        # "user unknown" only after the message body was sent is the recipient's own filter
        # speaking (the mailbox exists, it refused this message); a 5.1.1 still means no user.
        reason = "filtered"
    if reason is None:
        if not norm and cls is None:
            return Classification("undefined", None)
        reason = "undefined"
    return Classification(reason, is_hard(reason, cls, norm))
