"""The alerts' claim in the store: insert-if-absent on (dispatch, recipient, verdict), on both
backends, and between two instances (two stores on one PostgreSQL database) claiming at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.sources.store import Store, open_store


async def test_an_alert_is_claimed_once(store: Store) -> None:
    assert await store.claim_alert("d1", "ola@firma.no", "user_unknown", "acme")
    assert not await store.claim_alert("d1", "ola@firma.no", "user_unknown", "acme")
    # The address is the lower-cased one whatever the event spelled.
    assert not await store.claim_alert("d1", "Ola@Firma.NO", "user_unknown", "acme")
    # Another verdict, recipient or dispatch is another alert.
    assert await store.claim_alert("d1", "ola@firma.no", "spam_complaint", "acme")
    assert await store.claim_alert("d1", "kari@firma.no", "user_unknown", "acme")
    assert await store.claim_alert("d2", "ola@firma.no", "user_unknown", "acme")
    # Mail without our dispatch id is keyed by "".
    assert await store.claim_alert("", "ola@firma.no", "user_unknown", None)
    assert not await store.claim_alert("", "ola@firma.no", "user_unknown", None)


async def test_claims_survive_a_reopen_and_prune_keeps_recent_ones(
    store: Store, tmp_path: object
) -> None:
    assert await store.claim_alert("d1", "ola@firma.no", "user_unknown", "acme")
    await store.prune(timedelta(days=1))
    assert not await store.claim_alert("d1", "ola@firma.no", "user_unknown", "acme")


async def test_a_restarted_sqlite_store_remembers_its_claims(tmp_path: object) -> None:
    path = f"{tmp_path}/claims.sqlite3"
    first = await open_store(path)
    assert await first.claim_alert("d1", "ola@firma.no", "user_unknown", "acme")
    await first.close()
    again = await open_store(path)
    try:
        assert not await again.claim_alert("d1", "ola@firma.no", "user_unknown", "acme")
    finally:
        await again.close()


async def test_two_instances_claiming_at_once_win_once_each_key(pg_url: str) -> None:
    a, b = await open_store(pg_url), await open_store(pg_url)
    try:
        keys = [(f"d{n}", f"r{n}@firma.no", "user_unknown") for n in range(50)]
        results = await asyncio.gather(
            *(s.claim_alert(*k, "acme") for k in keys for s in (a, b, a, b))
        )
    finally:
        await a.close()
        await b.close()
    assert sum(results) == len(keys)
