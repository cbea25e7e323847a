"""Alerts end to end: real signed Postmark webhooks to the running app (uvicorn on loopback),
the real store (SQLite and PostgreSQL), real DNS on loopback, and the fake Slack Web API that
records what reaches it. Nothing here calls the alerter directly: what a test sees is what
Slack would have received after the ESP's 200."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.alerts import Alerter, AlertThreads
from bot.sources.espsettings import EspSettings
from bot.sources.store import Store, open_store
from bot.sources.webhooks import WebhookReceiver
from testkit.fakeslack import (
    ACME,
    AGENT,
    INTERNAL,
    Call,
    FakeSlack,
    default_channels,
    default_users,
)
from testkit.servers import serve
from tests.fakeslack import World, _knowledge

ALERTS = "C_ALERTS"
BETA = "C_BETA"
OLA = "ola@firma.mailtest.test"
USER, PASSWORD = "pm-hook", "pm-secret"
#: Long enough for a diagnosis and a post on a busy 2-core machine; the bench measures speed.
WAIT = 10.0
#: How long "nothing more arrives" is watched for.
QUIET = 1.5


def bounce(n: int, *, to: str = OLA, tenant: str | None = "acme", dispatch: str = "inv-1") -> bytes:
    """A Postmark hard bounce as Postmark posts it (one JSON object)."""
    metadata = {"dispatch_id": dispatch, **({"tenant": tenant} if tenant else {})}
    return json.dumps(
        {
            "RecordType": "Bounce",
            "ID": 90000 + n,
            "Type": "HardBounce",
            "TypeCode": 1,
            "Name": "Hard bounce",
            "MessageID": f"pm-{dispatch}-{to}",
            "Metadata": metadata,
            "MessageStream": "outbound",
            "Description": "The server was unable to deliver your message.",
            "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
            "Email": to,
            "From": "billing@acme.mailtest.test",
            "BouncedAt": "2026-12-01T08:00:05Z",
            "Inactive": True,
            "CanActivate": True,
            "Subject": "Invoice 1",
        }
    ).encode()


AUTH = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}


def text(call: Call) -> str:
    return json.dumps(call.body, ensure_ascii=False)


def posts(fake: FakeSlack, channel: str) -> list[Call]:
    return [
        c
        for c in fake.calls
        if c.method in ("chat.postMessage", "chat.update") and c.body.get("channel") == channel
    ]


@dataclass
class Running:
    fake: FakeSlack
    url: str
    http: httpx.AsyncClient
    alerter: Alerter
    world: World
    store: Store

    async def webhook(self, body: bytes) -> httpx.Response:
        return await self.http.post(f"{self.url}/webhooks/postmark", content=body, headers=AUTH)

    async def wait(self, channel: str, count: int = 1, within: float = WAIT) -> list[Call]:
        deadline = time.monotonic() + within
        while True:
            found = posts(self.fake, channel)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.02)

    async def threaded(self, channel: str, alert: Call) -> str:
        """The alert's thread, once the poster has remembered it (it does so after Slack's
        answer, so a test that replies the moment the post arrives would race it)."""
        ts = str(alert.answer["ts"])
        threads = AlertThreads(self.store)
        deadline = time.monotonic() + WAIT
        while await threads.subject_of(channel, ts) is None and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        return ts

    async def settle(self) -> None:
        """Wait until the alerter has nothing queued, then a while for anything unexpected."""
        assert await self.alerter.drained(WAIT)
        await asyncio.sleep(QUIET)


def channels() -> dict[str, dict[str, Any]]:
    found = default_channels()
    found[ALERTS] = {"id": ALERTS, "is_channel": True, "is_shared": False}
    found[BETA] = {"id": BETA, "is_channel": True, "is_shared": True, "is_ext_shared": True}
    return found


@asynccontextmanager
async def running(
    store: Store,
    dns: Any,
    *,
    fake: FakeSlack | None = None,
    burst: int = 5,
    acme_alerts: tuple[str, ...] = ("user_unknown", "spam_complaint"),
) -> AsyncIterator[Running]:
    """One whymail instance as `whymail serve --http` wires it: Slack, webhooks, alerts."""
    from bot.app import App
    from bot.checks import DNSClient
    from bot.config import Settings
    from bot.diagnose import Diagnoser
    from bot.slack.alerts import slack_alerter
    from bot.slack.app import build_app
    from bot.slack.mrkdwn import escape as mrkdwn_escape
    from bot.slack.settings import SlackSettings
    from bot.sources.esp import EspSources
    from bot.trees.status import Faults, Fixed
    from bot.web import Parts, build_asgi
    from testkit.fakeslack import SECRET

    fake = fake or FakeSlack(users=default_users(), channels=channels())
    knowledge = _knowledge(Settings().knowledge)
    async with serve(fake.app()) as fake_url:
        fake.url = fake_url
        settings = SlackSettings.from_values(
            {
                "slack_bot_token": "xoxb-test",
                "slack_signing_secret": SECRET,
                "slack_api_url": f"{fake_url}/api/",
                "slack_channels": {
                    ACME: {"tenant": "acme", "locale": "nb", "alerts": list(acme_alerts)},
                    BETA: {"tenant": "beta", "locale": "pt-BR", "alerts": ["user_unknown"]},
                },
                "slack_alert_channel": ALERTS,
                "alert_burst": burst,
            }
        )
        diagnoser = Diagnoser(
            store, DNSClient([(dns.host, dns.port)], timeout=1.0), lambda: knowledge
        )
        app = App(Settings(), store, EspSources({}), Fixed(knowledge), diagnoser, Faults())
        bot = build_app(settings, app.conversation(escape=mrkdwn_escape), knowledge=app.knowledge)
        alerter = slack_alerter(bot, store, diagnoser, known_verdicts=knowledge.verdicts)
        assert alerter is not None
        alerter.start()
        esp = EspSettings.from_values(
            {"postmark_webhook_user": USER, "postmark_webhook_password": PASSWORD}
        )
        receiver = WebhookReceiver(store, esp, on_commit=alerter.notify)
        try:
            async with (
                serve(build_asgi(Parts(slack=bot, webhooks=receiver))) as url,
                httpx.AsyncClient(timeout=10) as http,
            ):
                world = World(fake, bot, url, http)
                yield Running(fake, url, http, alerter, world, store)
        finally:
            await receiver.aclose()
            await alerter.aclose()
            await bot.aclose()


async def test_a_bounce_alerts_the_customer_and_the_agents_once(
    store: Store, localdns_server: Any
) -> None:
    async with running(store, localdns_server) as run:
        answered = await run.webhook(bounce(1))
        assert answered.status_code == 200, answered.text
        (customer,) = await run.wait(ACME)
        (agents,) = await run.wait(ALERTS)
        # The customer's: Norwegian, the address, no verdict id, ESP, SMTP code or buttons of
        # agents; the channel's own tenant only.
        said = text(customer)
        assert "En utsending trenger oppfølging" in said
        assert OLA in said
        for secret in ("user_unknown", "postmark", "550", "inv-1", "whymail_details"):
            assert secret not in said, secret
        # The agents': English, the verdict, the evidence and the Details button.
        told = text(agents)
        assert "A delivery needs attention" in told
        assert "user_unknown" in told
        assert "whymail_details" in told
        # The same delivery again, and another bounce of the same dispatch and recipient:
        # stored (200) and ignored by the alerts.
        assert (await run.webhook(bounce(1))).status_code == 200
        assert (await run.webhook(bounce(2))).status_code == 200
        await run.settle()
        assert len(posts(run.fake, ACME)) == 1
        assert len(posts(run.fake, ALERTS)) == 1
        assert not posts(run.fake, BETA)


async def test_a_restart_remembers_what_was_sent(store: Store, localdns_server: Any) -> None:
    async with running(store, localdns_server) as run:
        assert (await run.webhook(bounce(1))).status_code == 200
        await run.wait(ACME)
        fake = run.fake
    # A new process: nothing in memory, the same store.
    fake.calls.clear()
    async with running(store, localdns_server, fake=fake) as again:
        assert (await again.webhook(bounce(3))).status_code == 200
        assert (await again.webhook(bounce(4, dispatch="inv-2"))).status_code == 200
        await again.wait(ACME)
        await again.settle()
        acme = posts(fake, ACME)
        assert len(acme) == 1  # only inv-2's
        assert "inv-2" in text(posts(fake, ALERTS)[0])


async def test_no_alert_reaches_another_tenants_channel(store: Store, localdns_server: Any) -> None:
    async with running(store, localdns_server) as run:
        beta = bounce(1, tenant="beta", to="kari@firma.mailtest.test", dispatch="b-1")
        untagged = bounce(2, tenant=None, to="per@firma.mailtest.test", dispatch="x-1")
        assert (await run.webhook(beta)).status_code == 200
        assert (await run.webhook(untagged)).status_code == 200
        await run.wait(ALERTS, 2)
        (to_beta,) = await run.wait(BETA)
        await run.settle()
        assert not posts(run.fake, ACME)
        assert "kari@firma.mailtest.test" in text(to_beta)
        assert "per@firma.mailtest.test" not in text(to_beta)
        assert "precisa de atenção" in text(to_beta)  # the channel's pt-BR
        assert len(posts(run.fake, ALERTS)) == 2


async def test_a_verdict_the_channel_did_not_ask_for_stays_quiet(
    store: Store, localdns_server: Any
) -> None:
    async with running(store, localdns_server, acme_alerts=("spam_complaint",)) as run:
        assert (await run.webhook(bounce(1))).status_code == 200
        await run.wait(ALERTS)
        await run.settle()
        assert not posts(run.fake, ACME)


async def test_a_burst_becomes_one_digest_updated_in_place(
    store: Store, localdns_server: Any
) -> None:
    async with running(store, localdns_server, burst=2) as run:
        addresses = [f"r{n}@firma.mailtest.test" for n in range(7)]
        for n, address in enumerate(addresses):
            assert (
                await run.webhook(bounce(n, to=address, dispatch=f"inv-{n}"))
            ).status_code == 200
        await run.settle()
        acme = posts(run.fake, ACME)
        new = [c for c in acme if c.method == "chat.postMessage"]
        updates = [c for c in acme if c.method == "chat.update"]
        # Two alerts on their own, and one digest message, edited in place as it grew (the
        # digest may be posted before the second alert's own post has arrived).
        digests = [c for c in new if "Mange samtidig" in text(c)]
        alone = [c for c in new if c not in digests]
        assert (len(alone), len(digests)) == (2, 1), [text(c)[:80] for c in new]
        assert all(u.body["ts"] == digests[0].answer["ts"] for u in updates)
        final = updates[-1] if updates else digests[0]
        listed = {a for a in addresses if a in text(final)}
        posted_alone = {a for a in addresses if any(a in text(c) for c in alone)}
        assert len(posted_alone) == 2
        assert len(listed) == 5
        assert posted_alone | listed == set(addresses)
        assert "5 utsendinger trenger oppfølging" in text(final)


async def test_slack_rate_limits_and_failures_are_retried_and_never_touch_the_webhook(
    store: Store, localdns_server: Any
) -> None:
    fake = FakeSlack(users=default_users(), channels=channels())
    fake.rate_limited["chat.postMessage"] = 1
    fake.retry_after = 1
    fake.server_errors["chat.postMessage"] = 0
    fake.slow["chat.postMessage"] = 0.5
    async with running(store, localdns_server, fake=fake) as run:
        started = time.monotonic()
        answered = await run.webhook(bounce(1))
        acked = time.monotonic() - started
        assert answered.status_code == 200
        assert acked < 0.5, acked  # Slack's slowness is not the ESP's wait
        await run.wait(ACME)
        await run.wait(ALERTS)
        attempts = fake.called("chat.postMessage")
        assert len(attempts) == 3  # one 429, then both alerts
        assert attempts[1].at - attempts[0].at >= 0.95  # Retry-After: 1 was honoured


async def test_a_server_error_is_retried_and_a_refusal_is_not(
    store: Store, localdns_server: Any
) -> None:
    fake = FakeSlack(users=default_users(), channels=channels())
    fake.server_errors["chat.postMessage"] = 1
    fake.refused_channels[ALERTS] = "not_in_channel"
    async with running(store, localdns_server, fake=fake) as run:
        assert (await run.webhook(bounce(1))).status_code == 200
        await run.settle()
        attempts = fake.called("chat.postMessage")
        # One 500 (retried), one success for the customers' channel, one refusal for the
        # agents' channel that is not retried (the bot is not in it; retrying cannot help).
        assert len(attempts) == 3, [c.answer for c in attempts]
        refused = [c for c in attempts if c.answer.get("error") == "not_in_channel"]
        posted = [c for c in attempts if c.answer.get("ok")]
        assert [c.body["channel"] for c in refused] == [ALERTS]
        assert [c.body["channel"] for c in posted] == [ACME]
        assert run.alerter.stats.posted == 1
        assert run.alerter.stats.failed == 1


async def test_a_reply_in_an_alerts_thread_is_answered_there(
    store: Store, localdns_server: Any
) -> None:
    async with running(store, localdns_server) as run:
        assert (await run.webhook(bounce(1))).status_code == 200
        (alert,) = await run.wait(ALERTS)
        thread = await run.threaded(ALERTS, alert)
        reply = {
            "type": "message",
            "channel": ALERTS,
            "channel_type": "channel",
            "user": AGENT,
            "text": "what should we do?",
            "ts": f"{time.time():.6f}",
            "thread_ts": thread,
        }
        assert (await run.world.event(reply, event_id="EvReply")).status_code == 200
        found = await run.fake.wait_for(
            "chat.postMessage", 3, where=lambda c: c.body.get("thread_ts") == thread
        )
        (answer,) = [c for c in found if c.body.get("thread_ts") == thread]
        assert answer.body["channel"] == ALERTS
        assert OLA in text(answer)
        assert "user_unknown" in text(answer)
        # A reply in some other thread, and one addressed to a colleague, are left alone.
        other = {**reply, "thread_ts": "123.456", "ts": f"{time.time():.6f}"}
        colleague = {**reply, "text": "<@U0COLLEAGUE> can you look?", "ts": f"{time.time():.6f}"}
        await run.world.event(other, event_id="EvOther")
        await run.world.event(colleague, event_id="EvColleague")
        await asyncio.sleep(QUIET)
        in_threads = [c for c in run.fake.called("chat.postMessage") if c.body.get("thread_ts")]
        assert len(in_threads) == 1


async def test_two_instances_on_one_database_post_once(pg_url: str, localdns_server: Any) -> None:
    a, b = await open_store(pg_url), await open_store(pg_url)
    fake = FakeSlack(users=default_users(), channels=channels())
    try:
        async with (
            running(a, localdns_server, fake=fake) as one,
            running(b, localdns_server, fake=fake) as two,
        ):
            bodies = [bounce(n, to=f"r{n}@firma.mailtest.test", dispatch=f"i{n}") for n in range(4)]
            answers = await asyncio.gather(
                *(run.webhook(body) for body in bodies for run in (one, two))
            )
            assert {r.status_code for r in answers} == {200}
            await one.settle()
            await two.settle()
    finally:
        await a.close()
        await b.close()
    acme = [c for c in posts(fake, ACME) if c.method == "chat.postMessage"]
    assert len(acme) == 4
    assert sorted(n for n in range(4) if any(f"r{n}@" in text(c) for c in acme)) == [0, 1, 2, 3]
    assert INTERNAL not in {c.body.get("channel") for c in fake.calls}


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"slack_channels": {ACME: {"tenant": "acme", "alerts": "user_unknown"}}}, "list"),
        ({"slack_channels": {ACME: {"alerts": ["user_unknown"]}}}, "tenant"),
        ({"alert_burst": "0"}, "at least 1"),
        ({"alert_burst": "many"}, "whole number"),
    ],
)
def test_bad_alert_settings_are_refused(values: dict[str, Any], problem: str) -> None:
    from bot.slack.settings import SlackConfigError, SlackSettings

    with pytest.raises(SlackConfigError, match=problem):
        SlackSettings.from_values(values)


async def test_an_unknown_verdict_is_refused_at_start(store: Store) -> None:
    from bot.checks import DNSClient
    from bot.config import Settings
    from bot.conversation import Conversation
    from bot.diagnose import Diagnoser
    from bot.slack.alerts import slack_alerter
    from bot.slack.app import build_app
    from bot.slack.settings import SlackSettings

    settings = SlackSettings.from_values(
        {
            "slack_bot_token": "xoxb-test",
            "slack_signing_secret": "s",
            "slack_channels": {ACME: {"tenant": "acme", "alerts": ["user_unkown"]}},
        }
    )
    knowledge = _knowledge(Settings().knowledge)
    diagnoser = Diagnoser(store, DNSClient(None), lambda: knowledge)
    bot = build_app(settings, Conversation(diagnoser))
    with pytest.raises(ValueError, match="user_unkown"):
        slack_alerter(bot, store, diagnoser, known_verdicts=knowledge.verdicts)
    await bot.aclose()


async def test_whymail_serve_alerts_and_a_sigkill_restart_posts_nothing_twice(
    tmp_path: Path, localdns_server: Any
) -> None:
    """The operator's wiring: `whymail serve --http` with alerts in its config, killed with
    SIGKILL after its alerts went out and started again on the same store; the ESP then
    redelivers everything, and nothing is posted twice."""
    import os
    import signal
    import sys

    from testkit.fakeslack import SECRET
    from testkit.servers import free_port
    from tests.conftest import ROOT

    fake = FakeSlack(users=default_users(), channels=channels())
    config = tmp_path / "whymail.yml"
    config.write_text(
        json.dumps({"slack_channels": {ACME: {"tenant": "acme", "alerts": ["user_unknown"]}}})
    )
    async with serve(fake.app()) as fake_url:
        fake.url = fake_url
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WHYMAIL_", "SLACK_"))}
        env.update(
            SLACK_BOT_TOKEN="xoxb-test",
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=f"{fake_url}/api/",
            WHYMAIL_STORE=str(tmp_path / "store.sqlite3"),
            WHYMAIL_CONFIG=str(config),
            WHYMAIL_DNS_NAMESERVERS=f"{localdns_server.host}:{localdns_server.port}",
            WHYMAIL_DNS_TIMEOUT="1",
            WHYMAIL_SLACK_ALERT_CHANNEL=ALERTS,
            POSTMARK_WEBHOOK_USER=USER,
            POSTMARK_WEBHOOK_PASSWORD=PASSWORD,
        )
        url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "bot", "serve", "--http", f"127.0.0.1:{port}"]
        async with httpx.AsyncClient(timeout=10) as http:
            for round_, first_id in (("first", 0), ("after SIGKILL", 10)):
                # The same deliveries again, and new bounce events (new ids) of the same
                # dispatches and recipients: these are stored as new, so only the claims
                # in the store keep them from alerting again.
                bodies = [
                    bounce(first_id + n, to=f"r{n}@firma.mailtest.test", dispatch=f"k{n}")
                    for n in range(3)
                ] + [bounce(n, to=f"r{n}@firma.mailtest.test", dispatch=f"k{n}") for n in range(3)]
                proc = await asyncio.create_subprocess_exec(
                    *command, cwd=ROOT, env=env, stderr=asyncio.subprocess.DEVNULL
                )
                try:
                    deadline = time.monotonic() + 30
                    while True:
                        with contextlib.suppress(httpx.TransportError):
                            if (await http.get(f"{url}/healthz")).status_code == 200:
                                break
                        assert proc.returncode is None, f"whymail serve exited ({round_})"
                        assert time.monotonic() < deadline, "whymail serve did not come up"
                        await asyncio.sleep(0.1)
                    for body in bodies:
                        sent = await http.post(
                            f"{url}/webhooks/postmark", content=body, headers=AUTH
                        )
                        assert sent.status_code == 200, sent.text
                    await wait_posts(fake, ACME, 3)
                    await wait_posts(fake, ALERTS, 3)
                    await asyncio.sleep(QUIET)
                finally:
                    proc.send_signal(signal.SIGKILL)
                    await proc.wait()
    for channel in (ACME, ALERTS):
        named = [n for n in range(3) for c in posts(fake, channel) if f"r{n}@" in text(c)]
        assert sorted(named) == [0, 1, 2], (channel, named)


async def wait_posts(fake: FakeSlack, channel: str, count: int) -> None:
    deadline = time.monotonic() + WAIT
    while len(posts(fake, channel)) < count and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)


async def test_a_customers_reply_in_their_alerts_thread_gets_their_answer(
    store: Store, localdns_server: Any
) -> None:
    from testkit.fakeslack import CUSTOMER

    async with running(store, localdns_server) as run:
        assert (await run.webhook(bounce(1))).status_code == 200
        (alert,) = await run.wait(ACME)
        thread = await run.threaded(ACME, alert)
        reply = {
            "type": "message",
            "channel": ACME,
            "channel_type": "channel",
            "user": CUSTOMER,
            "text": "hva betyr dette?",
            "ts": f"{time.time():.6f}",
            "thread_ts": thread,
        }
        answered = await run.world.event(reply, event_id="EvCustomerReply", shared=True)
        assert answered.status_code == 200
        found = await run.fake.wait_for(
            "chat.postMessage", 1, where=lambda c: c.body.get("thread_ts") == thread
        )
        (answer,) = found
        said = text(answer)
        assert answer.body["channel"] == ACME
        assert OLA in said
        for secret in ("user_unknown", "postmark", "550", "whymail_details"):
            assert secret not in said, secret
