"""Troubleshooting trees that knowledge editors own, as YAML in knowledge/.

The public surface: `Knowledge.load(dir)` (refuses a broken set with file:line problems;
`lazy=True` for a one-shot answer, see bot.trees.loader),
`Knowledge.decide(facts)`, `render(...)` and `render_question(...)`; `KnowledgeWatcher`
(bot.trees.reload) keeps a running bot on the last good set.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.facts import completed
from bot.trees.expressions import Escaper
from bot.trees.loader import (
    ENTRY_TREE,
    RENDER_ERRORS,
    KnowledgeError,
    LeafTemplate,
    Problem,
    entry_of,
    load_trees,
)
from bot.trees.locales import choose_locale, normalize_locale
from bot.trees.model import ACTIONS, AUDIENCES, LOCALES, Leaf, Node, QuestionNode, Tree
from bot.trees.render import render, render_question
from bot.trees.ui import Catalogue, load_catalogue, shipped
from bot.trees.walk import Walk, walk

__all__ = [
    "ACTIONS",
    "AUDIENCES",
    "ENTRY_TREE",
    "LOCALES",
    "Catalogue",
    "Escaper",
    "Knowledge",
    "KnowledgeError",
    "Leaf",
    "Problem",
    "QuestionNode",
    "Walk",
    "choose_locale",
    "normalize_locale",
    "render",
    "render_question",
]


@dataclass(frozen=True, slots=True)
class Knowledge:
    directory: Path
    trees: tuple[Tree, ...]
    nodes: dict[str, Node] = field(default_factory=dict)
    #: The words around the answers and the names of fact values (knowledge/ui.yml).
    ui: Catalogue = field(default_factory=shipped)

    @classmethod
    def load(cls, directory: Path, *, lazy: bool = False) -> Knowledge:
        """The set in `directory`, every text compiled and every example run, or KnowledgeError.

        `lazy` is for a process that answers once and exits (`whymail ask`): the structure is
        still checked, but a condition or text is compiled and checked only when first used
        (a fault then raises KnowledgeError with file:line), and the examples are not run,
        since walking them all would compile most conditions.
        """
        problems: list[Problem] = []
        try:
            ui = load_catalogue(directory, lazy=lazy)
        except KnowledgeError as exc:
            problems, ui = exc.problems, shipped()
        try:
            trees = load_trees(directory, lazy=lazy)
        except KnowledgeError as exc:
            raise KnowledgeError([*exc.problems, *problems]) from None
        if problems:
            raise KnowledgeError(problems)
        nodes = {node_id: node for tree in trees for node_id, node in tree.nodes.items()}
        knowledge = cls(directory, tuple(trees), nodes, ui)
        if lazy:
            return knowledge
        failures = list(knowledge.failing_examples())
        failures += [p for p in knowledge.failing_texts() if p not in failures]
        if failures:
            raise KnowledgeError(failures)
        return knowledge

    @property
    def warnings(self) -> tuple[str, ...]:
        """What may be a mistake but need not be; the set is usable all the same."""
        return tuple(w for tree in self.trees for w in tree.warnings)

    def failing_texts(self) -> Iterator[Problem]:
        """Every title, summary and step of every leaf, rendered with the facts of every
        example: a fault only some facts bring out (text added to a number) is found here, by
        the editor, rather than by a customer. Each fault is reported once, at its line."""
        templates: list[LeafTemplate] = []
        for leaf in self.leaves:
            for text in leaf.texts.values():
                templates += [text.title, text.summary, *text.steps]
        failed: set[int] = set()
        for example in (e for tree in self.trees for e in tree.examples):
            facts = completed(example.facts)
            for template in templates:
                if id(template) in failed:
                    continue
                try:
                    template.render(**facts)
                except KnowledgeError as exc:
                    failed.add(id(template))
                    cause = exc.__cause__
                    yield Problem(
                        template.file,
                        template.line,
                        f"{template.what} cannot be shown with the facts of example "
                        f"{example.name!r}: {cause if isinstance(cause, RENDER_ERRORS) else exc}",
                    )

    @property
    def entry(self) -> Tree:
        return entry_of(list(self.trees))

    def tree(self, tree_id: str) -> Tree | None:
        return next((t for t in self.trees if t.id == tree_id), None)

    @property
    def leaves(self) -> tuple[Leaf, ...]:
        return tuple(n for n in self.nodes.values() if isinstance(n, Leaf))

    @property
    def verdicts(self) -> frozenset[str]:
        return frozenset(leaf.verdict for leaf in self.leaves)

    def decide(self, facts: Mapping[str, Any]) -> Walk:
        return walk(self.nodes, self.entry.start, facts)

    def walk_from(self, tree: Tree, facts: Mapping[str, Any]) -> Walk:
        return walk(self.nodes, tree.start, facts)

    def failing_examples(self) -> Iterator[Problem]:
        for tree in self.trees:
            for example in tree.examples:
                result = self.walk_from(tree, example.facts)
                route = " > ".join(result.path)
                asked = result.question.id if result.question else None
                if result.leaf.verdict != example.verdict:
                    yield Problem(
                        tree.file,
                        example.line,
                        f"example {example.name!r}: expected verdict {example.verdict!r}, "
                        f"got {result.leaf.verdict!r} via {route}",
                    )
                elif example.path is not None and example.path != result.path:
                    yield Problem(
                        tree.file,
                        example.line,
                        f"example {example.name!r}: expected path {' > '.join(example.path)}, "
                        f"got {route}",
                    )
                elif example.asks is not None and example.asks != asked:
                    yield Problem(
                        tree.file,
                        example.line,
                        f"example {example.name!r}: expected to ask {example.asks!r}, "
                        f"got {asked!r} via {route}",
                    )
