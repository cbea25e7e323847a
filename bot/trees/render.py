"""Render a leaf's text (and a pending question) for one locale and audience, escaping every
value for the target."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.model import Answer, Question
from bot.trees.expressions import Escaper, escaping
from bot.trees.model import Leaf, QuestionNode, Text
from bot.trees.ui import Catalogue, shipped

DEFAULT_LOCALE = "en"


def pick_text(leaf: Leaf, locale: str, audience: str) -> tuple[Text, str]:
    for candidate in (locale, DEFAULT_LOCALE):
        text = leaf.texts.get((candidate, audience))
        if text is not None:
            return text, candidate
    raise LookupError(f"leaf {leaf.id!r} has no {audience} text")


def render(
    leaf: Leaf,
    facts: Mapping[str, Any],
    *,
    locale: str,
    audience: str,
    escape: Escaper = str,
    ui: Catalogue | None = None,
    time_zone: str | None = None,
) -> Answer:
    """The leaf's text, with the words of `ui` in the language it is written in and times in
    `time_zone` (the language's usual zone when None): its `when` and `label` filters use
    them, and every surface shows the answer with them."""
    text, used_locale = pick_text(leaf, locale, audience)
    chrome = (ui or shipped()).chrome(used_locale, time_zone)
    with escaping(escape, chrome):
        title = text.title.render(**facts).strip()
        summary = text.summary.render(**facts).strip()
        steps = tuple(s for s in (step.render(**facts).strip() for step in text.steps) if s)
    return Answer(
        title,
        summary,
        steps,
        used_locale,
        audience,
        chrome,
        actions=leaf.actions.get(audience, ()),
    )


def render_question(question: QuestionNode, *, locale: str, escape: Escaper = str) -> Question:
    """The question in the answer's language. Its text is the editor's, not a template, but
    it is still escaped for the target so no tree can smuggle a mention into Slack."""

    def pick(texts: dict[str, str]) -> str:
        return escape(texts.get(locale) or texts[DEFAULT_LOCALE])

    return Question(
        question.id,
        pick(question.texts),
        tuple((option.value, pick(option.labels)) for option in question.options),
    )
