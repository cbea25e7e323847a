"""Webhooks over real HTTP: `bot.web`'s ASGI app under uvicorn on 127.0.0.1, the receiver
mounted as `whymail serve --http` mounts it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.sources.espsettings import EspSettings
from bot.sources.store import Store
from bot.sources.webhooks import WebhookReceiver
from bot.web import Parts, build_asgi
from testkit.servers import serve
from tests.fakeesp import SendGridSigner, mailgun_body

KEY = "http-signing-key"


@pytest.fixture
async def server(store: Store) -> AsyncIterator[tuple[str, WebhookReceiver, SendGridSigner]]:
    signer = SendGridSigner()
    settings = EspSettings.from_values(
        {
            "mailgun_webhook_signing_key": KEY,
            "sendgrid_webhook_public_key": signer.public_key,
            "webhook_max_bytes": 50_000,
        }
    )
    receiver = WebhookReceiver(store, settings)
    async with serve(build_asgi(Parts(webhooks=receiver))) as url:
        yield url, receiver, signer
    await receiver.aclose()


def event(n: int) -> dict[str, object]:
    return {
        "event": "delivered",
        "id": f"ev-{n}",
        "timestamp": 1715693600.0 + n,
        "recipient": "jane@example.com",
        "message": {"headers": {"message-id": f"{n}@mg.example"}},
    }


async def test_signed_forged_duplicate_and_oversized_over_http(
    server: tuple[str, WebhookReceiver, SendGridSigner], store: Store
) -> None:
    url, _, signer = server
    async with httpx.AsyncClient(base_url=url) as client:
        body = mailgun_body(KEY, event(1))
        ok = await client.post("/webhooks/mailgun", content=body)
        assert ok.status_code == 200, ok.text
        again = await client.post("/webhooks/mailgun", content=body)
        assert (again.status_code, again.json()["new"]) == (200, 0)
        forged = mailgun_body("not-the-key", event(2))
        refused = await client.post("/webhooks/mailgun", content=forged)
        assert refused.status_code == 401
        assert "bad signature" in refused.json()["error"]
        big = await client.post("/webhooks/mailgun", content=b"x" * 60_000)
        assert big.status_code == 413
        batch = (
            json.dumps(
                [
                    {
                        "email": "bob@example.com",
                        "event": "delivered",
                        "timestamp": int(time.time()),
                        "sg_event_id": "sg-1",
                        "sg_message_id": "m.1",
                    }
                ]
            ).encode()
            + b"\r\n"
        )
        signed = await client.post(
            "/webhooks/sendgrid", content=batch, headers=signer.headers(batch)
        )
        assert signed.status_code == 200, signed.text
        malformed = await client.post(
            "/webhooks/sendgrid", content=b"[{", headers=signer.headers(b"[{")
        )
        assert malformed.status_code == 400
    assert len(await store.events_for_recipient("jane@example.com")) == 1
    assert len(await store.events_for_recipient("bob@example.com")) == 1


async def test_a_burst_over_http_is_group_committed(
    server: tuple[str, WebhookReceiver, SendGridSigner], store: Store
) -> None:
    url, receiver, _ = server
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=url, limits=limits) as client:
        bodies = [mailgun_body(KEY, event(n)) for n in range(200)]
        responses = await asyncio.gather(
            *(client.post("/webhooks/mailgun", content=b) for b in bodies + bodies[:40])
        )
    assert {r.status_code for r in responses} == {200}
    assert len(await store.events_for_recipient("jane@example.com", limit=1000)) == 200
    assert receiver.writer.stats.batches < 240
