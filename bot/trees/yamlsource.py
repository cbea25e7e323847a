"""YAML that remembers where everything came from, so every complaint can name file:line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bot import derived


class Located(dict[str, Any]):
    """A mapping that knows its own line and the line of each of its keys (1-based)."""

    line: int
    key_lines: dict[str, int]


class LocatedList(list[Any]):
    line: int


# libyaml, when present, parses several times faster; both keep line marks on every node.
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[valid-type,misc]
    pass


# YAML 1.1 (PyYAML's default) reads yes/no/on/off as booleans, so a locale key `no:` became
# False and an option `value: yes` became True. Editors' tools speak YAML 1.2, where only
# true/false are booleans; the trees are read the same way, so `no` stays the text "no" and the
# check can say "write nb, not no".
_BOOL_TAG = "tag:yaml.org,2002:bool"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL_TAG]
    for first, resolvers in _Base.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _mapping(loader: _Loader, node: yaml.MappingNode) -> Located:
    result = Located()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool):
            raise yaml.constructor.ConstructorError(
                None, None, "keys must be plain text", key_node.start_mark
            )
        key = str(key)
        if key in result:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> LocatedList:
    result = LocatedList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


def load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass


def cache_folder() -> Path | None:
    """Where parsed trees are kept between runs: the user's cache folder (XDG), if any."""
    return derived.cache_folder("trees")


def load_cached(text: str, source: Path, cache: Path) -> Any:
    """`load(text)`, kept in `cache` under `source` for exactly this text read by exactly this
    code (`bot.derived`): a one-shot `whymail ask` reads every tree, and parsing the YAML is
    most of that."""
    return derived.cached(cache, str(source), _CODE + text.encode(), lambda: load(text))


# The code that shapes a loaded document: a change to it must not meet an old cache entry.
_CODE = Path(__file__).read_bytes() + yaml.__version__.encode()


def line_of(value: Any, key: str | None = None, default: int = 1) -> int:
    if isinstance(value, Located):
        if key is not None and key in value.key_lines:
            return value.key_lines[key]
        return value.line
    return getattr(value, "line", default)
