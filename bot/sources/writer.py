"""Group commit: one writer task turns many concurrent webhook requests into one transaction.

SQLite has one writer and a commit costs about as much for one row as for a thousand, so a
commit per request caps webhooks at a few hundred per second. Requests instead hand their
events to this writer and wait; the writer takes everything queued so far, stores it in one
`Store.add_events` call (one transaction) and only then resolves each request's future, so a
request is acknowledged (2xx) only once its events are committed. While one batch commits, the
next one gathers, so batches grow with the load and latency stays at about one commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bot.model import DeliveryEvent
from bot.sources.store import Store

log = logging.getLogger(__name__)


def _future() -> asyncio.Future[int]:
    return asyncio.get_running_loop().create_future()


@dataclass(slots=True)
class _Job:
    events: Sequence[DeliveryEvent]
    done: asyncio.Future[int] = field(default_factory=_future)


#: Told of each committed batch that held something new (after its requests were answered).
OnCommit = Callable[[Sequence[DeliveryEvent]], None]


@dataclass(slots=True)
class WriterStats:
    batches: int = 0
    events: int = 0
    new: int = 0
    largest_batch: int = 0


class GroupCommitWriter:
    """Batches events from concurrent callers into one store transaction per round."""

    def __init__(
        self,
        store: Store,
        *,
        max_batch: int = 5000,
        remember: int = 100_000,
        on_commit: OnCommit | None = None,
    ) -> None:
        """`on_commit` hears of each batch once it is committed and its requests answered
        (alerts start there); it must not block, and what it raises is logged, never the
        requests' problem."""
        self._store = store
        self._on_commit = on_commit
        self._max_batch = max_batch
        self._remember = remember
        self._committed: OrderedDict[str, None] = OrderedDict()
        self._queue: asyncio.Queue[_Job] | None = None
        self._task: asyncio.Task[None] | None = None
        self.stats = WriterStats()

    async def write(self, events: Sequence[DeliveryEvent]) -> int:
        """Return once `events` are committed; raise what the store raised if they were not.

        Returns how many of them were new. The store dedupes exactly but counts per batch, so
        when a batch mixes new and old events the per-request figure (for metrics and the
        response) comes from this process's memory of recently committed keys.
        """
        if not events:
            return 0
        if self._task is None or self._task.done():
            self._queue = asyncio.Queue()
            self._task = asyncio.create_task(self._run(self._queue), name="whymail-writer")
        assert self._queue is not None
        job = _Job(events)
        self._queue.put_nowait(job)
        # Not shielded: a caller that goes away cancels only its wait; the writer still stores
        # the events (they are queued) and skips resolving a cancelled future.
        return await job.done

    async def close(self) -> None:
        """Finish what is queued, then stop."""
        if self._task is None or self._queue is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self, queue: asyncio.Queue[_Job]) -> None:
        while True:
            jobs = [await queue.get()]
            size = len(jobs[0].events)
            while size < self._max_batch and not queue.empty():
                job = queue.get_nowait()
                jobs.append(job)
                size += len(job.events)
            batch = [event for job in jobs for event in job.events]
            try:
                new = await self._store.add_events(batch)
            except Exception as exc:
                log.exception("storing %d webhook events failed", len(batch))
                for job in jobs:
                    if not job.done.done():
                        job.done.set_exception(exc)
            else:
                self.stats.batches += 1
                self.stats.events += len(batch)
                self.stats.new += new
                self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
                unique = len({event.dedupe_key for event in batch})
                for job in jobs:
                    fresh = self._remember_keys(job.events)
                    if new == 0:  # the store's count is exact when the batch is all old...
                        fresh = 0
                    elif new == unique:  # ...or all new
                        fresh = len({event.dedupe_key for event in job.events})
                    if not job.done.done():
                        job.done.set_result(fresh)
                if new and self._on_commit is not None:
                    try:
                        self._on_commit(batch)
                    except Exception:
                        log.exception("a commit listener failed")
            finally:
                for _ in jobs:
                    queue.task_done()

    def _remember_keys(self, events: Sequence[DeliveryEvent]) -> int:
        fresh = 0
        for event in events:
            if event.dedupe_key in self._committed:
                self._committed.move_to_end(event.dedupe_key)
                continue
            fresh += 1
            self._committed[event.dedupe_key] = None
        while len(self._committed) > self._remember:
            self._committed.popitem(last=False)
        return fresh
