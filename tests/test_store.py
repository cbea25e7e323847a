"""The store contract. Every backend passes the very same tests: the `store` fixture runs each
test on SQLite and on PostgreSQL (tests/pgfixtures.py); PostgreSQL-only behaviour (several
instances on one database, month partitions) is tested at the end."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from bot.model import DeliveryEvent, Dispatch, DispatchState, EventType, Recipient, Role
from bot.sources.store import Store, StoreError, open_store
from bot.sources.store.migrations import pending_migrations

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def event(n: int, recipient: str = "ola@firma.no", **kw: object) -> DeliveryEvent:
    fields: dict[str, object] = {
        "provider": "postmark",
        "event_type": EventType.DELIVERED,
        "timestamp": T0 + timedelta(minutes=n),
        "recipient": recipient,
        "message_id": f"m{n}",
        "dispatch_id": "d1",
        "tenant": "acme",
    }
    fields.update(kw)
    return DeliveryEvent(**fields)  # type: ignore[arg-type]


async def test_duplicates_are_stored_once(store: Store) -> None:
    first = [event(1), event(2)]
    assert await store.add_events(first) == 2
    assert await store.add_events([event(1), event(2), event(3)]) == 1
    assert len(await store.events_for_recipient("ola@firma.no")) == 3


async def test_explicit_dedupe_key_wins_over_content(store: Store) -> None:
    a = event(1, dedupe_key="postmark:Bounce:7")
    b = event(2, dedupe_key="postmark:Bounce:7")
    assert await store.add_events([a]) == 1
    assert await store.add_events([b]) == 0


async def test_lookups_by_recipient_message_and_dispatch(store: Store) -> None:
    await store.add_events(
        [
            event(3, event_type=EventType.BOUNCED, smtp_code=550, diagnostic="550 5.1.1 gone"),
            event(1),
            event(2, recipient="kari@firma.no", dispatch_id="d2", tenant="other"),
        ]
    )
    events = await store.events_for_recipient("OLA@FIRMA.NO")
    assert [e.message_id for e in events] == ["m1", "m3"]
    assert events[1].smtp_code == 550
    assert events[1].timestamp == T0 + timedelta(minutes=3)
    assert [e.recipient for e in await store.events_for_message("m2")] == ["kari@firma.no"]
    assert len(await store.events_for_dispatch("d1")) == 2
    assert await store.events_for_dispatch("d2", tenant="acme") == []
    assert await store.events_for_recipient("kari@firma.no", tenant="acme") == []


async def test_dispatches_upsert_and_find_by_recipient(store: Store) -> None:
    d = Dispatch(
        id="d1",
        tenant="acme",
        kind="invoice",
        recipients=(Recipient("cc@firma.no", Role.CC), Recipient("ola@firma.no")),
        created_at=T0,
        state=DispatchState.IN_PROGRESS,
    )
    await store.put_dispatches([d])
    later = Dispatch(
        id="d1",
        tenant="acme",
        kind="invoice",
        recipients=d.recipients,
        created_at=T0,
        state=DispatchState.SENT,
    )
    await store.put_dispatches([later])
    found = await store.dispatch("d1")
    assert found is not None
    assert found.state is DispatchState.SENT
    assert [r.role for r in found.recipients] == [Role.TO, Role.CC]
    assert await store.dispatch("d1", tenant="other") is None
    assert [x.id for x in await store.dispatches_for_recipient("OLA@firma.no")] == ["d1"]


async def test_a_later_record_replaces_the_recipients(store: Store) -> None:
    await store.put_dispatches(
        [Dispatch(id="d1", tenant="acme", recipients=(Recipient("old@firma.no"),), created_at=T0)]
    )
    # One batch: a dispatch seen before (its recipients change) and one that is new.
    await store.put_dispatches(
        [
            Dispatch(id="d1", tenant="acme", recipients=(Recipient("new@firma.no"),)),
            Dispatch(id="d2", tenant="acme", recipients=(Recipient("two@firma.no"),)),
        ]
    )
    one, two = await store.dispatch("d1"), await store.dispatch("d2")
    assert one is not None
    assert two is not None
    assert [r.address for r in one.recipients] == ["new@firma.no"]
    assert one.created_at is None
    assert [r.address for r in two.recipients] == ["two@firma.no"]
    assert await store.dispatches_for_recipient("old@firma.no") == []


async def test_newest_dispatch_first(store: Store) -> None:
    for n in range(3):
        await store.put_dispatches(
            [
                Dispatch(
                    id=f"d{n}",
                    tenant="acme",
                    recipients=(Recipient("a@b.no"),),
                    created_at=T0 + timedelta(days=n),
                )
            ]
        )
    assert [d.id for d in await store.dispatches_for_recipient("a@b.no")] == ["d2", "d1", "d0"]


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a store lives, for tests that open it more than once."""
    if request.param == "sqlite":
        return str(tmp_path / "s.sqlite3")
    url: str = request.getfixturevalue("pg_url")
    return url


async def test_reopening_keeps_data_and_migrates_once(store_url: str) -> None:
    path = store_url
    first = await open_store(path)
    await first.add_events([event(1)])
    await first.close()
    again = await open_store(path)
    assert len(await again.events_for_recipient("ola@firma.no")) == 1
    await again.close()


async def test_known_recipients_at_a_domain(store: Store) -> None:
    await store.add_events(
        [event(1), event(2, recipient="kari@firma.no"), event(3, recipient="x@y.no")]
    )
    assert sorted(await store.known_recipients("firma.no")) == ["kari@firma.no", "ola@firma.no"]


async def test_newest_events_returned_oldest_first(store: Store) -> None:
    await store.add_events([event(n) for n in range(10)])
    events = await store.events_for_recipient("ola@firma.no", limit=3)
    assert [e.message_id for e in events] == ["m7", "m8", "m9"]


async def test_duplicates_within_one_batch_keep_the_first(store: Store) -> None:
    first = event(1, dedupe_key="k", diagnostic="first")
    second = event(1, dedupe_key="k", diagnostic="second")
    assert await store.add_events([first, second, event(2)]) == 2
    [stored] = await store.events_for_message("m1")
    assert stored.diagnostic == "first"


async def test_every_field_round_trips(store: Store) -> None:
    original = event(
        1,
        recipient="Ola@Firma.NO",
        event_type=EventType.BOUNCED,
        reject_reason="bounced",
        smtp_code=550,
        enhanced_status="5.1.1",
        diagnostic="550 5.1.1 <ola@firma.no>: unknown \u00e6\u00f8\u00e5",
        mx_host="mx.firma.no",
        reason="userunknown",
        hard=True,
        suppressed=True,
        dedupe_key="postmark:Bounce:42",
        raw={"RecordType": "Bounce", "ID": 42, "nested": {"list": [1, "two", None]}},
    )
    await store.add_events([original])
    [stored] = await store.events_for_dispatch("d1")
    assert stored == replace(original, recipient="ola@firma.no")
    assert stored.timestamp.utcoffset() == timedelta(0)


async def test_a_read_payload_is_written_back_unchanged(store: Store) -> None:
    # Payloads are decoded lazily on read; storing a read event again (a copy between stores,
    # a re-key) must keep the payload as it was, not its repr.
    payload = {"RecordType": "Bounce", "CanActivate": False, "Tags": ["a", "\u00f8"]}
    await store.add_events([event(1, raw=payload, dedupe_key="k1")])
    [read] = await store.events_for_recipient("ola@firma.no")
    await store.add_events([replace(read, dedupe_key="k2", message_id="copy")])
    [copy] = await store.events_for_message("copy")
    assert dict(copy.raw) == payload
    assert copy.raw.get("CanActivate") is False


async def test_big_batches_count_only_new_events(store: Store) -> None:
    batch = [event(n, recipient=f"r{n % 50}@firma.no", message_id=f"m{n}") for n in range(3000)]
    assert await store.add_events(batch[:1000]) == 1000
    assert await store.add_events(batch) == 2000
    assert len(await store.events_for_recipient("r7@firma.no")) == 60


async def test_events_across_months_and_years_stay_in_order(store: Store) -> None:
    # On PostgreSQL these land in four monthly partitions; lookups must not notice.
    times = [
        datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 1, 1, 0, 0, tzinfo=UTC),
        datetime(2026, 2, 28, 12, 0, tzinfo=UTC),
        datetime(2026, 11, 1, 8, 0, tzinfo=UTC),
    ]
    await store.add_events(
        [event(n, timestamp=t, message_id=f"x{n}") for n, t in reversed(list(enumerate(times)))]
    )
    events = await store.events_for_recipient("ola@firma.no")
    assert [e.timestamp for e in events] == times
    assert [e.timestamp for e in await store.events_for_dispatch("d1")] == times
    assert [e.timestamp for e in await store.events_for_recipient("ola@firma.no", limit=2)] == (
        times[2:]
    )


async def test_tenant_filters_on_dispatch_lookups(store: Store) -> None:
    await store.put_dispatches(
        [
            Dispatch(id="a1", tenant="acme", recipients=(Recipient("x@y.no"),), created_at=T0),
            Dispatch(id="o1", tenant="other", recipients=(Recipient("x@y.no"),), created_at=T0),
        ]
    )
    assert [d.id for d in await store.dispatches_for_recipient("x@y.no", tenant="acme")] == ["a1"]
    assert len(await store.dispatches_for_recipient("x@y.no")) == 2
    assert len(await store.dispatches_for_recipient("x@y.no", limit=1)) == 1


async def test_known_recipients_include_dispatch_recipients(store: Store) -> None:
    await store.put_dispatches(
        [Dispatch(id="d9", tenant="acme", recipients=(Recipient("Kari@Firma.no"),))]
    )
    await store.add_events([event(1)])
    assert sorted(await store.known_recipients("FIRMA.NO")) == ["kari@firma.no", "ola@firma.no"]
    assert len(await store.known_recipients("firma.no", limit=1)) == 1


async def test_prune_forgets_addresses_left_without_events(store: Store) -> None:
    now = datetime.now(UTC)
    await store.add_events(
        [
            event(1, timestamp=now - timedelta(days=200)),
            event(2, recipient="kari@firma.no", timestamp=now - timedelta(days=200)),
            event(3, recipient="kari@firma.no", timestamp=now - timedelta(days=1)),
        ]
    )
    assert await store.prune(timedelta(days=90)) == 2
    assert await store.known_recipients("firma.no") == ["kari@firma.no"]


# PostgreSQL only: several instances on one database.


async def test_instances_starting_together_migrate_once(pg_url: str) -> None:
    stores = await asyncio.gather(*(open_store(pg_url) for _ in range(4)))
    try:
        await stores[0].add_events([event(1)])
        assert len(await stores[3].events_for_recipient("ola@firma.no")) == 1
    finally:
        await asyncio.gather(*(s.close() for s in stores))
    conn = await asyncpg.connect(pg_url)
    try:
        versions = [r[0] for r in await conn.fetch("SELECT version FROM schema_migrations")]
    finally:
        await conn.close()
    assert versions == sorted(set(versions))
    assert versions[0] == 1


async def test_concurrent_instances_store_each_event_once(pg_url: str) -> None:
    a, b = await open_store(pg_url), await open_store(pg_url)
    try:
        # Overlapping batches, new months included, from two instances at once.
        batch = [
            event(n * 60 * 24 * 7, recipient=f"r{n % 7}@firma.no", message_id=f"m{n}")
            for n in range(200)
        ]
        counts = await asyncio.gather(
            *((a if n % 2 else b).add_events(batch[n * 10 : n * 10 + 60]) for n in range(20))
        )
        assert sum(counts) == 200
        total = sum(
            [len(await a.events_for_recipient(f"r{n}@firma.no", limit=1000)) for n in range(7)]
        )
        assert total == 200
    finally:
        await a.close()
        await b.close()


async def test_events_are_partitioned_by_month(pg_url: str) -> None:
    s = await open_store(pg_url)
    try:
        await s.add_events(
            [event(0), event(0, timestamp=datetime(2026, 3, 5, tzinfo=UTC), message_id="x")]
        )
    finally:
        await s.close()
    conn = await asyncpg.connect(pg_url)
    try:
        rows = await conn.fetch(
            "SELECT c.relname, (SELECT count(*) FROM events e WHERE e.tableoid = c.oid) "
            "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'events'::regclass ORDER BY 1"
        )
    finally:
        await conn.close()
    assert [(r[0], r[1]) for r in rows] == [("events_p202603", 1), ("events_p202611", 1)]


async def test_an_unreachable_server_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="cannot connect to the PostgreSQL store"):
        await open_store("postgresql://postgres@127.0.0.1:1/test")


async def test_small_shared_values_for_every_instance(pg_url: str) -> None:
    from bot.conversation.prefs import KeyValueStore, prefs_for

    a, b = await open_store(pg_url), await open_store(pg_url)
    try:
        assert isinstance(a, KeyValueStore)
        await prefs_for(a).set_locale("U1", "nb")
        assert await prefs_for(b).locale("U1") == "nb"
        await prefs_for(b).set_locale("U1", "pt-BR")
        assert await prefs_for(a).locale("U1") == "pt-BR"
        assert await prefs_for(a).locale("U2") is None
    finally:
        await a.close()
        await b.close()


async def test_overlapping_dispatch_lookups_each_get_dispatches(store: Store) -> None:
    for n in range(5):
        await store.put_dispatches(
            [
                Dispatch(
                    id=f"o{n}",
                    tenant="acme",
                    recipients=(Recipient(f"r{n}@firma.no"),),
                    created_at=T0 + timedelta(minutes=n),
                )
            ]
        )
    found = await asyncio.gather(
        *(store.dispatches_for_recipient(f"r{n % 5}@firma.no") for n in range(200))
    )
    assert [d[0].id for d in found] == [f"o{n % 5}" for n in range(200)]


async def test_an_address_in_two_roles_counts_as_one_dispatch(store: Store) -> None:
    both = (Recipient("x@y.no"), Recipient("x@y.no", Role.CC))
    await store.put_dispatches(
        [
            Dispatch(id=f"d{n}", tenant="acme", recipients=both, created_at=T0 + timedelta(n))
            for n in range(5)
        ]
        + [Dispatch(id="undated", tenant="acme", recipients=both)]
    )
    assert [d.id for d in await store.dispatches_for_recipient("x@y.no", limit=3)] == [
        "d4",
        "d3",
        "d2",
    ]
    found = await store.dispatches_for_recipient("x@y.no")
    assert [d.id for d in found] == ["d4", "d3", "d2", "d1", "d0", "undated"]
    assert [r.role for r in found[0].recipients] == [Role.TO, Role.CC]


async def test_a_store_made_at_migration_1_keeps_and_finds_its_rows(pg_url: str) -> None:
    """Migration 0002 changes how keys and addresses are kept; a store that holds rows from
    before it is upgraded in place and still finds, deduplicates and prunes them."""
    now = datetime.now(UTC)
    old = event(
        1, timestamp=now - timedelta(days=200), dedupe_key="postmark:Bounce:\u00f8", tenant="a"
    )
    recent = event(2, recipient="kari@firma.no", timestamp=now - timedelta(days=5))
    conn = await asyncpg.connect(pg_url)
    try:
        [initial] = [m for m in pending_migrations("postgresql", ()) if m.version == 1]
        await conn.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT)"
        )
        for statement in initial.statements():
            await conn.execute(statement)
        await conn.execute("INSERT INTO schema_migrations VALUES (1, $1)", initial.name)
        for e in (old, recent):
            # What the store wrote at migration 0001: the month's partition, the event, its key.
            start = e.timestamp.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            end = (start + timedelta(days=32)).replace(day=1)
            await conn.execute(
                f'CREATE TABLE IF NOT EXISTS "events_p{start:%Y%m}" PARTITION OF events '
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
            await conn.execute(
                "INSERT INTO events (dedupe_key, provider, event_type, ts, recipient, "
                "message_id, dispatch_id, tenant) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                e.dedupe_key,
                e.provider,
                e.event_type.value,
                e.timestamp,
                e.recipient,
                e.message_id,
                e.dispatch_id,
                e.tenant,
            )
            await conn.execute("INSERT INTO event_keys VALUES ($1)", e.dedupe_key)
        await conn.execute("INSERT INTO dispatches (id, tenant, state) VALUES ('d7', 'a', 'sent')")
        await conn.execute(
            "INSERT INTO dispatch_recipients VALUES ('d7', 'per@firma.no', 'to', NULL)"
        )
    finally:
        await conn.close()

    store = await open_store(pg_url)
    try:
        assert [e.message_id for e in await store.events_for_recipient("ola@firma.no")] == ["m1"]
        assert [e.dedupe_key for e in await store.events_for_dispatch("d1", "a")] == [
            "postmark:Bounce:\u00f8"
        ]
        assert sorted(await store.known_recipients("firma.no")) == [
            "kari@firma.no",
            "ola@firma.no",
            "per@firma.no",
        ]
        assert [d.id for d in await store.dispatches_for_recipient("per@firma.no", "a")] == ["d7"]
        # Stored before the upgrade, delivered again after it: still a duplicate.
        assert await store.add_events([old, recent, event(3, recipient="kari@firma.no")]) == 1
        # Prune finds the old event's key by its digest, so a later redelivery is stored again.
        assert await store.prune(timedelta(days=90)) == 1
        assert await store.known_recipients("firma.no") == ["kari@firma.no", "per@firma.no"]
        assert await store.add_events([old]) == 1
    finally:
        await store.close()


async def test_a_signature_token_is_claimed_once_per_body_until_it_expires(store: Store) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    assert await store.claim_token("mailgun", "t1", "body-a", later)
    assert await store.claim_token("mailgun", "t1", "body-a", later)  # the same delivery again
    assert not await store.claim_token("mailgun", "t1", "body-b", later)
    assert await store.claim_token("sendgrid", "t1", "body-b", later)  # scopes are apart
    past = datetime.now(UTC) - timedelta(seconds=1)
    assert await store.claim_token("mailgun", "t2", "body-a", past)
    # an expired claim is no claim: the token may be used afresh, and then holds again
    assert await store.claim_token("mailgun", "t2", "body-b", later)
    assert not await store.claim_token("mailgun", "t2", "body-a", later)
    await store.prune(older_than=timedelta(days=1))
    assert not await store.claim_token("mailgun", "t1", "body-b", later)  # prune keeps live ones
