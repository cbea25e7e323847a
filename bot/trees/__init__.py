"""Troubleshooting trees that knowledge editors own, as YAML in knowledge/.

The public surface: `Knowledge.load(dir)` (refuses a broken set with file:line problems),
`Knowledge.decide(facts)` and `render(...)`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.trees.expressions import Escaper, mrkdwn_escape
from bot.trees.loader import KnowledgeError, Problem, load_trees
from bot.trees.model import AUDIENCES, LOCALES, Leaf, Tree
from bot.trees.render import render
from bot.trees.walk import Walk, walk

__all__ = [
    "AUDIENCES",
    "LOCALES",
    "Escaper",
    "Knowledge",
    "KnowledgeError",
    "Leaf",
    "Problem",
    "Walk",
    "mrkdwn_escape",
    "render",
]

ENTRY_TREE = "delivery"


@dataclass(frozen=True, slots=True)
class Knowledge:
    directory: Path
    trees: tuple[Tree, ...]

    @classmethod
    def load(cls, directory: Path) -> Knowledge:
        trees = load_trees(directory)
        knowledge = cls(directory, tuple(trees))
        failures = list(knowledge.failing_examples())
        if failures:
            raise KnowledgeError(failures)
        return knowledge

    @property
    def entry(self) -> Tree:
        for tree in self.trees:
            if tree.id == ENTRY_TREE:
                return tree
        return self.trees[0]

    def decide(self, facts: dict[str, Any]) -> Walk:
        return walk(self.entry, facts)

    def failing_examples(self) -> Iterator[Problem]:
        for tree in self.trees:
            for example in tree.examples:
                result = walk(tree, example.facts)
                if result.leaf.verdict != example.verdict:
                    yield Problem(
                        tree.file,
                        example.line,
                        f"example {example.name!r}: expected verdict {example.verdict!r}, "
                        f"got {result.leaf.verdict!r} via {' > '.join(result.path)}",
                    )
                elif example.path is not None and example.path != result.path:
                    yield Problem(
                        tree.file,
                        example.line,
                        f"example {example.name!r}: expected path {' > '.join(example.path)}, "
                        f"got {' > '.join(result.path)}",
                    )
