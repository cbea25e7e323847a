"""A troubleshooting tree as the walker sees it: decisions and questions route, leaves answer.

Node ids are unique across the whole knowledge set, so a `then:` may name a node in another
file; `tree:<id>` names another tree's start. Targets are resolved to node ids at load time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.trees.loader import Condition, LeafTemplate

AUDIENCES = ("agent", "customer")
LOCALES = ("en", "nb", "nl", "pt-BR")
SEVERITIES = ("info", "warning", "error")

#: What the Slack UI can offer under an answer, as buttons. Editors choose per leaf and audience;
#: the UI decides how each looks and still enforces who may press it.
ACTIONS: dict[str, str] = {
    "share_with_customer": "post the customer version of this answer where the customer sees it",
    "details": "show the evidence: the delivery timeline, the server's reply and DNS findings",
    "reactivate": "take the address off the suppression list (agents only, asks to confirm)",
}

TREE_PREFIX = "tree:"


@dataclass(frozen=True, slots=True)
class Branch:
    condition: str
    evaluate: Condition
    target: str
    label: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    id: str
    label: str
    branches: tuple[Branch, ...]
    otherwise: str


@dataclass(frozen=True, slots=True)
class Option:
    value: str
    labels: dict[str, str]  # locale → label
    target: str


@dataclass(frozen=True, slots=True)
class QuestionNode:
    """Asked when facts cannot decide; never holds the answer up: `unanswered` leads on."""

    id: str
    texts: dict[str, str]  # locale → question
    options: tuple[Option, ...]
    unanswered: str


@dataclass(frozen=True, slots=True)
class Text:
    title: LeafTemplate
    summary: LeafTemplate
    steps: tuple[LeafTemplate, ...]


@dataclass(frozen=True, slots=True)
class Leaf:
    id: str
    verdict: str
    severity: str
    texts: dict[tuple[str, str], Text]  # (locale, audience) → text
    actions: dict[str, tuple[str, ...]] = field(default_factory=dict)  # audience → action ids


Node = Decision | QuestionNode | Leaf


@dataclass(frozen=True, slots=True)
class Example:
    name: str
    facts: dict[str, Any]
    verdict: str
    path: tuple[str, ...] | None
    line: int
    asks: str | None = None  # the question id the walk should leave pending, if any


@dataclass(frozen=True, slots=True)
class Tree:
    id: str
    file: str
    start: str
    nodes: dict[str, Node]
    examples: tuple[Example, ...] = field(default=())
    priority: int = 0
    description: str = ""
    #: "file:line: warning: ..." for what may be a mistake but need not be (locales with
    #: different numbers of steps); `whymail knowledge check` prints them and still passes.
    warnings: tuple[str, ...] = ()


def targets(node: Node) -> list[str]:
    """Where a node can lead, in the order an editor wrote them."""
    if isinstance(node, Decision):
        return [b.target for b in node.branches] + [node.otherwise]
    if isinstance(node, QuestionNode):
        return [o.target for o in node.options] + [node.unanswered]
    return []
