"""Read knowledge/trees/*.yml and refuse anything broken, naming file:line for each fault.

Everything an editor can get wrong is caught here rather than while answering a customer:
bad YAML, unknown keys, unknown fact names, missing targets, unreachable nodes, cycles, missing
text for a locale or audience, internal facts printed in customer text, template syntax errors.
(Examples are run by `Knowledge.load`, which needs the whole set to walk.)

Reading is two passes: each file alone (its shape and texts), then the set (node ids unique
across files, every target known, every node reachable from the entry tree, no cycles).

Compiling the Jinja in conditions and texts is nearly all the cost of a load, and one answer
renders a single leaf's text for one locale and audience. So a lazy load (the CLI's one-shot
`whymail ask`) checks the structure only; each condition and text is compiled, and checked
exactly as a full load checks it, the first time it is used, and a fault found then is raised
as a KnowledgeError naming file:line. A full load (`whymail knowledge check`, the server and
its live reload) compiles and checks everything before the set is used.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from jinja2 import TemplateError, TemplateSyntaxError, nodes
from jinja2.environment import Template, TemplateExpression

from bot import SHIPPED_KNOWLEDGE
from bot.checks.providers import load_table
from bot.facts import BOOLEAN_FACTS, CUSTOMER_HIDDEN_FACTS, FACT_VALUES, FACTS, OPEN_ROOTS, ROOTS
from bot.trees import yamlsource
from bot.trees.expressions import ENV, fact_names, parse, printed_fact_names
from bot.trees.locales import normalize_locale
from bot.trees.model import (
    ACTIONS,
    AUDIENCES,
    LOCALES,
    SEVERITIES,
    TREE_PREFIX,
    Branch,
    Decision,
    Example,
    Leaf,
    Node,
    Option,
    QuestionNode,
    Text,
    Tree,
    targets,
)

ENTRY_TREE = "delivery"
REQUIRED_LOCALES = LOCALES
_TREE_KEYS = {"tree", "description", "start", "priority", "nodes", "examples"}
_DECISION_KEYS = {"label", "branches", "otherwise"}
_BRANCH_KEYS = {"if", "then", "label"}
_QUESTION_KEYS = {"question", "options", "unanswered"}
_OPTION_KEYS = {"value", "label", "then"}
_LEAF_KEYS = {"verdict", "severity", "actions", "text"}
_TEXT_KEYS = {"title", "summary", "steps"}
_EXAMPLE_KEYS = {"name", "facts", "verdict", "path", "asks"}
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


#: Fact name → every value it can take: the declared ones (bot.facts), the providers and gateways
#: of providers.yml, and each question's option values as `answers.<question id>`.
Values = Mapping[str, frozenset[str]]

#: What a runtime fault in an editor's template can raise inside the sandbox.
RENDER_ERRORS = (TemplateError, TypeError, ValueError, ArithmeticError, LookupError)

#: What libyaml says, and what an editor should do about it.
_YAML_HINTS = (
    (
        "cannot start any token",
        "a line that starts with {, %, `, @ or a quote mark must be put in double quotes",
    ),
    ("tab character", "indent with spaces, not tabs"),
    (
        "mapping values are not allowed",
        "this line contains ': ' (a colon and a space) inside a text: put the whole text in "
        "double quotes",
    ),
    (
        "could not find expected ':'",
        "a list item needs a space after its dash ('- Text', not '-Text'); a text over several "
        "lines must be in double quotes",
    ),
    (
        "did not find expected key",
        "this line is indented differently from the lines around it: the items of one list "
        "start in the same column",
    ),
    ("did not find expected '-'", "the items of one list start in the same column"),
    ("end of stream", "a double quote is opened but never closed"),
)

#: A text YAML cannot read unquoted: a step, title or summary that starts with { % ` or @.
_UNQUOTED = re.compile(r"^\s*(?:-\s+|(?:title|summary):\s+)[{%`@]")


def _line(text: str, index: int) -> str:
    lines = text.splitlines()
    return lines[index] if 0 <= index < len(lines) else ""


Code = TypeVar("Code", Template, TemplateExpression)
#: (line, message) pairs: where in the file an editor's mistake is, and what it is.
_Faults = list[tuple[int, str]]


class _Compiled(Generic[Code]):
    """Editor-written Jinja (a condition or a text) and where it was written, compiled once."""

    __slots__ = ("_code", "file", "line", "source", "values")

    def __init__(self, source: str, file: str, line: int, values: Values | None = None) -> None:
        self.source = source
        self.file = file
        self.line = line
        self.values: Values = FACT_VALUES if values is None else values
        self._code: Code | None = None

    @property
    def compiled(self) -> bool:
        return self._code is not None

    def check(self) -> list[Problem]:
        """Every fault in this source, with file:line; when there is none, it is ready to use."""
        code, faults = self._analyse()
        if code is not None and not faults:
            self._code = code
        return [Problem(self.file, line, message) for line, message in faults]

    def _ready(self) -> Code:
        if self._code is None:
            code, faults = self._analyse()
            if code is None or faults:
                raise KnowledgeError([Problem(self.file, line, m) for line, m in faults])
            self._code = code
        return self._code

    def _analyse(self) -> tuple[Code | None, _Faults]:
        raise NotImplementedError

    def _unknown_facts(self, names: tuple[tuple[str, int], ...]) -> _Faults:
        faults: _Faults = []
        for name, offset in names:
            # `adresse.value` is one mistake, not two: its root `adresse` is not reported again.
            if _known(name) or any(other.startswith(f"{name}.") for other, _ in names):
                continue
            message = f"unknown fact {name!r} (see knowledge/README.md)"
            faults.append((self.line + offset - 1, message))
        return faults

    def _impossible(self, compared: tuple[tuple[str, str, int], ...]) -> _Faults:
        """Comparisons with a value the fact never takes: the branch could never be taken."""
        faults: _Faults = []
        for name, literal, offset in compared:
            allowed = self.values.get(name)
            if allowed is None or literal in allowed:
                continue
            shown = ", ".join(sorted(allowed)) if len(allowed) <= 12 else _near(literal, allowed)
            # A word from the product's screens rather than a value: say why it cannot match.
            screen = not literal.isascii() or literal != literal.lower() or " " in literal
            note = " (the words users see, such as Pågående, are not the values)" if screen else ""
            faults.append(
                (
                    self.line + offset - 1,
                    f"{name} is never {literal!r}, so this can never be true; its values are "
                    f"{shown}{note}",
                )
            )
        return faults


class Condition(_Compiled[TemplateExpression]):
    """A branch's `if`: true, false or (a missing fact compared) an error the walker ignores."""

    __slots__ = ()

    def __call__(self, **facts: Any) -> Any:
        return self._ready()(**facts)

    def _analyse(self) -> tuple[TemplateExpression | None, _Faults]:
        analysis = _analyse_expression(self.source)
        if analysis.code is None:
            return None, [(self.line, f"condition {self.source!r}: {analysis.error}")]
        faults = self._unknown_facts(analysis.names) + self._impossible(analysis.compared)
        return analysis.code, faults


class LeafTemplate(_Compiled[Template]):
    """One title, summary or step of a leaf's text for one locale and audience."""

    __slots__ = ("audience", "what")

    def __init__(
        self,
        source: str,
        file: str,
        line: int,
        what: str,
        audience: str,
        values: Values | None = None,
    ) -> None:
        super().__init__(source, file, line, values)
        self.what = what
        self.audience = audience

    def render(self, **facts: Any) -> str:
        """The text for these facts; a fault the syntax could not show (adding text to a
        number, say) is the editor's, so it is raised as a KnowledgeError naming file:line."""
        code = self._ready()
        try:
            return code.render(**facts)
        except RENDER_ERRORS as exc:
            raise KnowledgeError([self.runtime_problem(exc)]) from exc

    def runtime_problem(self, exc: Exception) -> Problem:
        return Problem(self.file, self.line, f"{self.what} cannot be shown: {exc}")

    def _analyse(self) -> tuple[Template | None, _Faults]:
        analysis = _analyse_template(self.source)
        if analysis.code is None:
            line = self.line + analysis.error_line - 1
            return None, [(line, f"{self.what}: template error: {analysis.error}")]
        faults = self._unknown_facts(analysis.names) + self._impossible(analysis.compared)
        if self.audience == "customer":
            faults.extend(
                (
                    self.line + offset - 1,
                    f"customer text must not show {name!r} (internal; agent text may)",
                )
                for name, offset in analysis.printed
                if _hidden(name)
            )
        return analysis.code, faults


_C = TypeVar("_C", Condition, LeafTemplate)


@dataclass(frozen=True, slots=True)
class _Analysis(Generic[Code]):
    """What one parse of a source tells, whoever asks: the code (or the syntax error and its
    line within the source), and the fact names it reads and prints, with their lines."""

    code: Code | None
    names: tuple[tuple[str, int], ...] = ()
    printed: tuple[tuple[str, int], ...] = ()
    #: (fact, text it is compared with, line): `dispatch.state == 'sent'` → (dispatch.state, sent)
    compared: tuple[tuple[str, str, int], ...] = ()
    error: str | None = None
    error_line: int = 1


# A reload after a one-line edit should only compile that line, so analyses are kept by source
# across loads; a source reads the same wherever it sits, so its faults are kept too.
@lru_cache(maxsize=8192)
def _analyse_template(source: str) -> _Analysis[Template]:
    try:
        ast = parse(source, expression=False)
        names = tuple(fact_names(ast))
        printed = tuple(printed_fact_names(ast))
        # Read before compiling: the compiler folds constants in the tree it is given.
        compared = tuple(_comparisons(ast))
        # From the tree already parsed: the names above cost no second parse.
        return _Analysis(ENV.from_string(ast), names, printed, compared)
    except TemplateSyntaxError as exc:
        return _Analysis(None, error=f"{exc.message}", error_line=exc.lineno or 1)


@lru_cache(maxsize=4096)
def _analyse_expression(source: str) -> _Analysis[TemplateExpression]:
    try:
        code = ENV.compile_expression(source, undefined_to_none=False)
    except TemplateSyntaxError as exc:
        return _Analysis(None, error=f"{exc.message}")
    ast = parse(source, expression=True)
    return _Analysis(code, tuple(fact_names(ast)), compared=tuple(_comparisons(ast)))


def _dotted(node: nodes.Node) -> str | None:
    """`dispatch.state` for the expression that reads it; None for anything else."""
    chain: list[str] = []
    while isinstance(node, nodes.Getattr):
        chain.append(node.attr)
        node = node.node
    if not isinstance(node, nodes.Name):
        return None
    return ".".join([node.name, *reversed(chain)])


def _texts(node: nodes.Node) -> list[str] | None:
    """The text constants of `'a'` or `['a', 'b', none]`; None when it is not only constants."""
    if isinstance(node, nodes.Const):
        values = node.value if isinstance(node.value, list | tuple) else [node.value]
        return [v for v in values if isinstance(v, str)]
    if isinstance(node, nodes.List | nodes.Tuple):
        found: list[str] = []
        for item in node.items:
            if not isinstance(item, nodes.Const):
                return None
            if isinstance(item.value, str):
                found.append(item.value)
        return found
    return None


def _comparisons(ast: nodes.Node) -> Iterator[tuple[str, str, int]]:
    """Each fact compared with text: `x == 'a'`, `x != 'a'`, `x in ['a', 'b']`, `'a' in x`."""
    for compare in ast.find_all(nodes.Compare):
        left = compare.expr
        for operand in compare.ops:
            right = operand.expr
            pairs: list[tuple[nodes.Node, nodes.Node]] = []
            if operand.op in ("eq", "ne"):
                pairs = [(left, right), (right, left)]
            elif operand.op in ("in", "notin"):
                pairs = [(left, right)] if isinstance(right, nodes.List | nodes.Tuple) else []
                pairs.append((right, left))
            for fact, other in pairs:
                name, texts = _dotted(fact), _texts(other)
                if name is not None and texts is not None:
                    yield from ((name, text, compare.lineno) for text in texts)
            left = right


def _near(literal: str, allowed: frozenset[str]) -> str:
    """A long list of values (bounce reasons, providers) shortened to the likely intended."""
    close = difflib.get_close_matches(literal, sorted(allowed), n=3, cutoff=0.5)
    if close:
        return f"for example {', '.join(close)}"
    return f"{len(allowed)} names, listed in knowledge/README.md"


@dataclass(frozen=True, slots=True)
class _Link:
    """One `then`/`otherwise`/`unanswered` as written, remembered for the set-level pass."""

    source: str
    target: str
    line: int


def load_trees(directory: Path, *, lazy: bool = False) -> list[Tree]:
    """All trees under `directory`/trees, or KnowledgeError listing every problem found.

    `lazy` checks the structure only and leaves conditions and texts to be compiled and
    checked when first used (see the module docstring).
    """
    folder = directory / "trees"
    files = sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])
    if not files:
        raise KnowledgeError([Problem(str(folder), 1, "no trees (*.yml) found")])
    problems: list[Problem] = []
    readers = [_TreeReader(str(path), lazy=lazy) for path in files]
    docs = [reader.parse(path) for reader, path in zip(readers, files, strict=True)]
    # Conditions may compare `answers.<question>` with an option of a question in any file.
    values = _KnownValues({**FACT_VALUES, **_answer_values(docs)}, directory)
    trees: list[Tree] = []
    for reader, doc in zip(readers, docs, strict=True):
        tree = reader.read(doc, values) if doc is not None else None
        problems.extend(reader.problems)
        if tree is not None:
            trees.append(tree)
    if problems:
        raise KnowledgeError(problems)
    return _SetChecker(trees, readers).check()


class _KnownValues(Mapping[str, frozenset[str]]):
    """The values each fact takes; the provider ids are read from providers.yml only when a
    comparison with one is first checked, so that a lazy load that compiles no such condition
    (a one-shot answer that needs no DNS) never reads the table."""

    def __init__(self, known: dict[str, frozenset[str]], directory: Path) -> None:
        self._known = known
        self._directory = directory
        self._providers: dict[str, frozenset[str]] | None = None

    def _all(self) -> dict[str, frozenset[str]]:
        if self._providers is None:
            self._providers = _provider_values(self._directory)
            self._known = {**self._known, **self._providers}
        return self._known

    def __getitem__(self, name: str) -> frozenset[str]:
        if name in _PROVIDER_FACTS:
            return self._all()[name]
        return self._known[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


_PROVIDER_FACTS = frozenset({"domain.provider", "domain.gateway"})


def _provider_values(directory: Path) -> dict[str, frozenset[str]]:
    """`domain.provider` and `domain.gateway` take the ids of providers.yml (the knowledge
    folder's own, else the shipped one); an unreadable table leaves them unchecked, since the
    checks report it themselves."""
    path = directory / "providers.yml"
    if not path.is_file():
        path = SHIPPED_KNOWLEDGE / "providers.yml"
    try:
        # The checks' own reading of the table: cached, so a one-shot answer reads it once.
        kinds = {p.id: p.kind for p in load_table(path).providers}
    except (OSError, ValueError, yaml.YAMLError):
        return {}
    return {
        "domain.provider": frozenset(i for i, k in kinds.items() if k != "gateway"),
        "domain.gateway": frozenset(i for i, k in kinds.items() if k == "gateway"),
    }


def _answer_values(docs: list[Any]) -> dict[str, frozenset[str]]:
    """`answers.<question id>` → the values of that question's options, from the raw files."""
    found: dict[str, frozenset[str]] = {}
    for doc in docs:
        raw_nodes = doc.get("nodes") if isinstance(doc, dict) else None
        for node_id, raw in (raw_nodes or {}).items() if isinstance(raw_nodes, dict) else ():
            options = raw.get("options") if isinstance(raw, dict) else None
            if isinstance(options, list) and "question" in raw:
                found[f"answers.{node_id}"] = frozenset(
                    str(o["value"]) for o in options if isinstance(o, dict) and "value" in o
                )
    return found


def entry_of(trees: list[Tree]) -> Tree:
    """The tree every answer starts in: `delivery`, or the only tree there is."""
    for tree in trees:
        if tree.id == ENTRY_TREE:
            return tree
    return trees[0]


class _SetChecker:
    """What no single file can know: ids across files, hand-overs, reachability, cycles."""

    def __init__(self, trees: list[Tree], readers: list[_TreeReader]) -> None:
        self.trees = trees
        self.readers = {r.file: r for r in readers}
        self.problems: list[Problem] = []

    def fault(self, file: str, line: int, message: str) -> None:
        self.problems.append(Problem(file, line, message))

    def check(self) -> list[Tree]:
        by_id: dict[str, Tree] = {}
        for tree in self.trees:
            if tree.id in by_id:
                self.fault(tree.file, 1, f"tree id {tree.id!r} also used in {by_id[tree.id].file}")
            by_id.setdefault(tree.id, tree)
        if len(self.trees) > 1 and ENTRY_TREE not in by_id:
            self.fault(self.trees[0].file, 1, f"no entry tree: one tree must be {ENTRY_TREE!r}")
        home: dict[str, Tree] = {}
        for tree in self.trees:
            for node_id in tree.nodes:
                if node_id in home:
                    self.fault(
                        tree.file,
                        self._line(tree, node_id),
                        f"node id {node_id!r} is already used in {home[node_id].file}",
                    )
                home.setdefault(node_id, tree)
        resolved: dict[str, str] = {}
        for tree in self.trees:
            for link in self.readers[tree.file].links:
                if link.target.startswith(TREE_PREFIX):
                    other = by_id.get(link.target.removeprefix(TREE_PREFIX))
                    if other is None:
                        names = ", ".join(sorted(by_id))
                        self.fault(
                            tree.file,
                            link.line,
                            f"{link.source!r} hands over to unknown tree {link.target!r} "
                            f"(trees: {names})",
                        )
                    else:
                        resolved[link.target] = other.start
                elif link.target not in home:
                    message = f"{link.source!r} leads to unknown node {link.target!r}"
                    self.fault(tree.file, link.line, message)
        if self.problems:
            raise KnowledgeError(self.problems)
        trees = [_resolve(tree, resolved) for tree in self.trees]
        nodes = {node_id: node for tree in trees for node_id, node in tree.nodes.items()}
        home = {node_id: tree for tree in trees for node_id in tree.nodes}
        entry = entry_of(trees)
        reached = self._walk_all(entry.start, nodes, home)
        for tree in trees:
            if tree is not entry:
                self._walk_all(tree.start, nodes, home)
            for node_id in tree.nodes:
                if node_id not in reached:
                    self.fault(
                        tree.file,
                        self._line(tree, node_id),
                        f"node {node_id!r} cannot be reached from {entry.id!r} "
                        f"(start: {entry.start!r})",
                    )
        if self.problems:
            raise KnowledgeError(self.problems)
        return trees

    def _line(self, tree: Tree, node_id: str) -> int:
        return self.readers[tree.file].node_lines.get(node_id, 1)

    def _walk_all(self, start: str, nodes: dict[str, Node], home: dict[str, Tree]) -> set[str]:
        """Every node reachable from `start`, reporting each cycle once, where it closes."""
        reached: set[str] = set()
        on_path: set[str] = set()
        reported: set[str] = {p.message for p in self.problems}

        def visit(node_id: str) -> None:
            if node_id in on_path:
                tree = home[node_id]
                message = f"cycle through {node_id!r}"
                if message not in reported:
                    reported.add(message)
                    self.fault(tree.file, self._line(tree, node_id), message)
                return
            if node_id in reached:
                return
            reached.add(node_id)
            on_path.add(node_id)
            for child in targets(nodes[node_id]):
                visit(child)
            on_path.discard(node_id)

        visit(start)
        return reached


def _resolve(tree: Tree, resolved: dict[str, str]) -> Tree:
    """Replace `tree:<id>` targets by that tree's start node, so walking is one lookup."""

    def to(target: str) -> str:
        return resolved.get(target, target)

    nodes: dict[str, Node] = {}
    for node_id, node in tree.nodes.items():
        if isinstance(node, Decision):
            branches = tuple(replace(b, target=to(b.target)) for b in node.branches)
            nodes[node_id] = replace(node, branches=branches, otherwise=to(node.otherwise))
        elif isinstance(node, QuestionNode):
            options = tuple(replace(o, target=to(o.target)) for o in node.options)
            nodes[node_id] = replace(node, options=options, unanswered=to(node.unanswered))
        else:
            nodes[node_id] = node
    return replace(tree, nodes=nodes)


class _TreeReader:
    def __init__(self, file: str, *, lazy: bool = False) -> None:
        self.file = file
        self.lazy = lazy
        self.values: Values = FACT_VALUES
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.links: list[_Link] = []
        self.node_lines: dict[str, int] = {}

    def fault(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.file, line, message))

    def parse(self, path: Path) -> Any:
        """The file's document, or None with the fault recorded in the editor's words."""
        try:
            text = path.read_text("utf-8")
            return self._parse(path, text)
        except yaml.MarkedYAMLError as exc:
            # "while scanning a simple key" marks where the broken line starts; the problem mark
            # is often already on the next line.
            scanning = (exc.context or "").startswith("while scanning a")
            mark = (exc.context_mark if scanning else None) or exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else 1
            problem = exc.problem or exc.context or "unreadable"
            hint = next((h for known, h in _YAML_HINTS if known in problem), None)
            syntax = isinstance(exc, yaml.scanner.ScannerError | yaml.parser.ParserError)
            if syntax and mark is not None and _UNQUOTED.match(_line(text, mark.line)):
                hint = "a text that starts with {, %, ` or @ must be put in double quotes"
            self.fault(line, f"not valid YAML: {problem}" + (f" ({hint})" if hint else ""))
        except yaml.YAMLError as exc:
            self.fault(1, f"not valid YAML: {exc}")
        except (OSError, UnicodeDecodeError) as exc:
            self.fault(1, f"cannot read: {exc}")
        return None

    def read(self, doc: Any, values: Values) -> Tree | None:
        self.values = values
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
        self.node_lines = dict(raw_nodes.key_lines)
        nodes: dict[str, Node] = {}
        for node_id, raw in raw_nodes.items():
            node = self._node(node_id, raw, raw_nodes.key_lines[node_id])
            if node is not None:
                nodes[node_id] = node
        if not isinstance(start, str) or start not in raw_nodes:
            self.fault(yamlsource.line_of(doc, "start"), f"'start' must name a node, got {start!r}")
            return None
        examples = tuple(self._examples(doc.get("examples")))
        priority = doc.get("priority", 0)
        description = doc.get("description") or ""
        if self.problems or not isinstance(tree_id, str):
            return None
        return Tree(
            tree_id,
            self.file,
            start,
            nodes,
            examples,
            priority if isinstance(priority, int) else 0,
            str(description),
            tuple(str(w) for w in self.warnings),
        )

    def _parse(self, path: Path, text: str) -> Any:
        # A lazy load answers once and exits, so the parse is worth keeping for the next one.
        cache = yamlsource.cache_folder() if self.lazy else None
        if cache is None:
            return yamlsource.load(text)
        return yamlsource.load_cached(text, path.resolve(), cache)

    def _unknown_keys(self, raw: yamlsource.Located, allowed: set[str], what: str) -> None:
        for key in raw:
            if key not in allowed:
                expected = ", ".join(sorted(allowed))
                self.fault(
                    raw.key_lines[key], f"unknown key {key!r} in {what} (expected {expected})"
                )

    def _link(self, source: str, target: Any, line: int, what: str) -> str | None:
        if not isinstance(target, str) or not target:
            self.fault(line, f"{source!r}: {what} must name a node (or tree:<id>)")
            return None
        self.links.append(_Link(source, target, line))
        return target

    def _node(self, node_id: str, raw: Any, line: int) -> Node | None:
        if not isinstance(raw, yamlsource.Located):
            self.fault(line, f"node {node_id!r} must be a mapping")
            return None
        if node_id.startswith(TREE_PREFIX) or not node_id.strip():
            self.fault(line, f"node id {node_id!r} may not start with {TREE_PREFIX!r}")
            return None
        if "verdict" in raw:
            self._unknown_keys(raw, _LEAF_KEYS, f"leaf {node_id!r}")
            return self._leaf(node_id, raw)
        if "question" in raw:
            self._unknown_keys(raw, _QUESTION_KEYS, f"question {node_id!r}")
            return self._question(node_id, raw)
        self._unknown_keys(raw, _DECISION_KEYS, f"decision {node_id!r}")
        return self._decision(node_id, raw)

    def _decision(self, node_id: str, raw: yamlsource.Located) -> Decision | None:
        branches = []
        raw_branches = raw.get("branches") or []
        if not isinstance(raw_branches, list):
            self.fault(raw.line, f"'branches' of {node_id!r} must be a list")
            return None
        for item in raw_branches:
            if not (isinstance(item, yamlsource.Located) and {"if", "then"} <= set(item)):
                self.fault(
                    yamlsource.line_of(item, default=raw.line), "a branch needs 'if' and 'then'"
                )
                continue
            self._unknown_keys(item, _BRANCH_KEYS, "branch")
            condition = str(item["if"])
            evaluate = self._checked(
                Condition(condition, self.file, item.key_lines["if"], self.values)
            )
            target = self._link(node_id, item["then"], item.key_lines["then"], "'then'")
            if evaluate is not None and target is not None:
                label = item.get("label")
                branches.append(Branch(condition, evaluate, target, str(label) if label else None))
        otherwise = raw.get("otherwise")
        if otherwise is None:
            self.fault(raw.line, f"decision {node_id!r} needs 'otherwise: <node>'")
            return None
        target = self._link(node_id, otherwise, yamlsource.line_of(raw, "otherwise"), "otherwise")
        if target is None:
            return None
        return Decision(node_id, str(raw.get("label") or node_id), tuple(branches), target)

    def _per_locale(self, raw: Any, line: int, what: str) -> dict[str, str]:
        """A `{en: ..., nb: ..., nl: ..., pt-BR: ...}` mapping of plain text, all required."""
        if not isinstance(raw, yamlsource.Located):
            self.fault(line, f"{what} must map each locale ({', '.join(LOCALES)}) to text")
            return {}
        result: dict[str, str] = {}
        for locale, value in raw.items():
            if locale not in LOCALES:
                self.fault(raw.key_lines[locale], f"{what}: {_unknown_locale(locale)}")
            elif not isinstance(value, str) or not value.strip():
                self.fault(raw.key_lines[locale], f"{what}.{locale} must be non-empty text")
            else:
                result[locale] = value.strip()
        for locale in REQUIRED_LOCALES:
            if locale not in raw:
                self.fault(raw.line, f"{what}: missing locale {locale!r}")
        return result

    def _question(self, node_id: str, raw: yamlsource.Located) -> QuestionNode | None:
        texts = self._per_locale(
            raw.get("question"), yamlsource.line_of(raw, "question"), f"question {node_id!r}"
        )
        raw_options = raw.get("options")
        options: list[Option] = []
        if not isinstance(raw_options, list) or not raw_options:
            self.fault(raw.line, f"question {node_id!r} needs 'options' (a list)")
            return None
        seen: set[str] = set()
        for item in raw_options:
            line = yamlsource.line_of(item, default=raw.line)
            if not (isinstance(item, yamlsource.Located) and set(_OPTION_KEYS) <= set(item)):
                self.fault(line, "an option needs 'value', 'label' (per locale) and 'then'")
                continue
            self._unknown_keys(item, _OPTION_KEYS, "option")
            if not isinstance(item["value"], str):
                self.fault(
                    item.key_lines["value"],
                    f"option value {item['value']!r} must be a word, such as found or not_there",
                )
            value = str(item["value"])
            if value in seen:
                self.fault(line, f"question {node_id!r}: option value {value!r} used twice")
            seen.add(value)
            labels = self._per_locale(
                item["label"], item.key_lines["label"], f"option {value!r} label"
            )
            target = self._link(node_id, item["then"], item.key_lines["then"], "'then'")
            if target is not None:
                options.append(Option(value, labels, target))
        unanswered = raw.get("unanswered")
        if unanswered is None:
            self.fault(
                raw.line,
                f"question {node_id!r} needs 'unanswered: <node>' (where to go until answered)",
            )
            return None
        target = self._link(
            node_id, unanswered, yamlsource.line_of(raw, "unanswered"), "'unanswered'"
        )
        if target is None or len(texts) != len(LOCALES):
            return None
        return QuestionNode(node_id, texts, tuple(options), target)

    def _checked(self, code: _C) -> _C | None:
        """`code` as it is for a lazy load; else checked now, and None if it is faulty."""
        if self.lazy:
            return code
        problems = code.check()
        self.problems.extend(problems)
        return None if problems else code

    def _leaf(self, node_id: str, raw: yamlsource.Located) -> Leaf | None:
        verdict = raw.get("verdict")
        severity = raw.get("severity", "info")
        if severity not in SEVERITIES:
            self.fault(
                raw.key_lines.get("severity", raw.line), f"severity must be one of {SEVERITIES}"
            )
        actions = self._actions(raw.get("actions"), yamlsource.line_of(raw, "actions"))
        text = raw.get("text")
        if not isinstance(text, yamlsource.Located):
            self.fault(raw.line, f"leaf {node_id!r} needs 'text' per locale and audience")
            return None
        texts: dict[tuple[str, str], Text] = {}
        for locale, per_audience in text.items():
            line = text.key_lines[locale]
            if locale not in LOCALES:
                self.fault(line, _unknown_locale(locale))
                continue
            if not isinstance(per_audience, yamlsource.Located):
                self.fault(line, f"text.{locale} must map audiences (agent, customer) to text")
                continue
            self._unknown_keys(per_audience, set(AUDIENCES), f"text.{locale}")
            for audience in AUDIENCES:
                body = per_audience.get(audience)
                if not isinstance(body, yamlsource.Located):
                    self.fault(
                        per_audience.line, f"leaf {node_id!r}: no {locale} text for {audience}"
                    )
                    continue
                rendered = self._text(body, audience)
                if rendered:
                    texts[(locale, audience)] = rendered
        for locale in REQUIRED_LOCALES:
            if locale not in text:
                self.fault(text.line, f"leaf {node_id!r}: missing locale {locale!r}")
        self._step_parity(node_id, text.line, texts)
        if not isinstance(verdict, str) or not verdict:
            self.fault(raw.line, f"leaf {node_id!r} needs a 'verdict'")
            return None
        return Leaf(node_id, verdict, str(severity), texts, actions)

    def _step_parity(self, node_id: str, line: int, texts: dict[tuple[str, str], Text]) -> None:
        """A translation with fewer steps than the others has usually missed one: warn, since
        a step may well be left out of one language on purpose."""
        for audience in AUDIENCES:
            counts = {
                locale: len(texts[locale, audience].steps)
                for locale in LOCALES
                if (locale, audience) in texts
            }
            if len(set(counts.values())) > 1:
                listed = ", ".join(f"{locale} {n}" for locale, n in counts.items())
                self.warnings.append(
                    Problem(
                        self.file,
                        line,
                        f"warning: leaf {node_id!r}, {audience}: the languages have different "
                        f"numbers of steps ({listed}); did a translation miss one?",
                    )
                )

    def _actions(self, raw: Any, line: int) -> dict[str, tuple[str, ...]]:
        if raw is None:
            return {}
        if not isinstance(raw, yamlsource.Located):
            self.fault(line, "'actions' must map audiences (agent, customer) to lists of actions")
            return {}
        self._unknown_keys(raw, set(AUDIENCES), "actions")
        result: dict[str, tuple[str, ...]] = {}
        for audience, ids in raw.items():
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                self.fault(raw.key_lines[audience], f"actions.{audience} must be a list of ids")
                continue
            for action in ids:
                if action not in ACTIONS:
                    self.fault(
                        raw.key_lines[audience],
                        f"unknown action {action!r} (expected one of {', '.join(ACTIONS)})",
                    )
            result[audience] = tuple(ids)
        return result

    def _text(self, body: yamlsource.Located, audience: str) -> Text | None:
        self._unknown_keys(body, _TEXT_KEYS, "text")
        steps = body.get("steps") or []
        if not isinstance(steps, list):
            line = yamlsource.line_of(body, "steps")
            self.fault(
                line + 1 if isinstance(steps, str) else line,
                "'steps' must be a list: each step on its own line, starting with a dash and "
                "a space ('- Ring mottakeren.', not '-Ring mottakeren.')",
            )
            return None
        title = self._template(
            body.get("title"), yamlsource.line_of(body, "title"), "title", audience
        )
        summary = self._template(
            body.get("summary"), yamlsource.line_of(body, "summary"), "summary", audience
        )
        step_line = getattr(steps, "line", body.line)
        compiled_steps = [
            self._template(step, step_line + i, "step", audience) for i, step in enumerate(steps)
        ]
        if title is None or summary is None or any(s is None for s in compiled_steps):
            return None
        return Text(title, summary, tuple(s for s in compiled_steps if s is not None))

    def _template(self, source: Any, line: int, what: str, audience: str) -> LeafTemplate | None:
        if isinstance(source, dict):
            line = yamlsource.line_of(source, default=line)
            self.fault(
                line,
                f"{what}: this line contains ': ' (a colon and a space), so it was read as a "
                f"name and a value; put the {what} in double quotes",
            )
            return None
        if isinstance(source, bool | int | float):
            self.fault(line, f"{what} {source!r} must be text: put it in double quotes")
            return None
        if not isinstance(source, str) or not source.strip():
            self.fault(line, f"{what} must be non-empty text")
            return None
        return self._checked(LeafTemplate(source, self.file, line, what, audience, self.values))

    def _examples(self, raw: Any) -> Iterator[Example]:
        if raw is None:
            return
        if not isinstance(raw, list):
            self.fault(getattr(raw, "line", 1), "'examples' must be a list")
            return
        for item in raw:
            line = yamlsource.line_of(item)
            if not isinstance(item, yamlsource.Located) or not isinstance(item.get("facts"), dict):
                self.fault(line, "an example needs 'facts' (a mapping) and 'verdict'")
                continue
            self._unknown_keys(item, _EXAMPLE_KEYS, "example")
            if not isinstance(item.get("verdict"), str):
                self.fault(line, "an example needs 'verdict'")
                continue
            facts = _plain(item["facts"])
            facts_line = yamlsource.line_of(item, "facts")
            for name in _flat_names(facts):
                if not _known(name):
                    self.fault(facts_line, f"example: unknown fact {name!r}")
            # An example's values are the check's business (a lazy load runs no example), and
            # checking them would read providers.yml for every one-shot answer.
            for fault in () if self.lazy else _example_values(facts, self.values):
                self.fault(facts_line, f"example: {fault}")
            path = item.get("path")
            asks = item.get("asks")
            yield Example(
                name=str(item.get("name") or f"example at line {line}"),
                facts=facts,
                verdict=item["verdict"],
                path=tuple(str(p) for p in path) if isinstance(path, list) else None,
                line=line,
                asks=str(asks) if asks is not None else None,
            )


def _unknown_locale(locale: str) -> str:
    expected = ", ".join(LOCALES)
    meant = normalize_locale(locale)
    if meant is not None and meant != locale:
        return f"unknown locale {locale!r}: write {meant!r}, not {locale!r} (one of {expected})"
    return f"unknown locale {locale!r} (expected one of {expected})"


def _example_values(facts: dict[str, Any], values: Values) -> Iterator[str]:
    """An example's fact a tree could never be given: a word for a yes/no fact, a value
    outside the fact's known ones."""
    for name in _flat_names(facts):
        value: Any = facts
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if name in BOOLEAN_FACTS and value is not None and not isinstance(value, bool):
            yield f"{name} is true or false (or null when unknown), not {value!r}"
        allowed = values.get(name)
        items = value if isinstance(value, list) else [value]
        for item in items:
            if allowed is not None and isinstance(item, str) and item not in allowed:
                shown = ", ".join(sorted(allowed)) if len(allowed) <= 12 else _near(item, allowed)
                yield f"{name} is never {item!r}; its values are {shown}"


def _known(name: str) -> bool:
    root = name.partition(".")[0]
    if root in _TEMPLATE_NAMES or root in OPEN_ROOTS:
        return True
    if name in ROOTS:
        return True
    parts = name.split(".")
    return any(".".join(parts[:n]) in FACTS for n in range(1, len(parts) + 1))


def _hidden(name: str) -> bool:
    parts = name.split(".")
    return any(".".join(parts[:n]) in CUSTOMER_HIDDEN_FACTS for n in range(1, len(parts) + 1))


def _flat_names(facts: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in facts.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and name not in FACTS:
            yield from _flat_names(value, f"{name}.")
        else:
            yield name


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
