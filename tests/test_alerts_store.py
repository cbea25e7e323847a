"""The alerts' claim in the store: insert-if-absent on (dispatch, recipient, verdict), on both
backends, and between two instances (two stores on one PostgreSQL database) claiming at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.sources.store import AlertClaim, Store, open_store


async def claim(
    store: Store, dispatch: str, recipient: str, verdict: str, tenant: str | None
) -> bool:
    (won,) = await store.claim_alerts([AlertClaim(dispatch, recipient, verdict, tenant)])
    return won


async def test_an_alert_is_claimed_once(store: Store) -> None:
    assert await claim(store, "d1", "ola@firma.no", "user_unknown", "acme")
    assert not await claim(store, "d1", "ola@firma.no", "user_unknown", "acme")
    # The address is the lower-cased one whatever the event spelled.
    assert not await claim(store, "d1", "Ola@Firma.NO", "user_unknown", "acme")
    # Another verdict, recipient or dispatch is another alert.
    assert await claim(store, "d1", "ola@firma.no", "spam_complaint", "acme")
    assert await claim(store, "d1", "kari@firma.no", "user_unknown", "acme")
    assert await claim(store, "d2", "ola@firma.no", "user_unknown", "acme")
    # Mail without our dispatch id is keyed by "".
    assert await claim(store, "", "ola@firma.no", "user_unknown", None)
    assert not await claim(store, "", "ola@firma.no", "user_unknown", None)


async def test_claims_survive_a_reopen_and_prune_keeps_recent_ones(
    store: Store, tmp_path: object
) -> None:
    assert await claim(store, "d1", "ola@firma.no", "user_unknown", "acme")
    await store.prune(timedelta(days=1))
    assert not await claim(store, "d1", "ola@firma.no", "user_unknown", "acme")


async def test_a_restarted_sqlite_store_remembers_its_claims(tmp_path: object) -> None:
    path = f"{tmp_path}/claims.sqlite3"
    first = await open_store(path)
    assert await claim(first, "d1", "ola@firma.no", "user_unknown", "acme")
    await first.close()
    again = await open_store(path)
    try:
        assert not await claim(again, "d1", "ola@firma.no", "user_unknown", "acme")
    finally:
        await again.close()


async def test_two_instances_claiming_at_once_win_once_each_key(pg_url: str) -> None:
    a, b = await open_store(pg_url), await open_store(pg_url)
    try:
        keys = [(f"d{n}", f"r{n}@firma.no", "user_unknown") for n in range(50)]
        results = await asyncio.gather(*(claim(s, *k, "acme") for k in keys for s in (a, b, a, b)))
    finally:
        await a.close()
        await b.close()
    assert sum(results) == len(keys)


async def test_a_batch_claims_each_key_once_and_answers_in_order(store: Store) -> None:
    keys = [AlertClaim(f"d{n % 3}", "ola@firma.no", "user_unknown", "acme") for n in range(5)]
    assert await store.claim_alerts(keys) == [True, True, True, False, False]
    assert await store.claim_alerts(list(reversed(keys))) == [False] * 5


async def test_two_instances_claiming_overlapping_batches_do_not_deadlock(pg_url: str) -> None:
    a, b = await open_store(pg_url), await open_store(pg_url)
    try:
        keys = [AlertClaim(f"d{n}", "ola@firma.no", "user_unknown", "acme") for n in range(40)]
        rounds = await asyncio.wait_for(
            asyncio.gather(
                *(s.claim_alerts(k) for _ in range(5) for s, k in ((a, keys), (b, keys[::-1])))
            ),
            30,
        )
    finally:
        await a.close()
        await b.close()
    won = [0] * 40
    for n, result in enumerate(rounds):
        ordered = result if n % 2 == 0 else result[::-1]
        won = [w + int(r) for w, r in zip(won, ordered, strict=True)]
    assert won == [1] * 40
