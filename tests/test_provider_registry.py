"""A sixth ESP is one record: registered like the shipped five, it gets a webhook, ingest, an API
client and its settings keys, with no other file touched."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from bot.addresses import normalise_address
from bot.model import DeliveryEvent, EventType
from bot.sources.api.base import ReactivationResult, Suppression
from bot.sources.esp import EspSources, build_clients
from bot.sources.esps import PROVIDERS
from bot.sources.espsettings import EspSettings, env_keys
from bot.sources.ingest import ingest_lines
from bot.sources.payload import Envelope, body_json, first_text, normalize_each, text
from bot.sources.provider import Provider, WebhookContext, WebhookHandler
from bot.sources.store import Store
from bot.sources.verify import secrets
from bot.sources.webhooks import WebhookReceiver


@dataclass(frozen=True, slots=True)
class FakeSettings:
    fakemail_token: str | None = None
    fakemail_api_key: str | None = None


def _normalize(payload: Mapping[str, Any]) -> list[DeliveryEvent]:
    address = text(payload, "to")
    assert address is not None
    return [
        DeliveryEvent(
            provider="fakemail",
            event_type=EventType(text(payload, "what")),
            timestamp=datetime.fromtimestamp(float(payload["at"]), UTC),
            recipient=normalise_address(address),
            dispatch_id=text(payload, "dispatch", required=False),
            dedupe_key=f"fakemail:{payload['id']}",
            raw=dict(payload),
        )
    ]


def _webhook(settings: FakeSettings, _: WebhookContext) -> WebhookHandler:
    async def receive(headers: Mapping[str, str], body: bytes) -> list[DeliveryEvent]:
        secrets.check_bearer(headers.get("authorization"), settings.fakemail_token)
        return normalize_each(body_json(body), _normalize)

    return receive


class FakeClient:
    provider = "fakemail"

    async def events_for_recipient(self, address: str) -> list[DeliveryEvent]:
        return _normalize({"to": address, "what": "bounced", "at": 1764230400, "id": "api-1"})

    async def suppression(self, address: str) -> Suppression | None:
        return None

    async def reactivate(self, address: str, actor: str) -> ReactivationResult:
        return ReactivationResult("fakemail", address, True)


FAKEMAIL: Provider[FakeSettings] = Provider(
    name="fakemail",
    display="Fake Mail",
    settings=FakeSettings,
    normalize=_normalize,
    envelope=lambda raw: Envelope(first_text(raw, ("subject",))),
    webhook=_webhook,
    client=lambda s, http: FakeClient() if s.fakemail_api_key else None,
    challenge='Bearer realm="fakemail"',
    marks=("fakemail_id",),
)
REGISTERED = PROVIDERS.with_(FAKEMAIL)
EVENT = {"to": "Ola@Firma.no", "what": "delivered", "at": 1764230400, "id": "e1", "dispatch": "d1"}


def test_its_settings_keys_join_the_others() -> None:
    keys = env_keys(REGISTERED)
    assert keys["fakemail_token"] == "FAKEMAIL_TOKEN"
    assert keys["postmark_server_token"] == "POSTMARK_SERVER_TOKEN"
    esp = EspSettings.from_values({"fakemail_token": "t"}, REGISTERED)
    assert esp.of(FAKEMAIL) == FakeSettings(fakemail_token="t")


def test_a_provider_is_registered_once() -> None:
    with pytest.raises(ValueError, match="twice"):
        REGISTERED.with_(FAKEMAIL)


async def test_its_webhook_is_served_and_stored(store: Store) -> None:
    esp = EspSettings.from_values({"fakemail_token": "t"}, REGISTERED)
    receiver = WebhookReceiver(store, esp, providers=REGISTERED)
    try:
        body = json.dumps([EVENT]).encode()
        refused = await receiver.receive("fakemail", {}, body)
        assert refused.status == 401
        assert refused.headers["WWW-Authenticate"] == 'Bearer realm="fakemail"'
        stored = await receiver.receive("fakemail", {"Authorization": "Bearer t"}, body)
        assert stored.status == 200, stored.body
    finally:
        await receiver.aclose()
    (event,) = await store.events_for_recipient("ola@firma.no")
    assert event.provider == "fakemail"
    assert event.dispatch_id == "d1"


async def test_it_ingests_and_names_its_own_payloads(store: Store) -> None:
    lines = [json.dumps(EVENT), json.dumps({"fakemail_id": 1, "event": "open"})]
    report = await ingest_lines(store, "fakemail", lines, providers=REGISTERED)
    assert report.events_new == 1
    wrong = await ingest_lines(store, "sendgrid", lines[1:], providers=REGISTERED)
    assert "--provider fakemail" in wrong.errors[0]


async def test_its_api_client_is_asked_when_configured() -> None:
    async with httpx.AsyncClient() as http:
        assert "fakemail" not in build_clients(EspSettings(), http, REGISTERED)
        esp = EspSettings.from_values({"fakemail_api_key": "k"}, REGISTERED)
        sources = EspSources(build_clients(esp, http, REGISTERED))
        found = await sources.lookup("kari@firma.no")
    assert found.consulted == ("fakemail",)
    assert found.events[0].event_type is EventType.BOUNCED
