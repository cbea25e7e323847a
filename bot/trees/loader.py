"""Read knowledge/trees/*.yml and refuse anything broken, naming file:line for each fault.

Everything an editor can get wrong is caught here rather than while answering a customer:
bad YAML, unknown keys, unknown fact names, missing targets, unreachable nodes, cycles, missing
text for a locale or audience, template syntax errors, and examples that do not hold.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jinja2 import TemplateSyntaxError

from bot.facts import FACTS, OPEN_ROOTS, ROOTS
from bot.trees import yamlsource
from bot.trees.expressions import ENV, fact_names
from bot.trees.model import (
    AUDIENCES,
    LOCALES,
    SEVERITIES,
    Branch,
    Decision,
    Example,
    Leaf,
    Text,
    Tree,
)

REQUIRED_LOCALES = ("en",)
_TREE_KEYS = {"tree", "description", "start", "priority", "nodes", "examples"}
_DECISION_KEYS = {"label", "branches", "otherwise"}
_LEAF_KEYS = {"verdict", "severity", "text"}
_TEXT_KEYS = {"title", "summary", "steps"}
# Names Jinja itself provides inside templates; everything else must be a known fact.
_TEMPLATE_NAMES = frozenset({*ENV.globals, "loop"})


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class KnowledgeError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def load_trees(directory: Path) -> list[Tree]:
    """All trees under `directory`/trees, or KnowledgeError listing every problem found."""
    folder = directory / "trees"
    files = sorted(folder.glob("*.yml")) + sorted(folder.glob("*.yaml"))
    problems: list[Problem] = []
    if not files:
        raise KnowledgeError([Problem(str(folder), 1, "no trees (*.yml) found")])
    trees: list[Tree] = []
    for path in files:
        reader = _TreeReader(str(path))
        tree = reader.read(path)
        problems.extend(reader.problems)
        if tree is not None:
            trees.append(tree)
    seen: dict[str, str] = {}
    for tree in trees:
        if tree.id in seen:
            problems.append(
                Problem(tree.file, 1, f"tree id {tree.id!r} also used in {seen[tree.id]}")
            )
        seen[tree.id] = tree.file
    if problems:
        raise KnowledgeError(problems)
    return trees


class _TreeReader:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def fault(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.file, line, message))

    def read(self, path: Path) -> Tree | None:
        try:
            doc = yamlsource.load(path.read_text("utf-8"))
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else 1
            self.fault(line, f"not valid YAML: {exc.problem or exc.context}")
            return None
        except (OSError, UnicodeDecodeError) as exc:
            self.fault(1, f"cannot read: {exc}")
            return None
        if not isinstance(doc, yamlsource.Located):
            self.fault(1, "a tree file must be a mapping with 'tree', 'start' and 'nodes'")
            return None
        self._unknown_keys(doc, _TREE_KEYS, "tree")
        tree_id = doc.get("tree")
        start = doc.get("start")
        raw_nodes = doc.get("nodes")
        if not isinstance(tree_id, str) or not tree_id:
            self.fault(doc.line, "missing 'tree: <id>'")
        if not isinstance(raw_nodes, yamlsource.Located) or not raw_nodes:
            self.fault(yamlsource.line_of(doc, "nodes"), "missing 'nodes' (a mapping of node ids)")
            return None
        nodes: dict[str, Decision | Leaf] = {}
        for node_id, raw in raw_nodes.items():
            node = self._node(node_id, raw, raw_nodes.key_lines[node_id])
            if node is not None:
                nodes[node_id] = node
        if not isinstance(start, str) or start not in raw_nodes:
            self.fault(yamlsource.line_of(doc, "start"), f"'start' must name a node, got {start!r}")
            return None
        self._links(nodes, raw_nodes)
        self._reachability(start, nodes, raw_nodes)
        examples = tuple(self._examples(doc.get("examples")))
        priority = doc.get("priority", 0)
        if self.problems or not isinstance(tree_id, str):
            return None
        return Tree(
            tree_id, self.file, start, nodes, examples, priority if isinstance(priority, int) else 0
        )

    def _unknown_keys(self, raw: yamlsource.Located, allowed: set[str], what: str) -> None:
        for key in raw:
            if key not in allowed:
                expected = ", ".join(sorted(allowed))
                self.fault(
                    raw.key_lines[key], f"unknown key {key!r} in {what} (expected {expected})"
                )

    def _node(self, node_id: str, raw: Any, line: int) -> Decision | Leaf | None:
        if not isinstance(raw, yamlsource.Located):
            self.fault(line, f"node {node_id!r} must be a mapping")
            return None
        if "verdict" in raw:
            self._unknown_keys(raw, _LEAF_KEYS, f"leaf {node_id!r}")
            return self._leaf(node_id, raw)
        self._unknown_keys(raw, _DECISION_KEYS, f"decision {node_id!r}")
        return self._decision(node_id, raw)

    def _decision(self, node_id: str, raw: yamlsource.Located) -> Decision | None:
        branches = []
        raw_branches = raw.get("branches") or []
        if not isinstance(raw_branches, list):
            self.fault(raw.line, f"'branches' of {node_id!r} must be a list")
            return None
        for item in raw_branches:
            if not (isinstance(item, yamlsource.Located) and set(item) == {"if", "then"}):
                self.fault(
                    yamlsource.line_of(item, default=raw.line), "a branch needs 'if' and 'then'"
                )
                continue
            condition = str(item["if"])
            compiled = self._expression(condition, item.key_lines["if"])
            if compiled is not None:
                branches.append(Branch(condition, compiled, str(item["then"])))
        otherwise = raw.get("otherwise")
        if not isinstance(otherwise, str):
            self.fault(raw.line, f"decision {node_id!r} needs 'otherwise: <node>'")
            return None
        return Decision(node_id, str(raw.get("label") or node_id), tuple(branches), otherwise)

    def _expression(self, source: str, line: int) -> Any:
        try:
            compiled = ENV.compile_expression(source, undefined_to_none=False)
        except TemplateSyntaxError as exc:
            self.fault(line, f"condition {source!r}: {exc.message}")
            return None
        self._facts(source, line, expression=True)
        return compiled

    def _facts(self, source: str, line: int, *, expression: bool) -> None:
        for name, offset in fact_names(source, expression=expression):
            root = name.partition(".")[0]
            if name in FACTS or name in ROOTS or root in _TEMPLATE_NAMES or root in OPEN_ROOTS:
                continue
            self.fault(line + offset - 1, f"unknown fact {name!r} (see knowledge/README.md)")

    def _leaf(self, node_id: str, raw: yamlsource.Located) -> Leaf | None:
        verdict = raw.get("verdict")
        severity = raw.get("severity", "info")
        if severity not in SEVERITIES:
            self.fault(
                raw.key_lines.get("severity", raw.line), f"severity must be one of {SEVERITIES}"
            )
        text = raw.get("text")
        if not isinstance(text, yamlsource.Located):
            self.fault(raw.line, f"leaf {node_id!r} needs 'text' per locale and audience")
            return None
        texts: dict[tuple[str, str], Text] = {}
        for locale, per_audience in text.items():
            line = text.key_lines[locale]
            if locale not in LOCALES:
                self.fault(
                    line, f"unknown locale {locale!r} (expected one of {', '.join(LOCALES)})"
                )
                continue
            if not isinstance(per_audience, yamlsource.Located):
                self.fault(line, f"text.{locale} must map audiences (agent, customer) to text")
                continue
            for audience in AUDIENCES:
                body = per_audience.get(audience)
                if not isinstance(body, yamlsource.Located):
                    self.fault(
                        per_audience.line, f"leaf {node_id!r}: no {locale} text for {audience}"
                    )
                    continue
                rendered = self._text(body)
                if rendered:
                    texts[(locale, audience)] = rendered
        for locale in REQUIRED_LOCALES:
            if locale not in text:
                self.fault(text.line, f"leaf {node_id!r}: missing locale {locale!r}")
        if not isinstance(verdict, str) or not verdict:
            self.fault(raw.line, f"leaf {node_id!r} needs a 'verdict'")
            return None
        return Leaf(node_id, verdict, str(severity), texts)

    def _text(self, body: yamlsource.Located) -> Text | None:
        self._unknown_keys(body, _TEXT_KEYS, "text")
        steps = body.get("steps") or []
        if not isinstance(steps, list):
            self.fault(body.line, "'steps' must be a list")
            return None
        title = self._template(body.get("title"), yamlsource.line_of(body, "title"), "title")
        summary = self._template(
            body.get("summary"), yamlsource.line_of(body, "summary"), "summary"
        )
        compiled_steps = [
            self._template(step, getattr(steps, "line", body.line) + i, "step")
            for i, step in enumerate(steps, start=1)
        ]
        if title is None or summary is None or any(s is None for s in compiled_steps):
            return None
        return Text(title, summary, tuple(s for s in compiled_steps if s is not None))

    def _template(self, source: Any, line: int, what: str) -> Any:
        if not isinstance(source, str) or not source.strip():
            self.fault(line, f"{what} must be non-empty text")
            return None
        try:
            template = ENV.from_string(source)
        except TemplateSyntaxError as exc:
            self.fault(line + (exc.lineno or 1) - 1, f"{what}: template error: {exc.message}")
            return None
        self._facts(source, line, expression=False)
        return template

    def _links(self, nodes: dict[str, Decision | Leaf], raw: yamlsource.Located) -> None:
        for node in nodes.values():
            if isinstance(node, Decision):
                for target in [b.target for b in node.branches] + [node.otherwise]:
                    if target not in raw:
                        self.fault(
                            raw.key_lines[node.id], f"{node.id!r} leads to unknown node {target!r}"
                        )

    def _reachability(
        self, start: str, nodes: dict[str, Decision | Leaf], raw: yamlsource.Located
    ) -> None:
        reached: set[str] = set()
        on_path: set[str] = set()

        def visit(node_id: str) -> None:
            if node_id in on_path:
                self.fault(raw.key_lines.get(node_id, 1), f"cycle through {node_id!r}")
                return
            if node_id in reached or node_id not in nodes:
                return
            reached.add(node_id)
            on_path.add(node_id)
            for child in _children(nodes[node_id]):
                visit(child)
            on_path.discard(node_id)

        visit(start)
        for node_id in raw:
            if node_id not in reached and node_id in nodes:
                self.fault(
                    raw.key_lines[node_id], f"node {node_id!r} cannot be reached from {start!r}"
                )

    def _examples(self, raw: Any) -> Iterator[Example]:
        if raw is None:
            return
        if not isinstance(raw, list):
            self.fault(getattr(raw, "line", 1), "'examples' must be a list")
            return
        for item in raw:
            line = yamlsource.line_of(item)
            if not isinstance(item, dict) or not isinstance(item.get("facts"), dict):
                self.fault(line, "an example needs 'facts' (a mapping) and 'verdict'")
                continue
            if not isinstance(item.get("verdict"), str):
                self.fault(line, "an example needs 'verdict'")
                continue
            path = item.get("path")
            yield Example(
                name=str(item.get("name") or f"example at line {line}"),
                facts=_plain(item["facts"]),
                verdict=item["verdict"],
                path=tuple(path) if isinstance(path, list) else None,
                line=line,
            )


def _children(node: Decision | Leaf) -> list[str]:
    if isinstance(node, Decision):
        return [b.target for b in node.branches] + [node.otherwise]
    return []


def _plain(value: Any) -> Any:
    """Example facts as ordinary dicts, with dotted keys (`domain.exists: false`) nested."""
    if isinstance(value, dict):
        result: dict[str, Any] = {}
        for key, item in value.items():
            head, _, rest = str(key).partition(".")
            target = result
            if rest:
                target = result.setdefault(head, {})
                for part in rest.split(".")[:-1]:
                    target = target.setdefault(part, {})
                target[rest.split(".")[-1]] = _plain(item)
            else:
                existing = result.get(head)
                plain = _plain(item)
                if isinstance(existing, dict) and isinstance(plain, dict):
                    existing.update(plain)
                else:
                    result[head] = plain
        return result
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
