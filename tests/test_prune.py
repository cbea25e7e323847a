"""Retention: `Store.prune` on both backends, and `whymail store prune` as a user runs it."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import parse_age
from bot.model import DeliveryEvent, Dispatch, EventType, Recipient
from bot.sources.store import Store, open_store
from tests.conftest import Whymail

NOW = datetime.now(UTC)


def aged(days: float, n: int, dispatch_id: str = "d-old", **kw: object) -> DeliveryEvent:
    fields: dict[str, object] = {
        "provider": "postmark",
        "event_type": EventType.DELIVERED,
        "timestamp": NOW - timedelta(days=days),
        "recipient": "ola@firma.no",
        "message_id": f"m{n}",
        "dispatch_id": dispatch_id,
        "tenant": "acme",
    }
    fields.update(kw)
    return DeliveryEvent(**fields)  # type: ignore[arg-type]


def dispatch(dispatch_id: str, days: float | None) -> Dispatch:
    created = None if days is None else NOW - timedelta(days=days)
    return Dispatch(
        id=dispatch_id, tenant="acme", recipients=(Recipient("ola@firma.no"),), created_at=created
    )


async def test_prune_deletes_old_events_and_dispatches_with_nothing_newer(store: Store) -> None:
    await store.put_dispatches(
        [
            dispatch("d-old", 200),
            dispatch("d-late-complaint", 95),
            dispatch("d-new", 5),
            dispatch("d-undated-old", None),
            dispatch("d-undated-empty", None),
        ]
    )
    await store.add_events(
        [
            aged(400, 1),
            aged(200, 2),
            aged(100, 3),
            aged(94, 4, dispatch_id="d-late-complaint"),
            aged(80, 5, dispatch_id="d-late-complaint", event_type=EventType.COMPLAINED),
            aged(5, 6, dispatch_id="d-new"),
            aged(150, 7, dispatch_id="d-undated-old"),
        ]
    )
    assert await store.prune(timedelta(days=90)) == 5
    events = await store.events_for_recipient("ola@firma.no")
    assert [e.message_id for e in events] == ["m5", "m6"]
    assert await store.dispatch("d-old") is None
    assert await store.dispatch("d-undated-old") is None
    # Created long ago but complained about recently: the evidence still makes sense.
    assert await store.dispatch("d-late-complaint") is not None
    assert await store.dispatch("d-new") is not None
    # Nothing tells how old it is, so it stays.
    assert await store.dispatch("d-undated-empty") is not None
    assert await store.prune(timedelta(days=90)) == 0


async def test_pruned_events_can_arrive_again(store: Store) -> None:
    """An old redelivery after a prune is stored again (and goes with the next prune)."""
    old = aged(200, 1)
    assert await store.add_events([old]) == 1
    assert await store.prune(timedelta(days=90)) == 1
    assert await store.add_events([old]) == 1
    assert await store.add_events([old]) == 0


async def test_prune_spares_events_just_inside_the_window(store: Store) -> None:
    await store.add_events([aged(89.9, 1), aged(90.1, 2)])
    assert await store.prune(timedelta(days=90)) == 1
    assert [e.message_id for e in await store.events_for_recipient("ola@firma.no")] == ["m1"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90d", timedelta(days=90)),
        ("12h", timedelta(hours=12)),
        ("2w", timedelta(weeks=2)),
        ("30m", timedelta(minutes=30)),
        (" 7D ", timedelta(days=7)),
    ],
)
def test_ages(text: str, expected: timedelta) -> None:
    assert parse_age(text) == expected


@pytest.mark.parametrize("text", ["90", "d", "-3d", "1.5d", "0d", "3y", ""])
def test_bad_ages_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="not an age"):
        parse_age(text)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "prune.sqlite3")
    url: str = request.getfixturevalue("pg_url")
    return url


async def test_cli_prune(whymail: Whymail, store_url: str) -> None:
    store = await open_store(store_url)
    try:
        await store.add_events([aged(n, n) for n in (1, 50, 100, 200, 300)])
    finally:
        await store.close()
    cli = whymail.with_env(WHYMAIL_STORE=store_url)
    result = cli("store", "prune", "--older-than", "90d")
    assert result.code == 0, result.stderr
    assert "pruning events older than" in result.stderr
    assert result.stdout.startswith("removed 3 events older than")
    again = cli("store", "prune", "--older-than", "2w")
    assert again.stdout.startswith("removed 1 events"), again.stderr


def test_cli_prune_teaches(whymail: Whymail) -> None:
    bad = whymail("store", "prune", "--older-than", "90")
    assert bad.code == 2
    assert "not an age" in bad.stderr
    assert "90d" in bad.stderr
    helped = whymail("store", "prune", "--help")
    assert helped.code == 0
    assert "12h" in helped.stdout
    assert "cron" in helped.stdout
    missing = whymail("store", "prune")
    assert missing.code == 2
    assert "--older-than" in missing.stderr


async def test_an_instance_writes_into_a_month_another_one_pruned(pg_url: str) -> None:
    """Instance A still believes in a month's partition that B's prune dropped."""
    a, b = await open_store(pg_url), await open_store(pg_url)
    try:
        await a.add_events([aged(200, 1)])
        assert await b.prune(timedelta(days=90)) == 1
        assert await a.add_events([aged(200, 2)]) == 1
        assert [e.message_id for e in await b.events_for_recipient("ola@firma.no")] == ["m2"]
    finally:
        await a.close()
        await b.close()
