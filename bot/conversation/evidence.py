"""The evidence under an answer, as lines any surface can show: what each event was, what the
remote server said, what DNS found. Lines carry untrusted text as it came; each renderer makes
it safe for its medium (mrkdwn escaping in Slack, control characters stripped in a terminal).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.chrome import Chrome
from bot.model import DeliveryEvent, Diagnosis

#: The newest events shown under an answer; the rest are counted.
MAX_EVENTS_SHOWN = 6
MAX_DIAGNOSTIC = 300


@dataclass(frozen=True, slots=True)
class Line:
    text: str
    #: The remote server's own words, shown as a quotation under the line.
    quote: str | None = None


def evidence(d: Diagnosis, *, limit: int = MAX_EVENTS_SHOWN) -> list[Line]:
    """In the answer's language and time zone (its chrome)."""
    chrome = d.answer.chrome
    events: Sequence[DeliveryEvent] = d.timeline.events if d.timeline else ()
    lines = []
    if len(events) > limit:
        lines.append(Line(chrome("earlier_events", count=len(events) - limit)))
    for event in events[-limit:]:
        quote = clip(one_line(event.diagnostic), MAX_DIAGNOSTIC) if event.diagnostic else None
        lines.append(Line(event_line(event, chrome), quote))
    dns = dns_line(d.facts.get("domain"), chrome)
    if dns:
        lines.append(Line(dns))
    return lines


def event_line(event: DeliveryEvent, chrome: Chrome) -> str:
    """When, who reported it, what happened (named in the reader's words), the codes."""
    codes = " ".join(str(p) for p in (event.smtp_code, event.enhanced_status) if p)
    return chrome(
        "event_line",
        when=chrome.when(event.timestamp, form="when_line"),
        source=chrome.label(event.provider),
        status=chrome.label(event.event_type.value),
        codes=f" {codes}" if codes else "",
        reason=f" ({chrome.label(event.reason)})" if event.reason else "",
    )


def dns_line(domain: Any, chrome: Chrome) -> str:
    """One line on the recipient's domain, the same wording on every surface."""
    if not isinstance(domain, Mapping) or not domain.get("name"):
        return ""
    summary = dns_summary(domain, chrome)
    return chrome("dns_line", domain=domain["name"], summary=summary) if summary else ""


def dns_summary(domain: Mapping[str, Any], chrome: Chrome) -> str:
    if domain.get("inconclusive"):
        cause = str(domain.get("cause") or chrome("dns_no_answer"))
        return chrome("dns_inconclusive", cause=cause)
    if domain.get("exists") is False:
        return chrome("dns_nxdomain")
    if domain.get("null_mx"):
        return chrome("dns_null_mx")
    mx = [str(h) for h in domain.get("mx") or ()]
    if mx:
        return chrome("dns_mx", hosts=", ".join(mx[:5]))
    if domain.get("implicit_mx"):
        return chrome("dns_implicit_mx")
    if domain.get("accepts_mail") is False:
        return chrome("dns_no_mail")
    return ""


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(text: str) -> str:
    return " ".join(text.split())
