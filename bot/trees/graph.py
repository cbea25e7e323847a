"""A tree as a Mermaid flowchart, for editors' docs and reviews."""

from __future__ import annotations

from bot.trees.model import Decision, Tree


def _label(text: str) -> str:
    return text.replace('"', "'")


def mermaid(tree: Tree) -> str:
    lines = ["flowchart TD"]
    for node in tree.nodes.values():
        if isinstance(node, Decision):
            lines.append(f'    {node.id}{{"{_label(node.label)}"}}')
            for branch in node.branches:
                lines.append(f'    {node.id} -->|"{_label(branch.condition)}"| {branch.target}')
            lines.append(f'    {node.id} -->|"otherwise"| {node.otherwise}')
        else:
            lines.append(f'    {node.id}(["{node.verdict}"])')
    return "\n".join(lines)
