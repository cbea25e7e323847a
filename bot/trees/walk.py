"""Walk the knowledge over facts: a decision takes its first branch whose condition holds, else
`otherwise`; a question takes the option answered in `answers.<id>`, else `unanswered`.

An unanswered question never stops the walk: it ends at a leaf like any other, and the
questions passed on the way are returned so the UI can ask them and walk again with the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateError

from bot.trees.model import Decision, Leaf, Node, QuestionNode

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Walk:
    leaf: Leaf
    path: tuple[str, ...]
    pending: tuple[QuestionNode, ...] = ()

    @property
    def question(self) -> QuestionNode | None:
        """The first question left unanswered on the way: the one most worth asking."""
        return self.pending[0] if self.pending else None


def holds(condition: Any, facts: Mapping[str, Any]) -> bool:
    """A condition that cannot be evaluated (a comparison with a missing fact) does not hold.

    A faulty condition met by a lazily loaded set raises KnowledgeError instead: that is the
    editor's mistake, to be reported with file:line, not a fact that happens to be missing.
    """
    try:
        return bool(condition(**facts))
    except (TemplateError, TypeError, ValueError, ArithmeticError) as exc:
        log.debug("condition failed: %s", exc)
        return False


def walk(nodes: Mapping[str, Node], start: str, facts: Mapping[str, Any]) -> Walk:
    answers = facts.get("answers")
    answers = answers if isinstance(answers, Mapping) else {}
    path = [start]
    pending: list[QuestionNode] = []
    node = nodes[start]
    while not isinstance(node, Leaf):
        if isinstance(node, Decision):
            target = node.otherwise
            for branch in node.branches:
                if holds(branch.evaluate, facts):
                    target = branch.target
                    break
        else:
            given = answers.get(node.id)
            chosen = next((o for o in node.options if o.value == str(given)), None)
            if given is None or chosen is None:
                pending.append(node)
                target = node.unanswered
            else:
                target = chosen.target
        path.append(target)
        node = nodes[target]
    return Walk(node, tuple(path), tuple(pending))
