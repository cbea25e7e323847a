"""Load JSON lines of provider payloads into the store, line by line, losing nothing good.

A bad line is reported with its number and skipped; good lines are stored in batches so a large
file goes in fast and an interrupted run keeps everything stored before the interruption.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from bot.model import DeliveryEvent, Dispatch
from bot.sources.normalizers import NORMALIZERS
from bot.sources.payload import PayloadError
from bot.sources.store import Store

BATCH = 1000
MAX_LINE_BYTES = 1_000_000


@dataclass(slots=True)
class IngestReport:
    lines: int = 0
    events_new: int = 0
    events_seen: int = 0
    dispatches: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def bad_lines(self) -> int:
        return len(self.errors)


class UnknownProvider(ValueError):
    pass


async def ingest_lines(
    store: Store,
    provider: str,
    lines: Iterable[str],
    *,
    progress: Callable[[IngestReport], None] | None = None,
) -> IngestReport:
    try:
        normalize = NORMALIZERS[provider]
    except KeyError:
        known = ", ".join(sorted(NORMALIZERS))
        raise UnknownProvider(f"unknown provider {provider!r}; choose one of: {known}") from None
    report = IngestReport()
    events: list[DeliveryEvent] = []
    dispatches: list[Dispatch] = []

    async def flush() -> None:
        report.dispatches += await store.put_dispatches(dispatches)
        report.events_new += await store.add_events(events)
        report.events_seen += len(events)
        dispatches.clear()
        events.clear()
        if progress:
            progress(report)

    for number, line in enumerate(lines, start=1):
        report.lines = number
        if not line.strip():
            continue
        if len(line) > MAX_LINE_BYTES:
            report.errors.append(f"line {number}: longer than {MAX_LINE_BYTES} bytes, skipped")
            continue
        try:
            payload = json.loads(line)
            if not isinstance(payload, dict):
                raise PayloadError("expected a JSON object")
            for item in normalize(payload):
                if isinstance(item, Dispatch):
                    dispatches.append(item)
                else:
                    events.append(item)
        except json.JSONDecodeError as exc:
            report.errors.append(f"line {number}: not JSON ({exc.msg} at column {exc.colno})")
        except PayloadError as exc:
            report.errors.append(f"line {number}: {exc}")
        if len(events) + len(dispatches) >= BATCH:
            await flush()
    await flush()
    return report
