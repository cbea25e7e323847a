"""The knowledge as a Mermaid flowchart, for editors' docs and reviews.

A branch's `label` (when the editor gave one) reads better on an arrow than its condition;
nodes that belong to another tree are drawn as links (`[[...]]`) so a reviewer sees the hand-over.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.trees.loader import ENTRY_TREE
from bot.trees.model import Decision, Node, QuestionNode, Tree, targets


def _label(text: str) -> str:
    return " ".join(text.replace('"', "'").split())


def _shape(node: Node) -> str:
    if isinstance(node, Decision):
        return f'    {node.id}{{"{_label(node.label)}"}}'
    if isinstance(node, QuestionNode):
        return f'    {node.id}[/"{_label(node.texts["en"])}"/]'
    return f'    {node.id}(["{node.verdict}"])'


def _edges(node: Node) -> list[str]:
    if isinstance(node, Decision):
        lines = [
            f'    {node.id} -->|"{_label(b.label or b.condition)}"| {b.target}'
            for b in node.branches
        ]
        return [*lines, f"    {node.id} --> {node.otherwise}"]
    if isinstance(node, QuestionNode):
        lines = [f'    {node.id} -->|"{_label(o.labels["en"])}"| {o.target}' for o in node.options]
        return [*lines, f'    {node.id} -.->|"not answered yet"| {node.unanswered}']
    return []


def mermaid(tree: Tree, others: Iterable[Tree] = ()) -> str:
    """One tree; its hand-overs to nodes of `others` are drawn as links named after their tree."""
    lines = ["flowchart TD"]
    home = {node_id: t.id for t in others for node_id in t.nodes if node_id not in tree.nodes}
    linked: set[str] = set()
    for node in tree.nodes.values():
        lines += [_shape(node), *_edges(node)]
        for target in targets(node):
            if target in home and target not in linked:
                linked.add(target)
                lines.append(f'    {target}[["{home[target]}: {target}"]]')
    return "\n".join(lines)


def mermaid_all(trees: Iterable[Tree]) -> str:
    """Every tree in one diagram, each in its own box; edges come last so that a node shared by
    arrows from several boxes stays in the box of the tree that defines it."""
    lines = ["flowchart TD"]
    edges: list[str] = []
    for tree in sorted(trees, key=lambda t: t.id != ENTRY_TREE):
        lines.append(f'    subgraph {tree.id}_tree["{tree.id}"]')
        for node in tree.nodes.values():
            lines.append("  " + _shape(node))
            edges += _edges(node)
        lines.append("    end")
    return "\n".join(lines + edges)
