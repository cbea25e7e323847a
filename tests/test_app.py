"""The composition root and the surfaces it feeds: one set of parts, shared by every surface."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import App, running
from bot.config import Settings
from bot.sources.espsettings import ENV_KEYS
from bot.web import Parts, build_asgi
from testkit.servers import serve
from tests.fakeesp import FakeESP, fake_esp

OLA = "ola@firma.mailtest.test"


@pytest.fixture
async def esp_app(tmp_path: Path, localdns_server: Any) -> AsyncIterator[tuple[FakeESP, App]]:
    async with fake_esp() as fake:
        values = {**fake.credentials(), **fake.urls()}
        env = {ENV_KEYS[k]: str(v) for k, v in values.items() if k in ENV_KEYS}
        env |= {
            "WHYMAIL_STORE": str(tmp_path / "app.sqlite3"),
            "WHYMAIL_DNS_NAMESERVERS": localdns_server.address,
        }
        async with running(Settings.load(env)) as app:
            yield fake, app


async def test_a_reactivation_is_seen_by_the_next_diagnosis(
    esp_app: tuple[FakeESP, App],
) -> None:
    """Slack's Reactivate button and the diagnoser share the app's one ESP client set, so the
    cached "suppressed" goes with the reactivation instead of lasting five minutes."""
    fake, app = esp_app
    fake.state.pm_bounces = [
        {"ID": 9, "Type": "HardBounce", "MessageID": "m9", "Email": OLA,
         "BouncedAt": "2026-11-20T08:00:07Z", "Details": "smtp;550 5.1.1 User unknown",
         "Inactive": True, "CanActivate": True}
    ]  # fmt: skip
    (before,) = (await app.diagnoser.ask(OLA)).diagnoses
    assert before.facts["address"]["suppressed"] is True
    result = await app.esp.reactivate("postmark", OLA, "test:agent")
    assert result.ok, result.message
    (after,) = (await app.diagnoser.ask(OLA)).diagnoses
    assert after.facts["address"]["suppressed"] is False


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    async with running(Settings(), demo=True) as app:
        parts = Parts(ask=app.conversation(), knowledge=app.knowledge, api_token="s3cret")
        async with serve(build_asgi(parts)) as url, httpx.AsyncClient(base_url=url) as http:
            yield http


AUTH = {"Authorization": "Bearer s3cret"}


async def test_the_json_api_answers_as_the_cli_does(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/ask", json={"text": "ola@firma.no"}, headers=AUTH)
    assert response.status_code == 200, response.text
    (answer,) = response.json()
    assert answer["verdict"] == "user_unknown"
    for key in ("reason", "hard", "recipient", "dispatch_id", "path", "facts", "answer"):
        assert key in answer
    norsk = await api.post("/api/ask", json={"text": "ola@firma.no", "locale": "nb"}, headers=AUTH)
    assert norsk.json()[0]["answer"]["locale"] == "nb"


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        ({"text": "ola@firma.no"}, {}, 401),
        ({"text": "ola@firma.no"}, {"Authorization": "Bearer wrong"}, 401),
        ([1, 2], AUTH, 400),
        ({"text": ""}, AUTH, 400),
        ({"text": "ola@firma.no", "audience": "customer"}, AUTH, 400),
        ({"text": "ola@firma.no", "audience": "boss"}, AUTH, 400),
        ({"text": "nothing here"}, AUTH, 422),
    ],
)
async def test_the_json_api_refuses_what_it_cannot_answer(
    api: httpx.AsyncClient, body: Any, headers: dict[str, str], status: int
) -> None:
    response = await api.post("/api/ask", json=body, headers=headers)
    assert response.status_code == status
    assert response.json()["error"]


async def test_the_json_api_is_off_without_a_token() -> None:
    async with running(Settings(), demo=True) as app:
        parts = Parts(ask=app.conversation())
        async with serve(build_asgi(parts)) as url, httpx.AsyncClient(base_url=url) as http:
            response = await http.post("/api/ask", json={"text": "ola@firma.no"})
    assert response.status_code == 503


async def test_a_customer_sees_only_their_tenant(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/api/ask",
        json={"text": "ola@firma.no", "audience": "customer", "tenant": "nobody"},
        headers=AUTH,
    )
    assert response.status_code == 200
    (answer,) = response.json()
    # a customer's JSON has no verdict id, facts or timeline: the words say it
    assert (answer["verdict"], answer["facts"], answer["timeline"]) == (None, {}, [])
    assert answer["answer"]["title"] == "We found no email to this address"
