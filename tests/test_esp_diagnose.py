"""The store answers first; the ESP APIs fill gaps, and an outage gives a partial answer that
says what is missing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from bot.checks import DNSClient
from bot.checks.dns import parse_nameservers
from bot.config import shipped_knowledge
from bot.diagnose import Diagnoser
from bot.model import DeliveryEvent, EventType
from bot.sources.esp import EspSources, build_clients
from bot.sources.espsettings import EspSettings
from bot.sources.store import Store
from bot.trees import Knowledge
from tests.fakeesp import FakeESP, fake_esp

OLA = "ola@firma.mailtest.test"


@pytest.fixture
async def world(
    store: Store, localdns_server: Any
) -> AsyncIterator[tuple[FakeESP, Diagnoser, Store]]:
    knowledge = Knowledge.load(shipped_knowledge())
    dns = DNSClient(parse_nameservers(localdns_server.address), timeout=1)
    async with fake_esp() as fake, httpx.AsyncClient() as http:
        settings = EspSettings.from_values({**fake.credentials(), **fake.urls()})
        esp = EspSources(build_clients(settings, http), deadline=1.5)
        yield fake, Diagnoser(store, dns, lambda: knowledge, esp=esp), store


def hard_bounce(fake: FakeESP, tenant: str = "acme") -> None:
    fake.state.pm_bounces = [
        {
            "ID": 77,
            "Type": "HardBounce",
            "TypeCode": 1,
            "MessageID": "msg-77",
            "Details": "smtp;550 5.1.1 <ola@firma.mailtest.test>: User unknown",
            "Email": OLA,
            "BouncedAt": "2026-11-20T08:00:07Z",
            "Inactive": False,
            "CanActivate": True,
            "Metadata": {"dispatch_id": "d-77", "tenant": tenant},
        }
    ]


async def test_an_outage_mid_diagnosis_gives_a_partial_answer_naming_it(
    world: tuple[FakeESP, Diagnoser, Store],
) -> None:
    fake, diagnoser, _ = world
    hard_bounce(fake)
    fake.state.down["sendgrid"] = "error"
    fake.state.down["brevo"] = "hang"
    report = await diagnoser.ask(OLA)
    (diagnosis,) = report.diagnoses
    assert diagnosis.verdict == "user_unknown"
    assert diagnosis.reason == "userunknown"
    notes = "\n".join(diagnosis.note_lines())
    assert "SendGrid did not answer our lookup" in notes
    assert "`HTTP 503" in notes
    assert "Brevo did not answer our lookup" in notes
    assert "`no answer within the 1.5 s deadline`" in notes
    nb = (await diagnoser.ask(OLA, locale="nb")).diagnoses[0]
    assert "SendGrid svarte ikke på oppslaget vårt" in "\n".join(nb.note_lines())
    assert "Postmark" not in notes
    assert diagnosis.to_json()["notes"] == diagnosis.note_lines()


async def test_the_store_answers_first(world: tuple[FakeESP, Diagnoser, Store]) -> None:
    fake, diagnoser, store = world
    hard_bounce(fake)
    await store.add_events(
        [DeliveryEvent("mailgun", EventType.DELIVERED, datetime(2026, 11, 21, tzinfo=UTC), OLA)]
    )
    (diagnosis,) = (await diagnoser.ask(OLA)).diagnoses
    assert diagnosis.verdict == "delivered_check_spam"
    assert fake.state.calls == []
    assert diagnosis.notes == ()


async def test_customers_see_only_their_tenants_api_events(
    world: tuple[FakeESP, Diagnoser, Store],
) -> None:
    fake, diagnoser, _ = world
    hard_bounce(fake, tenant="someone-else")
    (diagnosis,) = (await diagnoser.ask(OLA, tenant="acme", audience="customer")).diagnoses
    assert diagnosis.verdict != "user_unknown"
    assert diagnosis.timeline is None or not diagnosis.timeline.events
