"""Live reload for the running bot: editors change knowledge/, the bot follows without a restart.

A new set is swapped in only when the whole set checks clean (every file, every example); until
then the bot keeps answering from the last good set and reports what is wrong. Watching is a
plain poll of each file's (mtime, size) once a second: the knowledge folder holds a handful of
small files, so polling costs nothing and needs no extra dependency or OS-specific notifier, and
it also notices edits made on network and container-mounted folders, where inotify is silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.trees import Knowledge, KnowledgeError, Problem

log = logging.getLogger(__name__)

#: Called with the problems of a refused set; may be async (posting to Slack is).
FaultReporter = Callable[[list[Problem]], Awaitable[None] | None]

_Signature = tuple[tuple[str, int, int], ...]


def _signature(directory: Path) -> _Signature:
    """What changes when an editor saves, adds, renames or deletes a tree file, or edits the
    words around the answers (ui.yml)."""
    folder = directory / "trees"
    entries = []
    for path in [*sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]), directory / "ui.yml"]:
        with contextlib.suppress(OSError):
            stat = path.stat()
            entries.append((path.name, stat.st_mtime_ns, stat.st_size))
    return tuple(entries)


class KnowledgeWatcher:
    """Holds the current good `Knowledge` and replaces it when edits check clean.

    `current` fits `Diagnoser(knowledge=watcher.current)`: every answer reads the set that is
    good at that moment, and a half-saved file never reaches a customer. Construction raises
    KnowledgeError when the set is broken from the start: there is no good set to fall back on,
    and a bot that starts without answers is worse than one that refuses to start.
    """

    def __init__(
        self,
        directory: Path,
        *,
        interval: float = 1.0,
        on_fault: FaultReporter | None = None,
    ) -> None:
        self.directory = directory
        self.interval = interval
        self._on_fault = on_fault
        self._knowledge = Knowledge.load(directory)
        self._signature = _signature(directory)
        self.loaded_at = time.time()
        self.last_error: KnowledgeError | None = None
        self._task: asyncio.Task[None] | None = None

    def current(self) -> Knowledge:
        return self._knowledge

    @property
    def tree_count(self) -> int:
        return len(self._knowledge.trees)

    async def check_now(self) -> bool:
        """Reload if anything changed. True when a new set was swapped in."""
        signature = _signature(self.directory)
        if signature == self._signature:
            return False
        self._signature = signature
        try:
            knowledge = await asyncio.to_thread(Knowledge.load, self.directory)
        except KnowledgeError as exc:
            if self.last_error is None or exc.problems != self.last_error.problems:
                await self._report(exc)
            self.last_error = exc
            return False
        except Exception as exc:
            # A bug in loading must not take the bot down with it: keep serving the good set.
            log.exception("knowledge reload crashed; keeping the last good set")
            await self._report(KnowledgeError([Problem(str(self.directory), 1, repr(exc))]))
            return False
        self._knowledge = knowledge
        self.loaded_at = time.time()
        if self.last_error is not None:
            log.info("knowledge is clean again")
        self.last_error = None
        log.info("knowledge reloaded: %d tree(s) from %s", len(knowledge.trees), self.directory)
        return True

    async def _report(self, error: KnowledgeError) -> None:
        log.error("knowledge edit refused, still answering from the last good set:\n%s", error)
        if self._on_fault is None:
            return
        try:
            result = self._on_fault(error.problems)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("could not report the knowledge fault")

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            await self.check_now()

    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="knowledge-watcher")
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
