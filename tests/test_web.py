"""bot/web.py over a real socket: the routes translate HTTP and nothing else."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.config import Settings
from bot.sources.store import Store, open_store
from bot.sources.webhooks import WebhookReceiver
from bot.web import Parts, build_asgi, parse_listen
from testkit.servers import serve

POSTMARK_BOUNCE = {
    "RecordType": "Bounce",
    "ID": 9001,
    "Type": "HardBounce",
    "TypeCode": 1,
    "MessageID": "pm-web-1",
    "Metadata": {"dispatch_id": "w-1", "tenant": "acme"},
    "Details": "smtp;550 5.1.1 unknown user",
    "Email": "web@firma.mailtest.test",
    "BouncedAt": "2026-11-01T08:00:05Z",
    "Inactive": True,
    "CanActivate": True,
}


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[Store]:
    store = await open_store(str(tmp_path / "web.sqlite3"))
    yield store
    await store.close()


async def test_routes(sqlite: Store) -> None:
    settings = Settings.load(
        {"POSTMARK_WEBHOOK_USER": "pm", "POSTMARK_WEBHOOK_PASSWORD": "secret-pw"}
    )
    parts = Parts(webhooks=WebhookReceiver(sqlite, settings.esp))
    async with serve(build_asgi(parts)) as url, httpx.AsyncClient(base_url=url) as http:
        health = await http.get("/healthz")
        assert health.status_code == 200
        assert health.json()["status"] == "ok"

        slack = await http.post("/slack/events", content=b"{}")
        assert slack.status_code == 503

        unknown = await http.post("/webhooks/nosuchesp", content=b"{}")
        assert unknown.status_code == 404

        body = json.dumps(POSTMARK_BOUNCE).encode()
        refused = await http.post("/webhooks/postmark", content=body)
        assert refused.status_code == 401
        auth = "Basic " + base64.b64encode(b"pm:secret-pw").decode()
        stored = await http.post(
            "/webhooks/postmark",
            content=body,
            headers={"Authorization": auth, "Content-Type": "application/json"},
        )
        assert stored.status_code // 100 == 2, stored.text
        huge = await http.post("/webhooks/postmark", content=b"x" * (2 * 1024 * 1024))
        assert huge.status_code == 413

        metrics = await http.get("/metrics")
        assert metrics.status_code == 200
        assert "whymail_http_requests_total" in metrics.text
    events = await sqlite.events_for_recipient("web@firma.mailtest.test")
    assert [e.event_type.value for e in events] == ["bounced"]


def test_parse_listen() -> None:
    assert parse_listen("0.0.0.0:3000") == ("0.0.0.0", 3000)
    assert parse_listen(":8080") == ("127.0.0.1", 8080)
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_listen("localhost")
