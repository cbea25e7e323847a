"""knowledge/ui.yml: the words around the answers and the names of fact values, which editors
own like the trees, checked like the trees (file:line for every fault).

A knowledge folder without a ui.yml uses the shipped one, as it does for providers.yml. One
with its own must hold every key the shipped file has, in every locale, with the same
{placeholders} as the English text: a word missing in Norwegian is refused by
`whymail knowledge check`, never shown as English (or as a key) to a Norwegian customer.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot import SHIPPED_KNOWLEDGE
from bot.chrome import Chrome, time_zone_for
from bot.trees import yamlsource
from bot.trees.loader import KnowledgeError, Problem
from bot.trees.model import LOCALES

FILE = "ui.yml"
_SECTIONS = ("words", "labels")
#: Words that arrange the parts of a moment: each language takes the parts it writes a time
#: with (nb "{day} kl. {time}"), so any of these may be used or left out.
_MOMENT_WORDS = frozenset({"when", "when_line"})
_MOMENT_PARTS = frozenset({"date", "day", "time", "zone"})


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Per section, per locale: key → text."""

    words: Mapping[str, Mapping[str, str]]
    labels: Mapping[str, Mapping[str, str]]

    def chrome(self, locale: str, time_zone: str | None = None) -> Chrome:
        """The words of `locale` (English for a locale whymail does not know), with times in
        `time_zone`, or the locale's usual zone."""
        known = locale if locale in self.words else "en"
        return Chrome(known, time_zone_for(known, time_zone), self.words[known], self.labels[known])


def load_catalogue(directory: Path, *, lazy: bool = False) -> Catalogue:
    """The catalogue in `directory`/ui.yml (the shipped one when there is none), or
    KnowledgeError naming file:line for each fault."""
    path = directory / FILE
    if not path.is_file():
        return shipped()
    reference = shipped() if path.resolve() != (SHIPPED_KNOWLEDGE / FILE).resolve() else None
    return _read(path, reference, lazy=lazy)


@lru_cache(maxsize=1)
def shipped() -> Catalogue:
    return _read(SHIPPED_KNOWLEDGE / FILE, None, lazy=True)


def _read(path: Path, reference: Catalogue | None, *, lazy: bool) -> Catalogue:
    file = str(path)
    try:
        text = path.read_text("utf-8")
        cache = yamlsource.cache_folder() if lazy else None
        raw = yamlsource.load(text) if cache is None else yamlsource.load_cached(text, path, cache)
    except OSError as exc:
        raise KnowledgeError([Problem(file, 1, f"cannot read: {exc.strerror}")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise KnowledgeError([Problem(file, line, f"not valid YAML: {exc}")]) from None
    problems: list[Problem] = []
    if not isinstance(raw, Mapping):
        raise KnowledgeError([Problem(file, 1, "expected the sections words: and labels:")])
    for key in raw:
        if key not in _SECTIONS:
            problems.append(Problem(file, yamlsource.line_of(raw, key), f"unknown section {key!r}"))
    sections = {}
    for section in _SECTIONS:
        sections[section] = _section(file, raw, section, reference, problems)
    if problems:
        raise KnowledgeError(problems)
    return Catalogue(**sections)


def _section(
    file: str,
    raw: Mapping[str, Any],
    section: str,
    reference: Catalogue | None,
    problems: list[Problem],
) -> dict[str, dict[str, str]]:
    body = raw.get(section)
    line = yamlsource.line_of(raw, section)
    by_locale: dict[str, dict[str, str]] = {locale: {} for locale in LOCALES}
    if not isinstance(body, Mapping):
        problems.append(Problem(file, line, f"{section}: expected one entry per key"))
        return by_locale
    for key, texts in body.items():
        at = yamlsource.line_of(body, key)
        if not isinstance(texts, Mapping):
            problems.append(Problem(file, at, f"{section}.{key}: give it in {', '.join(LOCALES)}"))
            continue
        for locale in texts:
            if locale not in LOCALES:
                problems.append(
                    Problem(
                        file,
                        yamlsource.line_of(texts, locale, at),
                        f"{section}.{key}: unknown language {locale!r} "
                        f"(the languages are {', '.join(LOCALES)})",
                    )
                )
        english = _placeholders(texts.get("en"))
        for locale in LOCALES:
            text = texts.get(locale)
            if not isinstance(text, str) or not text.strip():
                problems.append(Problem(file, at, f"{section}.{key}: missing {locale} text"))
                continue
            by_locale[locale][str(key)] = text
            found = _placeholders(text)
            if found is None:
                problems.append(
                    Problem(
                        file,
                        yamlsource.line_of(texts, locale, at),
                        f"{section}.{key} ({locale}): unbalanced {{ or }}; "
                        "write a placeholder as {name}",
                    )
                )
            elif key in _MOMENT_WORDS and section == "words":
                if not found <= _MOMENT_PARTS:
                    problems.append(
                        Problem(
                            file,
                            yamlsource.line_of(texts, locale, at),
                            f"{section}.{key} ({locale}): use only "
                            "{date}, {day}, {time} and {zone}",
                        )
                    )
            elif english is not None and found != english:
                want = ", ".join(f"{{{n}}}" for n in sorted(english)) or "none"
                problems.append(
                    Problem(
                        file,
                        yamlsource.line_of(texts, locale, at),
                        f"{section}.{key} ({locale}): placeholders must be the English "
                        f"text's ({want})",
                    )
                )
    if reference is not None:
        expected = getattr(reference, section)["en"]
        for key in expected:
            if key not in body:
                problems.append(
                    Problem(file, line, f"{section}: missing {key!r} (whymail shows it)")
                )
    return by_locale


def _placeholders(text: Any) -> frozenset[str] | None:
    """The {names} a text fills in; None when its braces do not parse."""
    if not isinstance(text, str):
        return frozenset()
    try:
        return frozenset(name for _, name, _, _ in string.Formatter().parse(text) if name)
    except ValueError:
        return None
