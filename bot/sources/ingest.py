"""Load JSON lines of provider payloads into the store, line by line, losing nothing good.

A line is what the ESP posted to its webhook, saved as it came: one event object, or a batch
(SendGrid always posts an array, Brevo does when batching is on). Every readable event is
stored, also from a line that holds unreadable ones; each fault is reported with its line (and
the event's position in a batch). Events are stored in batches as they are read, so a large
file, or one line holding a hundred thousand events, goes in fast in bounded memory, and an
interrupted run keeps everything stored before the interruption.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from bot.model import DeliveryEvent, Dispatch
from bot.sources.esps import PROVIDERS
from bot.sources.normalizers import Normalizer, normalizers
from bot.sources.payload import PayloadError
from bot.sources.provider import Providers
from bot.sources.store import Store

BATCH = 1000
#: A line longer than this is reported and skipped without being held in memory. Generous: an
#: ESP's batch is well under a megabyte, but an export saved as one array can be far larger.
MAX_LINE_CHARS = 64 * 1024 * 1024


@dataclass(slots=True)
class IngestReport:
    lines: int = 0
    events_new: int = 0
    events_seen: int = 0
    dispatches: int = 0
    errors: list[str] = field(default_factory=list)
    bad_line_numbers: set[int] = field(default_factory=set)

    @property
    def bad_lines(self) -> int:
        return len(self.bad_line_numbers)

    def fault(self, number: int, message: str) -> None:
        self.bad_line_numbers.add(number)
        self.errors.append(f"line {number}: {message}")


class UnknownProvider(ValueError):
    pass


class _Batch:
    """Records waiting to be stored; flushed whenever it holds `BATCH` of them."""

    def __init__(
        self, store: Store, report: IngestReport, progress: Callable[[IngestReport], None] | None
    ) -> None:
        self._store = store
        self._report = report
        self._progress = progress
        self.events: list[DeliveryEvent] = []
        self.dispatches: list[Dispatch] = []

    def add(self, item: Dispatch | DeliveryEvent) -> None:
        if isinstance(item, Dispatch):
            self.dispatches.append(item)
        else:
            self.events.append(item)

    @property
    def full(self) -> bool:
        return len(self.events) + len(self.dispatches) >= BATCH

    async def flush(self) -> None:
        # Dispatches first, so that a dispatch and its events stored together are found together.
        self._report.dispatches += await self._store.put_dispatches(self.dispatches)
        self._report.events_new += await self._store.add_events(self.events)
        self._report.events_seen += len(self.events)
        self.dispatches.clear()
        self.events.clear()
        if self._progress:
            self._progress(self._report)


async def ingest_lines(
    store: Store,
    provider: str,
    lines: Iterable[str | None],
    *,
    progress: Callable[[IngestReport], None] | None = None,
    providers: Providers = PROVIDERS,
) -> IngestReport:
    """`lines` may hold None for a line too long to read (see `bounded_lines`)."""
    known_normalizers = normalizers(providers)
    try:
        normalize = known_normalizers[provider]
    except KeyError:
        known = ", ".join(sorted(known_normalizers))
        raise UnknownProvider(f"unknown provider {provider!r}; choose one of: {known}") from None
    report = IngestReport()
    batch = _Batch(store, report, progress)
    for number, line in enumerate(lines, start=1):
        report.lines = number
        if line is None:
            report.fault(number, f"longer than {MAX_LINE_CHARS} characters, skipped")
            continue
        if not line.strip():
            continue
        try:
            payload = json.loads(line)
        except json.JSONDecodeError as exc:
            report.fault(number, f"not JSON ({exc.msg} at column {exc.colno})")
            continue
        except RecursionError:
            report.fault(number, "JSON nested too deeply")
            continue
        await _ingest_body(payload, number, provider, normalize, batch, report, providers)
    await batch.flush()
    return report


async def _ingest_body(
    payload: Any,
    number: int,
    provider: str,
    normalize: Normalizer,
    batch: _Batch,
    report: IngestReport,
    providers: Providers,
) -> None:
    """One line: an object is one event (or record); an array is a batch of them."""
    if isinstance(payload, list):
        if not payload:
            report.fault(number, "an empty array holds no events")
            return
        items: list[Any] = payload
    elif isinstance(payload, dict):
        items = [payload]
    else:
        report.fault(number, f"expected a JSON object or an array of them, got {_kind(payload)}")
        return
    faults: list[str] = []
    for position, item in enumerate(items):
        try:
            if not isinstance(item, Mapping):
                raise PayloadError(f"expected a JSON object, got {_kind(item)}")
            for record in normalize(item):
                batch.add(record)
        except PayloadError as exc:
            faults.append(_explain(exc, item, provider, providers))
            if len(items) > 1:
                faults[-1] = f"event {position}: {faults[-1]}"
        if batch.full:
            await batch.flush()
    if not faults:
        return
    good = len(items) - len(faults)
    if len(items) == 1:
        report.fault(number, faults[0])
    elif len(faults) == 1:
        report.fault(number, f"{faults[0]} ({good} of {len(items)} events stored)")
    else:
        report.fault(
            number,
            f"{len(faults)} of {len(items)} events unreadable ({good} stored); first: {faults[0]}",
        )


def _explain(exc: PayloadError, item: Any, provider: str, providers: Providers) -> str:
    """The fault, and whose payload it looks like when that is another provider's: a file that
    mixes providers is a common slip."""
    if isinstance(item, Mapping):
        owner = providers.owner(item)
        if owner is not None and owner != provider:
            return f"{exc} (this looks like a {owner} payload: ingest it with --provider {owner})"
    return str(exc)


def _kind(value: Any) -> str:
    return {list: "an array", dict: "an object", str: "text", bool: "true/false"}.get(
        type(value), "a number" if isinstance(value, int | float) else "null"
    )


def bounded_lines(stream: TextIO, limit: int = MAX_LINE_CHARS) -> Iterator[str | None]:
    """The stream's lines, None in place of one longer than `limit` (read past, never held)."""
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        if len(line) <= limit or line.endswith("\n"):
            yield line
            continue
        while line and not line.endswith("\n"):
            line = stream.readline(1024 * 1024)
        yield None
