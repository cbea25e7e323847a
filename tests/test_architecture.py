"""The layering DESIGN.md draws, checked on every import in bot/ (as import-linter would).

Each part may import its own layer and those below it, never one above: the model at the
bottom, then the parts that gather evidence and judge it, the pipeline, the conversation, the
surfaces, the settings hub, the composition root and the command line on top. Imports under
`if TYPE_CHECKING:` name types only and are left out. Only bot/slack/ may import Slack's SDK.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parent.parent / "bot"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("bot", "bot.chrome", "bot.model", "bot.facts", "bot.addresses", "bot.metrics"),
    ("bot.checks", "bot.bounces", "bot.trees", "bot.sources", "bot.timeline"),
    ("bot.query", "bot.diagnose"),
    ("bot.conversation", "bot.demo", "bot.alerts"),
    ("bot.slack", "bot.render", "bot.jsonapi", "bot.web", "bot.asgi", "bot.cli_bounce"),
    ("bot.config",),
    ("bot.app",),
    ("bot.cli", "bot.__main__"),
)
SLACK_SDKS = ("slack_bolt", "slack_sdk")


def _part(module: str) -> str:
    """The part a module belongs to: `bot.sources.esps.ses.api` → `bot.sources`."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else parts[0]


def _level(part: str) -> int:
    for level, members in enumerate(LAYERS):
        if part in members:
            return level
    raise AssertionError(f"{part} is in no layer: add it to LAYERS in {__file__}")


def _module(path: Path) -> str:
    dotted = ".".join(path.relative_to(BOT.parent).with_suffix("").parts)
    return dotted.removesuffix(".__init__")


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _type_checking(node):
            continue
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.lineno, node.module
        yield from _imports(node)


def _all_imports() -> Iterator[tuple[str, int, str]]:
    for path in sorted(BOT.rglob("*.py")):
        module = _module(path)
        for line, target in _imports(ast.parse(path.read_text("utf-8"))):
            yield module, line, target


def test_no_part_imports_a_layer_above_it() -> None:
    broken = []
    for module, line, target in _all_imports():
        if target.split(".")[0] != "bot":
            continue
        source, imported = _part(module), _part(target)
        if _level(imported) > _level(source):
            broken.append(f"{module}:{line} imports {target}")
    assert not broken, "\n".join(broken)


def test_only_the_slack_package_imports_slack() -> None:
    broken = [
        f"{module}:{line} imports {target}"
        for module, line, target in _all_imports()
        if target.split(".")[0] in SLACK_SDKS and _part(module) != "bot.slack"
    ]
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize(
    ("module", "target"),
    [("bot.sources.webhooks", "bot.config"), ("bot.trees.render", "bot.slack.blocks")],
)
def test_the_checker_sees_an_upward_import(module: str, target: str) -> None:
    """The rule above is no tautology: these imports would break it."""
    assert _level(_part(target)) > _level(_part(module))
