"""A whole world for end-to-end Slack tests: the bot as production runs it, Slack faked.

The store holds the e2e delivery data (tests/data/e2e), DNS is the loopback server the test
names, Slack is testkit's fake, and the app answers on a real socket; `World` signs and posts
what Slack would. The fake itself is in testkit (bench/slack.py drives the same one); this
module is the test-only part around it.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from testkit.fakeslack import (
    ACME,
    AGENT,
    BOT_USER,
    HOME_TEAM,
    INTERNAL,
    SECRET,
    FakeSlack,
    default_channels,
    default_users,
    form,
    interaction,
    signed_headers,
)
from testkit.servers import serve

E2E = Path(__file__).resolve().parent / "data" / "e2e"


@dataclass
class World:
    fake: FakeSlack
    bot: Any  # bot.slack.app.WhymailSlack
    url: str
    http: httpx.AsyncClient

    async def post(self, body: bytes, content_type: str, **headers: str) -> httpx.Response:
        signed = signed_headers(SECRET, body, **headers)
        signed["Content-Type"] = content_type
        return await self.http.post(f"{self.url}/slack/events", content=body, headers=signed)

    async def command(
        self, text: str, *, user: str = AGENT, channel: str = INTERNAL, rid: str = "r1"
    ) -> httpx.Response:
        body = form(
            {
                "token": "legacy",
                "team_id": HOME_TEAM,
                "team_domain": "home",
                "channel_id": channel,
                "channel_name": "support",
                "user_id": user,
                "user_name": "someone",
                "command": "/whymail",
                "text": text,
                "api_app_id": "A_WHYMAIL",
                "is_enterprise_install": "false",
                "response_url": self.fake.response_url(rid),
                "trigger_id": "1337.42.abcd",
            }
        )
        return await self.post(body, "application/x-www-form-urlencoded")

    async def event(
        self, event: dict[str, Any], *, event_id: str = "Ev1", shared: bool = False, **headers: str
    ) -> httpx.Response:
        body = json.dumps(
            {
                "token": "legacy",
                "team_id": HOME_TEAM,
                "api_app_id": "A_WHYMAIL",
                "event": event,
                "type": "event_callback",
                "event_id": event_id,
                "event_time": int(time.time()),
                "authorizations": [
                    {
                        "team_id": HOME_TEAM,
                        "user_id": BOT_USER,
                        "is_bot": True,
                        "is_enterprise_install": False,
                    }
                ],
                "is_ext_shared_channel": shared,
                "event_context": "4-abc",
            }
        ).encode()
        return await self.post(body, "application/json", **headers)

    async def action(self, payload: dict[str, Any]) -> httpx.Response:
        payload = json.loads(json.dumps(payload).replace("__FAKE__", self.fake.url))
        return await self.post(interaction(payload), "application/x-www-form-urlencoded")


def block_action(
    value: str,
    action_id: str,
    *,
    user: str = AGENT,
    channel: str = INTERNAL,
    rid: str = "a1",
    ephemeral: bool = True,
) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "team_id": HOME_TEAM},
        "api_app_id": "A_WHYMAIL",
        "token": "legacy",
        "container": {
            "type": "message",
            "message_ts": "1.2",
            "channel_id": channel,
            "is_ephemeral": ephemeral,
        },
        "trigger_id": "1337.42.efgh",
        "team": {"id": HOME_TEAM, "domain": "home"},
        "channel": {"id": channel, "name": "support"},
        "response_url": f"__FAKE__/response_url/{rid}",
        "actions": [
            {
                "action_id": action_id,
                "block_id": "b1",
                "text": {"type": "plain_text", "text": "x"},
                "value": value,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


@asynccontextmanager
async def slack_world(
    tmp: Path, dns_host: str, dns_port: int, *, fake: FakeSlack | None = None, esp: Any = None
) -> AsyncIterator[World]:
    """The bot as production runs it, with only Slack itself replaced by the fake."""
    from bot.app import App
    from bot.checks import DNSClient
    from bot.config import Settings, shipped_knowledge
    from bot.diagnose import Diagnoser
    from bot.slack.app import build_app
    from bot.slack.mrkdwn import escape as mrkdwn_escape
    from bot.slack.settings import ChannelConfig, SlackSettings
    from bot.sources.esp import EspSources
    from bot.sources.ingest import ingest_lines
    from bot.sources.store import open_store
    from bot.trees.status import Faults, Fixed
    from bot.web import Parts, build_asgi

    fake = fake or FakeSlack(users=default_users(), channels=default_channels())
    store = await open_store(str(tmp / "slack.sqlite3"))
    for provider, name in (("whymail", "records.jsonl"), ("postmark", "postmark.jsonl")):
        lines = (E2E / name).read_text("utf-8").splitlines()
        await ingest_lines(store, provider, lines)
    knowledge = _knowledge(shipped_knowledge())
    try:
        async with serve(fake.app()) as fake_url:
            fake.url = fake_url
            settings = SlackSettings(
                bot_token="xoxb-test",
                signing_secret=SECRET,
                api_url=f"{fake_url}/api/",
                channels={ACME: ChannelConfig(tenant="acme", locale="nb")},
                fault_channel="C_FAULTS",
            )
            dns = DNSClient([(dns_host, dns_port)], timeout=1.0)
            diagnoser = Diagnoser(store, dns, lambda: knowledge, dns_deadline=2.5)
            accounts = esp if esp is not None else EspSources({})
            source = Fixed(knowledge)
            app = App(Settings(), store, accounts, source, diagnoser, Faults())
            conversation = app.conversation(escape=mrkdwn_escape)
            bot = build_app(settings, conversation, knowledge=source, esp=esp)
            async with (
                serve(build_asgi(Parts(slack=bot))) as url,
                httpx.AsyncClient(timeout=10) as http,
            ):
                yield World(fake, bot, url, http)
    finally:
        await store.close()


@functools.cache
def _knowledge(directory: Path) -> Any:
    """Loading and checking the shipped trees takes seconds; every world shares one load."""
    from bot.trees import Knowledge

    return Knowledge.load(directory)
