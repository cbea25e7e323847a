"""Render a leaf's text for one locale and audience, escaping every value for the target."""

from __future__ import annotations

from typing import Any

from bot.model import Answer
from bot.trees.expressions import Escaper, escaping
from bot.trees.model import Leaf, Text

DEFAULT_LOCALE = "en"


def pick_text(leaf: Leaf, locale: str, audience: str) -> tuple[Text, str]:
    for candidate in (locale, DEFAULT_LOCALE):
        text = leaf.texts.get((candidate, audience))
        if text is not None:
            return text, candidate
    raise LookupError(f"leaf {leaf.id!r} has no {audience} text")


def render(
    leaf: Leaf, facts: dict[str, Any], *, locale: str, audience: str, escape: Escaper = str
) -> Answer:
    text, used_locale = pick_text(leaf, locale, audience)
    with escaping(escape):
        title = text.title.render(**facts).strip()
        summary = text.summary.render(**facts).strip()
        steps = tuple(s for s in (step.render(**facts).strip() for step in text.steps) if s)
    return Answer(title, summary, steps, used_locale, audience)
