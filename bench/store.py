"""Measure the evidence store at scale: batched ingest, then lookups, on SQLite and PostgreSQL.

Run from the repository root:

    python bench/store.py --quick                            # 20,000 events, both backends
    python bench/store.py                                    # 1,000,000 events, both backends
    python bench/store.py --events 10000000 --backends postgresql
    python bench/store.py --under-load                       # SQLite: answers during webhooks

What it does, and how each figure is computed:

- Generates N events from dispatches the way a sender of invoices sees them: each dispatch goes
  to one recipient (one in ten also has a cc), and yields queued, sent, then delivered (often
  opened, sometimes clicked), or deferred-then-delivered, or a bounce, or a complaint: about
  3.6 events per dispatch. Recipients (N / 25 of them, over a few big mailbox providers and
  many company domains) are drawn Zipf-ishly, weight 1 / (rank + 10) ** 0.9, so a few addresses
  get thousands of events and most get a handful. Times spread over the last 120 days, so
  PostgreSQL holds five monthly partitions. 1% of events are redelivered (same dedupe key).
- ingest: events go in through `add_events` in batches (`--batch`, default 5,000), each
  dispatch's record first through `put_dispatches`. "events/s" is events stored divided by the
  time spent inside `add_events` (generation in Python is excluded; it is not the store's cost);
  "with dispatches" also counts the time in `put_dispatches`.
- VACUUM (ANALYZE) on PostgreSQL and ANALYZE on SQLite, as autovacuum or `PRAGMA optimize`
  would do on a live store, before the lookups rather than in the middle of them.
- lookups: `--lookups` calls (default 2,000, after 100 warm-up calls) of each of
  `events_for_recipient`, `dispatches_for_recipient` (random known recipients, uniformly, so
  rare and hot addresses alike) and `events_for_dispatch` (random dispatch ids), one at a
  time; each figure is the wall time of the store call including decoding the rows into
  DeliveryEvent objects. p50, p99 and max in milliseconds, with the mean number of rows.
  "rows only" repeats a lookup without building objects, to show the database's share; every
  pass draws its own keys, so no pass finds another's pages already cached.
- prune: `prune(older_than=90 days)`, which removes about a quarter of the events.

`--under-load` (SQLite only; `--backends` does not apply) measures answers while webhooks are
written, the way `whymail serve` sees them:

- fill: `--events` (default 1,000,000) as in "ingest" above, then ANALYZE, then a TRUNCATE
  checkpoint from a connection of its own, so the load starts from an empty WAL.
- load: for `--duration` seconds (default 60), a webhook request of `--ingest-rate` x `--tick`
  events (default 50) arrives every `--tick` seconds (default 0.05), i.e. 1,000 events/s. Each
  goes through the store's one `GroupCommitWriter`, as under `/webhooks/{provider}`, and is not
  awaited before the next one is due, so a slow commit makes the writer batch, not the clock
  slip. The events are new dispatches of the same recipients over the last `--duration`
  seconds, generated before the clock starts.
- answers: meanwhile, `--answer-rate` answers a second (default 100), each started on its own
  clock whether or not the one before has finished, as questions arrive: `events_for_recipient`
  and `dispatches_for_recipient` together (asyncio.gather, as a diagnosis asks) for a random
  known recipient. (Answers one after another would ask nothing during a stall, so a stall
  would count once however many questions it held up.) "answer" is the wall time of the pair,
  p50/p99/max in ms over every answer after the first 100; "rows" is the mean of events +
  dispatches found. "webhook acknowledged" is the time from `GroupCommitWriter.write` to its
  return (the events are committed; the ESP would get its 2xx).
- ingest: "offered" is events handed to the writer divided by `--duration`; "achieved" is the
  events acknowledged within the window divided by `--duration`.
- WAL file: the largest size of `<store>-wal` on disk, read after every acknowledgement (the
  file only grows at a commit), and its size once the writer has stopped.

The PostgreSQL run uses a schema of its own (bench_<random>), dropped afterwards; the SQLite
run a file in a temporary folder. Progress goes to stderr, the figures to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import os
import random
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg

from bot.model import DeliveryEvent, Dispatch, DispatchState, EventType, Recipient, Role
from bot.sources.store import Store, open_store
from bot.sources.store import postgres as postgres_backend
from bot.sources.store import sqlite as sqlite_backend

DEFAULT_PG = os.environ.get("WHYMAIL_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
BIG_PROVIDERS = (
    ("gmail.com", 0.30),
    ("outlook.com", 0.12),
    ("hotmail.com", 0.06),
    ("yahoo.com", 0.04),
    ("icloud.com", 0.03),
)
SPAN = timedelta(days=120)
WARMUP = 100


@dataclass
class World:
    """The recipients and the clock of one generated data set."""

    recipients: list[str]
    cumulative: list[float]
    rng: random.Random
    now: datetime
    used: set[str] = field(default_factory=set)

    @classmethod
    def make(cls, events: int, seed: int) -> World:
        rng = random.Random(seed)
        count = max(500, events // 25)
        companies = [f"firma{n}.no" for n in range(max(50, count // 40))]
        recipients = []
        for n in range(count):
            pick = rng.random()
            domain = None
            for name, share in BIG_PROVIDERS:
                if pick < share:
                    domain = name
                    break
                pick -= share
            recipients.append(f"user{n}@{domain or rng.choice(companies)}")
        rng.shuffle(recipients)
        weights = [1 / (rank + 10) ** 0.9 for rank in range(count)]
        return cls(recipients, list(accumulate(weights)), rng, datetime.now(UTC))

    def recipient(self) -> str:
        pick = self.rng.random() * self.cumulative[-1]
        address = self.recipients[bisect.bisect(self.cumulative, pick)]
        self.used.add(address)
        return address


@dataclass
class Batch:
    dispatches: list[Dispatch] = field(default_factory=list)
    events: list[DeliveryEvent] = field(default_factory=list)


def _story(rng: random.Random) -> list[EventType]:
    roll = rng.random()
    start = [EventType.QUEUED, EventType.SENT]
    if roll < 0.05:
        return [*start, EventType.BOUNCED]
    if roll < 0.10:
        return [*start, EventType.DEFERRED, EventType.DEFERRED, EventType.DELIVERED]
    if roll < 0.105:
        return [*start, EventType.DELIVERED, EventType.COMPLAINED]
    story = [*start, EventType.DELIVERED]
    if rng.random() < 0.45:
        story.append(EventType.OPENED)
        if rng.random() < 0.25:
            story.append(EventType.CLICKED)
    return story


def generate(world: World, total: int, batch_size: int, span: timedelta = SPAN) -> Iterator[Batch]:
    """Batches of about `batch_size` events, in time order over the `span` before `world.now`,
    until `total` events were made."""
    rng = world.rng
    start = world.now - span
    step = span / (total / 3.6)
    made = 0
    serial = itertools.count()
    batch = Batch()
    while made < total:
        n = next(serial)
        created = start + step * n
        tenant = f"tenant{n % 20}"
        dispatch_id = f"d-{n:09d}"
        to = world.recipient()
        recipients = [Recipient(to)]
        if rng.random() < 0.1:
            recipients.append(Recipient(world.recipient(), Role.CC))
        failed = False
        for recipient in recipients:
            message_id = str(uuid.UUID(int=rng.getrandbits(128)))
            at = created
            for kind in _story(rng):
                at += timedelta(seconds=rng.uniform(0.5, 90))
                bounced = kind is EventType.BOUNCED
                failed |= bounced
                key = f"postmark:{kind.value}:{message_id}:{made}"
                event = DeliveryEvent(
                    provider="postmark",
                    event_type=kind,
                    timestamp=at,
                    recipient=recipient.address,
                    message_id=message_id,
                    dispatch_id=dispatch_id,
                    tenant=tenant,
                    smtp_code=550 if bounced else None,
                    enhanced_status="5.1.1" if bounced else None,
                    diagnostic="550 5.1.1 <x>: Recipient address rejected: User unknown"
                    if bounced
                    else None,
                    mx_host=f"mx.{recipient.address.rpartition('@')[2]}",
                    reason="userunknown" if bounced else None,
                    hard=True if bounced else None,
                    dedupe_key=key,
                    raw={
                        "RecordType": kind.value,
                        "MessageID": message_id,
                        "Recipient": recipient.address,
                        "Metadata": {"dispatch_id": dispatch_id, "tenant": tenant},
                        "Tag": "invoice",
                    },
                )
                batch.events.append(event)
                if rng.random() < 0.01:
                    batch.events.append(event)  # a webhook redelivery
                made += 1
        batch.dispatches.append(
            Dispatch(
                id=dispatch_id,
                tenant=tenant,
                kind="invoice",
                subject=f"Invoice {n}",
                sender=f"billing@{tenant}.example",
                recipients=tuple(recipients),
                created_at=created,
                state=DispatchState.FAILED if failed else DispatchState.SENT,
            )
        )
        if len(batch.events) >= batch_size or made >= total:
            yield batch
            batch = Batch()


@dataclass
class Result:
    backend: str
    events: int = 0
    event_seconds: float = 0.0
    dispatch_seconds: float = 0.0
    wall_seconds: float = 0.0
    lookups: list[tuple[str, list[float], list[int]]] = field(default_factory=list)
    prune: tuple[int, float] | None = None


def _progress(text: str) -> None:
    print(f"\r{text}\033[K", end="", file=sys.stderr, flush=True)


async def ingest(store: Store, args: argparse.Namespace, result: Result) -> World:
    world = World.make(args.events, args.seed)
    started = time.perf_counter()
    for batch in generate(world, args.events, args.batch):
        t0 = time.perf_counter()
        await store.put_dispatches(batch.dispatches)
        t1 = time.perf_counter()
        result.events += await store.add_events(batch.events)
        t2 = time.perf_counter()
        result.dispatch_seconds += t1 - t0
        result.event_seconds += t2 - t1
        rate = result.events / result.event_seconds
        _progress(f"{result.backend}: {result.events:,} / {args.events:,} events, {rate:,.0f}/s")
    result.wall_seconds = time.perf_counter() - started
    print(file=sys.stderr)
    return world


async def measure(
    name: str,
    call: Callable[[str], Awaitable[list[Any]]],
    keys: list[str],
    result: Result,
) -> None:
    times: list[float] = []
    rows: list[int] = []
    for n, key in enumerate(keys):
        t0 = time.perf_counter()
        found = await call(key)
        elapsed = time.perf_counter() - t0
        if n >= WARMUP:
            times.append(elapsed)
            rows.append(len(found))
        if n % 200 == 0:
            _progress(f"{result.backend}: {name} {n}/{len(keys)}")
    result.lookups.append((name, times, rows))


@contextmanager
def undecoded() -> Iterator[None]:
    """Leave rows as the driver returns them (no DeliveryEvent objects, no parsing of `raw`), to
    show how much of a lookup is the database and how much is building Python objects."""
    saved = sqlite_backend._event_from_row, postgres_backend._event_from_row
    sqlite_backend._event_from_row = postgres_backend._event_from_row = tuple  # type: ignore[assignment]
    try:
        yield
    finally:
        sqlite_backend._event_from_row, postgres_backend._event_from_row = saved


async def lookups(store: Store, world: World, args: argparse.Namespace, result: Result) -> None:
    rng = random.Random(args.seed + 1)
    count = args.lookups + WARMUP
    seen = sorted(world.used)
    dispatches = int(result.events / 3.6)

    # A fresh sample for every pass: a pass repeating the previous one's keys would find their
    # pages already cached and look faster than it is.
    def addresses() -> list[str]:
        return [rng.choice(seen) for _ in range(count)]

    def ids() -> list[str]:
        return [f"d-{rng.randrange(dispatches):09d}" for _ in range(count)]

    await measure("events by recipient", store.events_for_recipient, addresses(), result)
    with undecoded():
        await measure("  rows only (no objects)", store.events_for_recipient, addresses(), result)
    await measure("dispatches by recipient", store.dispatches_for_recipient, addresses(), result)
    await measure("events by dispatch id", store.events_for_dispatch, ids(), result)
    with undecoded():
        await measure("  rows only (no objects)", store.events_for_dispatch, ids(), result)
    print(file=sys.stderr)


async def analyze(backend: str, url: str) -> None:
    if backend == "postgresql":
        conn = await asyncpg.connect(url)
        try:
            # What autovacuum does after a load this size; done here so that it does not run in
            # the middle of the lookups and time them instead.
            await conn.execute("VACUUM (ANALYZE)")
        finally:
            await conn.close()
        return
    import sqlite3

    with sqlite3.connect(url) as db:
        db.execute("ANALYZE")


async def run(backend: str, url: str, args: argparse.Namespace) -> Result:
    result = Result(backend)
    store = await open_store(url)
    try:
        world = await ingest(store, args, result)
        _progress(f"{backend}: VACUUM / ANALYZE")
        await analyze(backend, url)
        await lookups(store, world, args, result)
        if not args.no_prune:
            _progress(f"{backend}: prune --older-than 90d")
            t0 = time.perf_counter()
            removed = await store.prune(timedelta(days=90))
            result.prune = (removed, time.perf_counter() - t0)
            print(file=sys.stderr)
    finally:
        await store.close()
    return result


@dataclass
class LoadResult:
    """What `--under-load` saw: answers timed while the webhook writer ingested."""

    filled: int = 0
    fill_seconds: float = 0.0
    answers: list[float] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    acks: list[float] = field(default_factory=list)
    offered: int = 0
    acknowledged: int = 0
    window: float = 0.0
    wal_peak: int = 0
    wal_end: int = 0
    batches: int = 0
    largest_batch: int = 0


def _wal_size(path: str) -> int:
    try:
        return os.stat(path + "-wal").st_size
    except FileNotFoundError:
        return 0


def _load_chunks(
    world: World, args: argparse.Namespace, per_tick: int
) -> list[list[DeliveryEvent]]:
    """The webhook traffic, made before the clock starts so that generating it in Python does
    not compete with the answers for the interpreter: new events over the last `--duration`
    seconds (webhooks report what just happened), cut into `per_tick` slices."""
    ticks = int(args.duration / args.tick) + 1
    span = timedelta(seconds=args.duration)
    flat = [
        event
        for batch in generate(world, ticks * per_tick, per_tick, span)
        for event in batch.events
    ]
    return [flat[i : i + per_tick] for i in range(0, len(flat), per_tick)][:ticks]


async def under_load(path: str, args: argparse.Namespace) -> LoadResult:
    from bot.sources.writer import GroupCommitWriter

    out = LoadResult()
    store = await open_store(path)
    try:
        filled = Result("sqlite")
        world = await ingest(store, args, filled)
        out.filled, out.fill_seconds = filled.events, filled.wall_seconds
        _progress("sqlite: ANALYZE, checkpoint")
        await analyze("sqlite", path)
        import sqlite3

        # Start from an empty WAL, whichever checkpointing the store does, so the peak below is
        # what the steady load makes, not what the fill left behind.
        with sqlite3.connect(path) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        known = sorted(world.used)
        per_tick = max(1, round(args.ingest_rate * args.tick))
        chunks = _load_chunks(world, args, per_tick)
        writer = GroupCommitWriter(store)
        loop = asyncio.get_running_loop()
        start = loop.time()
        stop = start + args.duration

        async def webhook(events: list[DeliveryEvent]) -> None:
            t0 = time.perf_counter()
            await writer.write(events)
            out.acks.append(time.perf_counter() - t0)
            if loop.time() <= stop:
                out.acknowledged += len(events)
            out.wal_peak = max(out.wal_peak, _wal_size(path))

        async def ingest_steadily() -> None:
            requests: list[asyncio.Task[None]] = []
            for n, events in enumerate(chunks):
                due = start + n * args.tick
                if due >= stop:
                    break
                await asyncio.sleep(max(0.0, due - loop.time()))
                out.offered += len(events)
                # Not awaited: webhook requests arrive on their own clock, and while one batch
                # commits the writer gathers the next, as under `whymail serve`.
                requests.append(asyncio.create_task(webhook(events)))
            await asyncio.gather(*requests)

        async def answer(n: int, address: str) -> None:
            t0 = time.perf_counter()
            # Both at once, as a diagnosis asks for an address's history and dispatches.
            events, dispatches = await asyncio.gather(
                store.events_for_recipient(address), store.dispatches_for_recipient(address)
            )
            elapsed = time.perf_counter() - t0
            if n >= WARMUP:
                out.answers.append(elapsed)
                out.rows.append(len(events) + len(dispatches))

        async def ask_steadily() -> None:
            rng = random.Random(args.seed + 2)
            every = 1 / args.answer_rate
            questions: list[asyncio.Task[None]] = []
            for n in itertools.count():
                due = start + n * every
                if due >= stop:
                    break
                await asyncio.sleep(max(0.0, due - loop.time()))
                # On their own clock too: one answer after another would ask nothing while a
                # stall lasts, and a stall would count once however long it was.
                questions.append(asyncio.create_task(answer(n, rng.choice(known))))
                if n % 200 == 0:
                    _progress(f"sqlite: under load, {n:,} answers, {out.acknowledged:,} ingested")
            await asyncio.gather(*questions)

        await asyncio.gather(ingest_steadily(), ask_steadily())
        out.window = args.duration
        await writer.close()
        out.batches, out.largest_batch = writer.stats.batches, writer.stats.largest_batch
        out.wal_end = _wal_size(path)
        print(file=sys.stderr)
    finally:
        await store.close()
    return out


def report_under_load(out: LoadResult, args: argparse.Namespace) -> None:
    per_tick = max(1, round(args.ingest_rate * args.tick))
    print(
        f"whymail store bench, SQLite under webhook load: {out.filled:,} events stored in "
        f"{out.fill_seconds:.0f} s, then {args.duration:g} s of {args.answer_rate:,} answers/s "
        f"while ingesting {args.ingest_rate:,} events/s ({per_tick} every "
        f"{args.tick * 1000:g} ms); load before: {args.load}"
    )
    print()
    print(f"{'':<34} {'count':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'rows':>6}")
    print(
        f"{'answer (events + dispatches)':<34} {len(out.answers):>7,} "
        f"{_ms(out.answers, 0.5):>8.2f} {_ms(out.answers, 0.99):>8.2f} "
        f"{max(out.answers) * 1000:>8.2f} {statistics.mean(out.rows):>6.1f}"
    )
    print(
        f"{'webhook acknowledged (committed)':<34} {len(out.acks):>7,} "
        f"{_ms(out.acks, 0.5):>8.2f} {_ms(out.acks, 0.99):>8.2f} {max(out.acks) * 1000:>8.2f}"
    )
    print()
    print(
        f"ingest: offered {out.offered / out.window:,.0f} events/s, achieved "
        f"{out.acknowledged / out.window:,.0f} events/s in {out.batches:,} commits "
        f"(largest {out.largest_batch:,} events)"
    )
    print(
        f"WAL file: peak {out.wal_peak / 2**20:.1f} MiB, at the end {out.wal_end / 2**20:.1f} MiB"
    )


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def report(results: list[Result], args: argparse.Namespace) -> None:
    print(
        f"whymail store bench: {args.events:,} events, batches of {args.batch:,}, "
        f"{args.lookups:,} lookups each; load before: {args.load}"
    )
    print()
    print(
        f"{'backend':<11} {'events stored':>13} {'events/s':>10} {'with dispatches':>16} "
        f"{'wall s':>8}"
    )
    for r in results:
        both = r.events / (r.event_seconds + r.dispatch_seconds)
        print(
            f"{r.backend:<11} {r.events:>13,} {r.events / r.event_seconds:>10,.0f} "
            f"{both:>16,.0f} {r.wall_seconds:>8.1f}"
        )
    print()
    print(f"{'backend':<11} {'lookup':<24} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'rows':>6}")
    for r in results:
        for name, times, rows in r.lookups:
            print(
                f"{r.backend:<11} {name:<24} {_ms(times, 0.5):>8.2f} {_ms(times, 0.99):>8.2f} "
                f"{max(times) * 1000:>8.2f} {statistics.mean(rows):>6.1f}"
            )
    print()
    for r in results:
        if r.prune:
            removed, seconds = r.prune
            print(f"{r.backend:<11} prune --older-than 90d: {removed:,} events in {seconds:.2f} s")


async def main_async(args: argparse.Namespace) -> list[Result]:
    results = []
    for backend in args.backends:
        if backend == "sqlite":
            with tempfile.TemporaryDirectory(prefix="whymail-bench-") as folder:
                results.append(await run(backend, str(Path(folder) / "bench.sqlite3"), args))
            continue
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        admin = await asyncpg.connect(args.pg_url)
        try:
            await admin.execute(f'CREATE SCHEMA "{schema}"')
            sep = "&" if "?" in args.pg_url else "?"
            results.append(await run(backend, f"{args.pg_url}{sep}search_path={schema}", args))
        finally:
            if not args.keep:
                await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await admin.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="default 1,000,000")
    parser.add_argument("--quick", action="store_true", help="20,000 events, 500 lookups")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument("--batch", type=int, default=5000, help="events per add_events call")
    parser.add_argument("--lookups", type=int, default=2000, help="timed calls per lookup kind")
    parser.add_argument("--pg-url", default=DEFAULT_PG, help="env WHYMAIL_BENCH_POSTGRES")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--no-prune", action="store_true", help="skip the prune measurement")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL schema")
    parser.add_argument(
        "--under-load", action="store_true", help="SQLite only: answers while webhooks are written"
    )
    parser.add_argument("--duration", type=float, default=60.0, help="--under-load: seconds")
    parser.add_argument(
        "--ingest-rate", type=int, default=1000, help="--under-load: webhook events/s"
    )
    parser.add_argument(
        "--tick", type=float, default=0.05, help="--under-load: seconds between webhook batches"
    )
    parser.add_argument("--answer-rate", type=int, default=100, help="--under-load: answers/s")
    args = parser.parse_args()
    if args.quick:
        args.events, args.lookups = 20_000, 500
        if args.under_load:
            args.duration = 10.0
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    for backend in args.backends:
        if backend not in ("sqlite", "postgresql"):
            parser.error(f"unknown backend {backend!r}: sqlite, postgresql")
    args.load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    # Stopped with SIGTERM, still remove the temporary SQLite file and PostgreSQL schema.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.under_load:
        with tempfile.TemporaryDirectory(prefix="whymail-bench-") as folder:
            path = str(Path(folder) / "bench.sqlite3")
            report_under_load(asyncio.run(under_load(path, args)), args)
        return
    report(asyncio.run(main_async(args)), args)


if __name__ == "__main__":
    main()
