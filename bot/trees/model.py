"""A troubleshooting tree as the walker sees it: decisions that route, leaves that answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jinja2.environment import Template, TemplateExpression

AUDIENCES = ("agent", "customer")
LOCALES = ("en", "nb", "nl", "pt-BR")
SEVERITIES = ("info", "warning", "error")


@dataclass(frozen=True, slots=True)
class Branch:
    condition: str
    compiled: TemplateExpression
    target: str


@dataclass(frozen=True, slots=True)
class Decision:
    id: str
    label: str
    branches: tuple[Branch, ...]
    otherwise: str


@dataclass(frozen=True, slots=True)
class Text:
    title: Template
    summary: Template
    steps: tuple[Template, ...]


@dataclass(frozen=True, slots=True)
class Leaf:
    id: str
    verdict: str
    severity: str
    texts: dict[tuple[str, str], Text]  # (locale, audience) → text


@dataclass(frozen=True, slots=True)
class Example:
    name: str
    facts: dict[str, Any]
    verdict: str
    path: tuple[str, ...] | None
    line: int


@dataclass(frozen=True, slots=True)
class Tree:
    id: str
    file: str
    start: str
    nodes: dict[str, Decision | Leaf]
    examples: tuple[Example, ...] = field(default=())
    priority: int = 0
