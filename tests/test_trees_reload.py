"""Live reload, for real: a watcher over a temporary knowledge folder swaps in clean edits and
keeps the last good set (reporting the fault) when an edit is broken."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.config import shipped_knowledge
from bot.trees import Problem, render
from bot.trees.reload import KnowledgeWatcher

FACTS = {"address": {"valid": False, "value": "a@@b.no", "problem": "two @"}}
TITLE = "          title: The email address is not valid\n"


def customer_title(watcher: KnowledgeWatcher) -> str:
    knowledge = watcher.current()
    leaf = knowledge.decide(FACTS).leaf
    return render(leaf, FACTS, locale="en", audience="customer").title


def rewrite(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), "utf-8")


async def until(condition: Callable[[], bool]) -> None:
    """Poll like the watcher does; ten seconds is far beyond its one-poll reaction time."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out waiting for the watcher")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copytree(shipped_knowledge(), tmp_path / "knowledge")
    return tmp_path / "knowledge"


async def test_clean_edit_is_swapped_in_and_broken_edit_is_refused(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    faults: list[list[Problem]] = []

    async def post_to_channel(problems: list[Problem]) -> None:
        faults.append(problems)

    watcher = KnowledgeWatcher(folder, interval=0.05, on_fault=post_to_channel)
    assert watcher.tree_count == 4
    assert customer_title(watcher) == "The email address is not valid"
    first_load = watcher.loaded_at
    current = watcher.current
    tree = folder / "trees" / "delivery.yml"
    watcher.start()
    try:
        rewrite(tree, TITLE, "          title: That address cannot work\n")
        await until(lambda: customer_title(watcher) == "That address cannot work")
        assert watcher.loaded_at >= first_load
        assert watcher.last_error is None
        assert current().entry.id == "delivery"  # the bound method keeps following swaps

        with caplog.at_level(logging.ERROR, logger="bot.trees.reload"):
            rewrite(tree, "if: dispatch.internal_error", "if: dispatch.internal_eror")
            await until(lambda: bool(faults))
        (problems,) = faults
        assert any(
            p.file.endswith("delivery.yml") and "internal_eror" in p.message for p in problems
        )
        assert any("delivery.yml:" in str(p) for p in problems)
        assert watcher.last_error is not None
        assert "last good set" in caplog.text
        assert customer_title(watcher) == "That address cannot work"

        rewrite(tree, "if: dispatch.internal_eror", "if: dispatch.internal_error")
        await until(lambda: watcher.last_error is None)
        assert customer_title(watcher) == "That address cannot work"
    finally:
        await watcher.stop()


async def test_each_kind_of_broken_edit_keeps_the_last_good_set(folder: Path) -> None:
    faults: list[list[Problem]] = []
    watcher = KnowledgeWatcher(folder, interval=60, on_fault=faults.append)
    tree = folder / "trees" / "delivery.yml"
    good = tree.read_text("utf-8")
    broken = {
        "bad YAML": ("  internal:\n", "  internal: [unclosed\n"),
        "unknown fact": ("if: history.complained", "if: history.complaned"),
        "missing translation": (
            "      nl:\n        agent:\n          title: Het adres",
            "      xx:\n        agent:\n          title: Het adres",
        ),
        "bad template": ("{{ address.problem | label }}", "{{ address.problem | label }"),
        "unreachable node": ("    otherwise: complaint\n", "    otherwise: suppression\n"),
    }
    for kind, (old, new) in broken.items():
        tree.write_text(good.replace(old, new, 1) + f"# {kind}\n", "utf-8")
        assert await watcher.check_now() is False, kind
        assert faults, kind
        assert all(":" in str(p) and p.line >= 1 for p in faults[-1]), kind
        assert any(p.file.endswith("delivery.yml") for p in faults[-1]), kind
        assert customer_title(watcher) == "The email address is not valid", kind
    tree.write_text(good + "# fixed\n", "utf-8")
    assert await watcher.check_now() is True
    assert watcher.last_error is None


async def test_a_new_file_is_noticed_and_a_sync_reporter_works(folder: Path) -> None:
    faults: list[list[Problem]] = []
    watcher = KnowledgeWatcher(folder, interval=60, on_fault=faults.append)
    assert await watcher.check_now() is False  # nothing changed
    (folder / "trees" / "extra.yml").write_text("tree: extra\nstart: x\nnodes: {}\n", "utf-8")
    assert await watcher.check_now() is False
    assert faults
    assert "extra.yml" in faults[0][0].file
    (folder / "trees" / "extra.yml").unlink()
    assert await watcher.check_now() is True


async def test_an_edit_of_the_words_around_the_answers_is_picked_up(folder: Path) -> None:
    faults: list[list[Problem]] = []
    watcher = KnowledgeWatcher(folder, interval=60, on_fault=faults.append)
    ui = folder / "ui.yml"
    rewrite(ui, "    nb: Dette kan du gjøre\n", "    nb: Slik løser du det\n")
    assert await watcher.check_now() is True
    assert watcher.current().ui.chrome("nb")("steps") == "Slik løser du det"
    rewrite(ui, "    nb: Slik løser du det\n", "")
    assert await watcher.check_now() is False  # refused: the last good words stay
    assert "words.steps: missing nb text" in faults[0][0].message
    assert watcher.current().ui.chrome("nb")("steps") == "Slik løser du det"
