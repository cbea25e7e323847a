"""A lazily loaded knowledge set (the one-shot `whymail ask`) answers exactly as a full load does,
still names an editor's mistake with file:line when it meets it, and its parse cache is never
stale."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import shipped_knowledge
from bot.facts import completed
from bot.trees import LOCALES, Knowledge, KnowledgeError, render
from bot.trees.model import AUDIENCES
from tests.conftest import Whymail
from tests.test_trees import edit, edited

SHIPPED = shipped_knowledge()
__all__ = ["edited"]  # the fixture, shared with tests/test_trees.py


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "whymail" / "trees"


def answers(knowledge: Knowledge) -> list[tuple[str, str, str, str, tuple[str, ...]]]:
    """Every example's verdict, and its leaf rendered in every locale for every audience."""
    out = []
    for tree in knowledge.trees:
        for example in tree.examples:
            leaf = knowledge.walk_from(tree, example.facts).leaf
            # Rendered as a diagnosis holds the facts: every declared one, the example's on top.
            facts = completed(example.facts)
            for locale in LOCALES:
                for audience in AUDIENCES:
                    answer = render(leaf, facts, locale=locale, audience=audience)
                    out.append((leaf.verdict, locale, audience, answer.title, answer.steps))
    return out


def test_a_lazy_load_answers_as_a_full_load_does(cache: Path) -> None:
    full = answers(Knowledge.load(SHIPPED))
    assert len(full) > 100
    assert answers(Knowledge.load(SHIPPED, lazy=True)) == full
    # and again from the parse cache the first lazy load wrote
    assert any(cache.iterdir())
    assert answers(Knowledge.load(SHIPPED, lazy=True)) == full


def test_a_broken_text_is_found_when_first_rendered(edited: Path, cache: Path) -> None:
    edit(edited, "{{ address.problem | label }}", "{{ address.problem | label }")
    with pytest.raises(KnowledgeError):
        Knowledge.load(edited)
    knowledge = Knowledge.load(edited, lazy=True)
    broken = next(
        leaf
        for leaf in knowledge.leaves
        if any(
            "{{ address.problem | label }" in template.source
            for text in leaf.texts.values()
            for template in (text.title, text.summary, *text.steps)
        )
    )
    (locale, audience), _text = next(
        (key, text)
        for key, text in broken.texts.items()
        if "{{ address.problem | label }" in text.summary.source
    )
    with pytest.raises(KnowledgeError) as caught:
        render(broken, {}, locale=locale, audience=audience)
    (problem,) = caught.value.problems
    assert problem.file.endswith("delivery.yml")
    assert "template error" in problem.message


def test_a_broken_condition_is_found_when_first_walked(edited: Path, cache: Path) -> None:
    edit(edited, "if: history.complained", "if: history.complained ==")
    knowledge = Knowledge.load(edited, lazy=True)
    with pytest.raises(KnowledgeError) as caught:
        knowledge.decide({"history": {"complained": True}})
    (problem,) = caught.value.problems
    line = next(
        n
        for n, text in enumerate((edited / "trees" / "delivery.yml").read_text().splitlines(), 1)
        if "complained ==" in text
    )
    assert (problem.file.endswith("delivery.yml"), problem.line) == (True, line)


def test_an_internal_fact_in_customer_text_is_refused_lazily_too(edited: Path, cache: Path) -> None:
    edit(
        edited,
        "          title: The email address is not valid\n",
        '          title: "The email address is not valid ({{ event.diagnostic }})"\n',
    )
    knowledge = Knowledge.load(edited, lazy=True)
    leaf = next(
        leaf
        for leaf in knowledge.leaves
        if "event.diagnostic" in leaf.texts["en", "customer"].title.source
    )
    with pytest.raises(KnowledgeError) as caught:
        render(leaf, {}, locale="en", audience="customer")
    assert "customer text must not show 'event.diagnostic'" in caught.value.problems[0].message


def _titles(knowledge: Knowledge) -> set[str]:
    return {text.title.source for leaf in knowledge.leaves for text in leaf.texts.values()}


def test_the_parse_cache_follows_every_edit(edited: Path, cache: Path) -> None:
    Knowledge.load(edited, lazy=True)
    entries = sorted(cache.iterdir())
    # one per tree file, and one for ui.yml
    assert len(entries) == len(list((edited / "trees").glob("*.yml"))) + 1
    edit(edited, "title: The email address is not valid\n", "title: Edited just now\n")
    assert "Edited just now" in _titles(Knowledge.load(edited, lazy=True))
    # one entry per file: an edit replaces its file's entry instead of adding one
    assert len(sorted(cache.iterdir())) == len(entries)


def test_a_damaged_or_unwritable_cache_is_ignored(
    edited: Path, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _titles(Knowledge.load(edited))
    Knowledge.load(edited, lazy=True)
    for entry in cache.iterdir():
        entry.write_bytes(b"not a pickle")
    assert _titles(Knowledge.load(edited, lazy=True)) == expected
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    assert _titles(Knowledge.load(edited, lazy=True)) == expected


def test_ask_names_the_broken_line_it_meets(whymail: Whymail, edited: Path) -> None:
    edit(edited, "{{ address.problem | label }}", "{{ address.problem | label }")
    result = whymail.with_env(WHYMAIL_KNOWLEDGE=str(edited))("ask", "ola@@firma.no")
    assert result.code == 1
    assert "delivery.yml:" in result.stderr
    assert "template error" in result.stderr
    assert "Traceback" not in result.stderr
