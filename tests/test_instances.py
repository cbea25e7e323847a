"""Two `whymail serve --http` processes on one PostgreSQL schema behave as one bot.

Webhook deliveries sent to both instances (as an ESP retrying against a load balancer would)
are stored once, and a Slack button on a message answered by instance A is handled by instance
B: no state lives in one process only.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.sources.ingest import ingest_lines
from bot.sources.store import open_store
from testkit.fakeslack import (
    ACME,
    AGENT,
    HOME_TEAM,
    SECRET,
    FakeSlack,
    default_channels,
    default_users,
    form,
    interaction,
    signed_headers,
)
from testkit.servers import free_port, serve
from tests.fakeslack import block_action

ROOT = Path(__file__).resolve().parent.parent
E2E = Path(__file__).resolve().parent / "data" / "e2e"
OLA = "ola@firma.mailtest.test"
USER, PASSWORD = "postmark-hook", "s3cret-hook"
START_TIMEOUT = 30.0


@dataclass
class Instance:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path


@contextmanager
def _instance(env: dict[str, str], log: Path) -> Iterator[Instance]:
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--http", f"127.0.0.1:{port}"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield Instance(f"http://127.0.0.1:{port}", proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _ready(http: httpx.AsyncClient, instance: Instance) -> None:
    deadline = asyncio.get_running_loop().time() + START_TIMEOUT
    while True:
        if instance.proc.poll() is not None:
            pytest.fail(
                f"instance exited ({instance.proc.returncode}):\n{instance.log.read_text()}"
            )
        try:
            if (await http.get(f"{instance.url}/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"instance not ready in {START_TIMEOUT} s:\n{instance.log.read_text()}")
        await asyncio.sleep(0.1)


@dataclass
class Pair:
    a: Instance
    b: Instance
    fake: FakeSlack
    http: httpx.AsyncClient
    pg_url: str


@pytest.fixture
async def pair(pg_url: str, tmp_path: Path, localdns_server: Any) -> AsyncIterator[Pair]:
    store = await open_store(pg_url)
    try:
        for provider, name in (("whymail", "records.jsonl"), ("postmark", "postmark.jsonl")):
            await ingest_lines(store, provider, (E2E / name).read_text("utf-8").splitlines())
    finally:
        await store.close()
    fake = FakeSlack(users=default_users(), channels=default_channels())
    async with serve(fake.app()) as fake_url:
        fake.url = fake_url
        config = tmp_path / "whymail.yml"
        config.write_text(f"slack_channels:\n  {ACME}: {{tenant: acme, locale: nb}}\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WHYMAIL_", "SLACK_"))}
        env.update(
            {
                "WHYMAIL_STORE": pg_url,
                "WHYMAIL_CONFIG": str(config),
                "WHYMAIL_DNS_NAMESERVERS": localdns_server.address,
                "WHYMAIL_DNS_TIMEOUT": "1",
                "SLACK_BOT_TOKEN": "xoxb-test",
                "SLACK_SIGNING_SECRET": SECRET,
                "SLACK_API_URL": f"{fake_url}/api/",
                "POSTMARK_WEBHOOK_USER": USER,
                "POSTMARK_WEBHOOK_PASSWORD": PASSWORD,
            }
        )
        with ExitStack() as stack:
            a = stack.enter_context(_instance(env, tmp_path / "a.log"))
            b = stack.enter_context(_instance(env, tmp_path / "b.log"))
            async with httpx.AsyncClient(timeout=20) as http:
                await asyncio.gather(_ready(http, a), _ready(http, b))
                yield Pair(a, b, fake, http, pg_url)


def _deliveries() -> list[bytes]:
    """The e2e Postmark payloads, plus fresh ones: each a distinct event with its own ID."""
    payloads = [json.loads(line) for line in (E2E / "postmark.jsonl").read_text().splitlines()]
    template = next(p for p in payloads if p.get("RecordType") == "Delivery")
    for n in range(40):
        extra = dict(template)
        extra["MessageID"] = f"pm-multi-{n}"
        extra["Recipient"] = f"user{n}@firma.mailtest.test"
        payloads.append(extra)
    return [json.dumps(p).encode() for p in payloads]


async def test_webhooks_spread_over_instances_are_stored_once(pair: Pair) -> None:
    auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    bodies = _deliveries()

    async def deliver(instance: Instance, body: bytes) -> int:
        response = await pair.http.post(
            f"{instance.url}/webhooks/postmark", content=body, headers=headers
        )
        return response.status_code

    # Every delivery reaches both instances at once, twice: an ESP retrying through a balancer.
    statuses = await asyncio.gather(
        *(deliver(i, body) for body in bodies for i in (pair.a, pair.b, pair.b, pair.a))
    )
    assert set(statuses) == {200}, statuses
    conn = await asyncpg.connect(pair.pg_url)
    try:
        stored = await conn.fetchval("SELECT count(*) FROM events WHERE provider = 'postmark'")
        keys = await conn.fetchval("SELECT count(DISTINCT dedupe_key) FROM events")
        total = await conn.fetchval("SELECT count(*) FROM events")
    finally:
        await conn.close()
    assert stored == len(bodies)
    assert keys == total
    # Each instance's /metrics counts what it was sent; together, every request once.
    counted = 0.0
    for instance in (pair.a, pair.b):
        page = await pair.http.get(f"{instance.url}/metrics")
        assert page.status_code == 200
        for family in text_string_to_metric_families(page.text):
            for sample in family.samples:
                if sample.name == "whymail_webhook_deliveries_total":
                    assert sample.labels["provider"] == "postmark"
                    assert sample.labels["outcome"] in ("stored", "duplicate")
                    counted += sample.value
    assert counted == 4 * len(bodies)


async def test_a_button_answered_by_one_instance_works_on_the_other(pair: Pair) -> None:
    """An agent in a customer's channel asks instance A; "Share with customer" goes to B."""
    command = form(
        {
            "team_id": HOME_TEAM,
            "channel_id": ACME,
            "user_id": AGENT,
            "command": "/whymail",
            "text": OLA,
            "api_app_id": "A_WHYMAIL",
            "response_url": pair.fake.response_url("r1"),
            "trigger_id": "1337.42.abcd",
        }
    )
    headers = signed_headers(SECRET, command)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    acked = await pair.http.post(f"{pair.a.url}/slack/events", content=command, headers=headers)
    assert acked.status_code == 200
    (answer,) = await pair.fake.wait_for("response_url", within=15.0)
    assert "550" in json.dumps(answer.body)  # the agent's own view, from instance A
    share = next(
        element["value"]
        for block in answer.body["blocks"]
        for element in block.get("elements") or ()
        if element.get("action_id", "").startswith("whymail_share")
    )
    payload = block_action(share, "whymail_share:0", channel=ACME, rid="s1")
    body = interaction(json.loads(json.dumps(payload).replace("__FAKE__", pair.fake.url)))
    headers = signed_headers(SECRET, body)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    pressed = await pair.http.post(f"{pair.b.url}/slack/events", content=body, headers=headers)
    assert pressed.status_code == 200
    (post,) = await pair.fake.wait_for("chat.postMessage", within=15.0)
    assert post.body["channel"] == ACME
    shown = json.dumps(post.body)
    # The customer-safe version, made by instance B from the signed button alone.
    assert "550" not in shown
    assert "user_unknown" not in shown
    assert "whymail_share" not in shown


async def test_a_language_chosen_on_one_instance_holds_on_the_other(pair: Pair) -> None:
    """User preferences live in the shared store (its kv table), not in one process."""

    async def command(instance: Instance, text: str) -> str:
        body = form(
            {
                "team_id": HOME_TEAM,
                "channel_id": ACME,
                "user_id": AGENT,
                "command": "/whymail",
                "text": text,
                "api_app_id": "A_WHYMAIL",
                "response_url": pair.fake.response_url("lang"),
                "trigger_id": "1337.42.lang",
            }
        )
        headers = signed_headers(SECRET, body)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        response = await pair.http.post(
            f"{instance.url}/slack/events", content=body, headers=headers
        )
        assert response.status_code == 200
        return str(response.json()["text"])

    assert "norsk" in await command(pair.a, "lang nb")
    # the other instance knows the choice, and answers in it
    assert "Språket ditt: norsk." in await command(pair.b, "lang")
