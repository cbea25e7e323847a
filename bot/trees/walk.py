"""Walk a tree over facts: the first branch whose condition holds, else `otherwise`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateError

from bot.trees.model import Decision, Leaf, Tree

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Walk:
    leaf: Leaf
    path: tuple[str, ...]


def holds(condition: Any, facts: dict[str, Any]) -> bool:
    """A condition that cannot be evaluated (a comparison with a missing fact) does not hold."""
    try:
        return bool(condition(**facts))
    except (TemplateError, TypeError, ValueError, ArithmeticError) as exc:
        log.debug("condition failed: %s", exc)
        return False


def walk(tree: Tree, facts: dict[str, Any]) -> Walk:
    path = [tree.start]
    node = tree.nodes[tree.start]
    while isinstance(node, Decision):
        target = node.otherwise
        for branch in node.branches:
            if holds(branch.compiled, facts):
                target = branch.target
                break
        path.append(target)
        node = tree.nodes[target]
    return Walk(node, tuple(path))
