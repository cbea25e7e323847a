"""The store contract. Every backend must pass these (the PostgreSQL backend joins later)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.model import DeliveryEvent, Dispatch, DispatchState, EventType, Recipient, Role
from bot.sources.store import Store, open_store

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


async def test_reopening_keeps_data_and_migrates_once(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sqlite3")
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
