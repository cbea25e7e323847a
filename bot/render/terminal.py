"""A diagnosis for a person at a terminal: the verdict first, then what to do, then evidence."""

from __future__ import annotations

from typing import Any

from bot.model import Diagnosis

_MARK = {"error": "✗", "warning": "!", "info": "✓"}


def render_diagnosis(d: Diagnosis) -> str:
    lines = [
        f"{_MARK.get(d.severity, '•')} {d.answer.title}   [{d.verdict}]",
        f"  {d.subject}",
        "",
        _wrap(d.answer.summary),
    ]
    if d.answer.steps:
        lines += ["", "What to do:"]
        lines += [f"  {n}. {step}" for n, step in enumerate(d.answer.steps, start=1)]
    if d.question is not None:
        options = " / ".join(label for _, label in d.question.options)
        lines += ["", f"To narrow it down: {d.question.text} ({options})"]
    evidence = list(_evidence(d))
    if evidence:
        lines += ["", "Evidence:"] + [f"  {line}" for line in evidence]
    lines += ["", f"Path: {' → '.join(d.path)}"]
    return "\n".join(lines)


def _wrap(text: str, width: int = 96) -> str:
    out, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    out.append(line)
    return "\n".join(out)


def _evidence(d: Diagnosis) -> list[str]:
    lines: list[str] = []
    if d.timeline:
        for e in d.timeline.events:
            code = " ".join(str(p) for p in (e.smtp_code, e.enhanced_status) if p)
            detail = f" {code}" if code else ""
            reason = f" ({e.reason})" if e.reason else ""
            lines.append(
                f"{e.timestamp:%Y-%m-%d %H:%M} UTC  {e.provider}: {e.event_type}{detail}{reason}"
            )
            if e.diagnostic:
                lines.append(f"    server said: {_clip(e.diagnostic)}")
    domain: dict[str, Any] = d.facts.get("domain") or {}
    if domain.get("name"):
        lines.append(f"DNS {domain['name']}: {_dns_summary(domain)}")
    return lines


def _dns_summary(domain: dict[str, Any]) -> str:
    if domain.get("inconclusive"):
        return f"inconclusive ({domain.get('cause')})"
    if domain.get("exists") is False:
        return "does not exist (NXDOMAIN)"
    if domain.get("null_mx"):
        return "null MX: accepts no mail"
    if domain.get("mx"):
        return "MX " + ", ".join(domain["mx"])
    if domain.get("implicit_mx"):
        return "no MX; its A/AAAA record receives mail"
    return "exists, but has no mail server"


def _clip(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
