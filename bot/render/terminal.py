"""A diagnosis for a person at a terminal: the verdict first, then what to do, then evidence.

The same words and evidence lines as every other surface (the answer's chrome, from
knowledge/ui.yml), in the answer's language. The customer view is what a customer in Slack
sees: the title, the address, the text and the question, and nothing internal (no verdict id,
path, evidence, ESP names, hosts or codes). Remote servers' text, addresses and payload fields
are untrusted: control characters and bidirectional overrides are removed, so a reply cannot
move the cursor, recolour the terminal or make text read backwards.
"""

from __future__ import annotations

import re

from bot.conversation import evidence
from bot.model import Diagnosis

_MARK = {"error": "✗", "warning": "!", "info": "✓"}
# C0 and C1 controls (ESC starts every terminal escape sequence) and the bidi embeddings,
# overrides and isolates of Unicode's "Trojan Source" (CVE-2021-42574).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def render_diagnosis(d: Diagnosis) -> str:
    """An agent's answer adds what only the support team reads: the verdict id, evidence and
    path; a customer's is the very answer Slack gives them."""
    agent = d.answer.audience == "agent"
    word = d.answer.chrome
    title = f"{_MARK.get(d.severity, '•')} {safe(d.answer.title)}"
    lines = [f"{title}   [{d.verdict}]" if agent else title, f"  {safe(_about(d, agent))}"]
    lines += ["", _wrap(safe(d.answer.summary))]
    if d.answer.steps:
        lines += ["", f"{word('steps')}:"]
        lines += [f"  {n}. {safe(step)}" for n, step in enumerate(d.answer.steps, start=1)]
    if d.question is not None:
        options = " / ".join(safe(label) for _, label in d.question.options)
        lines += ["", f"{word('narrow')}: {safe(d.question.text)} ({options})"]
    if agent:
        shown = _evidence(d)
        if shown:
            lines += ["", f"{word('evidence')}:", *(f"  {line}" for line in shown)]
        lines += [f"! {safe(note)}" for note in d.note_lines()]
        lines += ["", f"{word('path')}: {' → '.join(d.path)}"]
    elif d.notes:
        lines += ["", f"! {word('partial')}"]
    return "\n".join(lines)


def safe(text: str) -> str:
    """`text` without anything a terminal would act on rather than show."""
    return _UNSAFE.sub("", text)


def _about(d: Diagnosis, agent: bool) -> str:
    """Customers see the address, never our dispatch ids."""
    return d.subject if agent else (d.recipient or d.subject)


def _evidence(d: Diagnosis) -> list[str]:
    said = d.answer.chrome("server_said")
    lines = []
    for line in evidence(d):
        lines.append(safe(line.text))
        if line.quote:
            lines.append(f"    {said}: `{safe(line.quote)}`")
    return lines


def _wrap(text: str, width: int = 96) -> str:
    out, line = [], ""
    for chunk in text.split():
        if line and len(line) + 1 + len(chunk) > width:
            out.append(line)
            line = chunk
        else:
            line = f"{line} {chunk}" if line else chunk
    out.append(line)
    return "\n".join(out)
