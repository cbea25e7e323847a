"""What the running bot tells about its trees (/healthz, Slack's App Home), and where refused
edits are reported. Any source of trees qualifies: the live-reload watcher, or a set loaded
once for a single command."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.trees import Knowledge


class KnowledgeSource(Protocol):
    def current(self) -> Knowledge: ...

    @property
    def loaded_at(self) -> float: ...

    @property
    def last_error(self) -> Exception | None: ...


class Fixed:
    """Trees loaded once: a command that answers and exits needs no watcher."""

    def __init__(self, knowledge: Knowledge) -> None:
        self._knowledge = knowledge
        self.loaded_at = time.time()
        self.last_error: Exception | None = None

    def current(self) -> Knowledge:
        return self._knowledge


def status(source: KnowledgeSource) -> dict[str, Any]:
    """Trees loaded, when, and the last refused edit; it renders even when the trees do not."""
    report: dict[str, Any] = {
        "loaded_at": datetime.fromtimestamp(source.loaded_at, UTC).isoformat(timespec="seconds")
    }
    try:
        report["trees"] = len(source.current().trees)
    except Exception as exc:
        report["trees"], report["last_error"] = 0, str(exc)
    if source.last_error is not None:
        report["last_error"] = str(source.last_error)
    return report


class Faults:
    """Where the knowledge watcher reports a refused edit. The watcher starts before the
    surfaces that tell editors (a Slack channel) exist, so they subscribe later."""

    def __init__(self) -> None:
        self._subscribers: list[Callable[[Sequence[Any]], Awaitable[None]]] = []

    def subscribe(self, subscriber: Callable[[Sequence[Any]], Awaitable[None]]) -> None:
        self._subscribers.append(subscriber)

    async def __call__(self, problems: Sequence[Any]) -> None:
        for subscriber in self._subscribers:
            await subscriber(problems)
