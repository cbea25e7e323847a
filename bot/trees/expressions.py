"""Conditions and texts in trees are Jinja2, sandboxed: editors get a friendly language and no
way to run code. Every value a text prints passes through an escaper chosen by the renderer
(mrkdwn for Slack), so a remote server's reply can never become a Slack mention or link.

Two filters speak the answer's language: `when` prints a moment in its format and the
reader's time zone, `label` names a fact value (`deferred`, `in_progress`) in its words. Both
read the `Chrome` the text is rendered with (bot.chrome), set like the escaper for one render.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from jinja2 import ChainableUndefined, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

if TYPE_CHECKING:
    from bot.chrome import Chrome

Escaper = Callable[[str], str]

_escaper: ContextVar[Escaper] = ContextVar("whymail_escaper", default=str)
_chrome: ContextVar[Chrome | None] = ContextVar("whymail_chrome", default=None)

#: Each printed value is bounded too: a 10 kB SMTP reply never floods an answer.
MAX_VALUE_CHARS = 500


def _finalize(value: Any) -> Any:
    if value is None or isinstance(value, ChainableUndefined):
        return ""
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value)
    text = str(value)
    if len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 1] + "…"
    return _escaper.get()(text)


def _domain_of(value: Any) -> str:
    return str(value).rpartition("@")[2]


ENV = ImmutableSandboxedEnvironment(
    undefined=ChainableUndefined,
    finalize=_finalize,
    autoescape=False,
    keep_trailing_newline=False,
)


def _when(value: Any) -> str:
    """ISO timestamps in facts read badly in a sentence; editors write `{{ x | when }}` and get
    the moment in the answer's language and the reader's time zone."""
    if value is None or isinstance(value, ChainableUndefined):
        return ""
    chrome = _chrome.get()
    if chrome is not None:
        return chrome.when(value if isinstance(value, datetime) else str(value))
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _label(value: Any) -> str:
    """`{{ event.type | label }}`: the value named in the answer's language (ui.yml labels)."""
    if value is None or isinstance(value, ChainableUndefined):
        return ""
    chrome = _chrome.get()
    return chrome.label(value) if chrome is not None else str(value)


ENV.filters["domain"] = _domain_of
ENV.filters["when"] = _when
ENV.filters["label"] = _label


class escaping:
    """Render with `escaper` applied to every printed value, and `chrome` for the filters
    that speak the answer's language."""

    def __init__(self, escaper: Escaper, chrome: Chrome | None = None) -> None:
        self._escaper = escaper
        self._chrome_value = chrome

    def __enter__(self) -> None:
        self._token = _escaper.set(self._escaper)
        self._chrome_token = _chrome.set(self._chrome_value)

    def __exit__(self, *exc: object) -> None:
        _chrome.reset(self._chrome_token)
        _escaper.reset(self._token)


def parse(source: str, *, expression: bool) -> nodes.Template:
    """A condition or template's syntax tree; raises TemplateSyntaxError with its line."""
    return ENV.parse(f"{{{{ {source} }}}}" if expression else source)


def fact_names(ast: nodes.Template) -> Iterator[tuple[str, int]]:
    """Dotted fact names (`domain.null_mx`) a condition or template reads, with their line."""
    yield from _names_in(ast, _local_names(ast))


def printed_fact_names(ast: nodes.Template) -> Iterator[tuple[str, int]]:
    """Fact names a template prints (`{{ ... }}`), as opposed to only testing them in `{% if %}`.

    The difference matters for customer text: testing `event.reason` to pick a sentence is fine,
    printing it is not.
    """
    local = _local_names(ast)
    for output in ast.find_all(nodes.Output):
        for expr in output.nodes:
            if not isinstance(expr, nodes.TemplateData):
                yield from _names_in(expr, local)


def _local_names(ast: nodes.Node) -> set[str]:
    return {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}


def _names_in(ast: nodes.Node, local_names: set[str]) -> Iterator[tuple[str, int]]:
    seen: set[int] = set()
    candidates = [ast] if isinstance(ast, nodes.Getattr | nodes.Name) else []
    for node in [*candidates, *ast.find_all(nodes.Getattr)]:
        if not isinstance(node, nodes.Getattr) or id(node) in seen:
            continue
        seen.add(id(node))
        chain = [node.attr]
        inner: nodes.Node = node.node
        while isinstance(inner, nodes.Getattr):
            seen.add(id(inner))
            chain.append(inner.attr)
            inner = inner.node
        if isinstance(inner, nodes.Name) and inner.name not in local_names:
            yield ".".join([inner.name, *reversed(chain)]), node.lineno
    names = [ast] if isinstance(ast, nodes.Name) else []
    for name in [*names, *ast.find_all(nodes.Name)]:
        if isinstance(name, nodes.Name) and name.ctx == "load" and name.name not in local_names:
            yield name.name, name.lineno
