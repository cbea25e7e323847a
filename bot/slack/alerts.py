"""Alerts in Slack: the policy from the settings, and the poster that renders and posts them.

What alerts and when is decided in bot/alerts (chat-neutral); this module only turns a channel
configuration into targets and an alert into Block Kit. An alert for customers is the customer
version of the answer (the same blocks a mention gets, in the channel's language); for agents it
is the agent version with its buttons (Details, the tree's questions, reactivation). Each post is
remembered by its `ts` in the store, so a reply in the alert's thread, on any instance, is
answered about its subject (bot/slack/messages.py).

Posting never gives up on the first failure: a 429 waits for Slack's `Retry-After`, a 5xx or a
dropped connection waits a growing pause, up to `ATTEMPTS` tries; any other refusal
(`channel_not_found`, `not_in_channel`) is logged once, as retrying cannot change it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.alerts import DEFAULT_VERDICTS, Alert, Alerter, AlertPolicy, AlertThreads, Target
from bot.conversation import Part
from bot.diagnose import Diagnoser
from bot.slack import blocks as bk
from bot.slack.mrkdwn import escape as esc
from bot.slack.settings import SlackSettings
from bot.sources.store import Store
from bot.trees import normalize_locale

if TYPE_CHECKING:
    from bot.slack.app import WhymailSlack

log = logging.getLogger(__name__)

#: Tries per message (the first and its retries).
ATTEMPTS = 5
#: The longest pause between two tries, whatever Retry-After says; beyond it the alert is late
#: enough that a log line serves better than a longer wait.
MAX_WAIT = 60.0
#: Digest lines shown; the rest are counted.
DIGEST_LINES = 40


def alert_policy(settings: SlackSettings) -> AlertPolicy:
    """The targets the settings describe: the agents' channel (all tenants, the default
    verdicts unless listed) and every customer channel that lists `alerts`."""
    default = normalize_locale(settings.default_locale) or "en"
    targets = []
    if settings.alert_channel:
        verdicts = settings.alert_verdicts or DEFAULT_VERDICTS
        targets.append(AlertPolicy.agents(settings.alert_channel, verdicts, default))
    for channel, config in settings.channels.items():
        if config.alerts and config.tenant:
            locale = normalize_locale(config.locale) or default
            targets.append(AlertPolicy.customers(channel, config.tenant, config.alerts, locale))
    return AlertPolicy.of(targets, burst=settings.alert_burst)


def alert_client(bot: WhymailSlack) -> AsyncWebClient:
    """A Web API client without slack_sdk's own retries (the poster retries, honouring
    Retry-After), on the app's connection pool."""
    main = bot.app.client
    return AsyncWebClient(
        token=main.token, base_url=main.base_url, session=main.session, retry_handlers=[]
    )


class SlackAlerts:
    """`bot.alerts.Poster` for Slack."""

    def __init__(
        self,
        bot: WhymailSlack,
        threads: AlertThreads,
        client: AsyncWebClient | None = None,
        *,
        attempts: int = ATTEMPTS,
        max_wait: float = MAX_WAIT,
    ) -> None:
        self._bot = bot
        self._threads = threads
        self.client = client or alert_client(bot)
        self._attempts = attempts
        self._max_wait = max_wait

    async def alert(self, target: Target, alert: Alert) -> str | None:
        message = self.render(target, alert).as_kwargs()
        ts = await self._send(
            target.channel, lambda: self.client.chat_postMessage(channel=target.channel, **message)
        )
        if ts is not None:
            try:
                await self._threads.remember(target.channel, ts, alert.subject)
            except Exception:  # the alert is out; only replies in its thread lose their context
                log.exception("could not remember the alert's thread")
        return ts

    async def digest(self, target: Target, alerts: Sequence[Alert], ref: str | None) -> str | None:
        message = self.render_digest(target, alerts).as_kwargs()
        channel = target.channel
        if ref is None:
            return await self._send(
                channel, lambda: self.client.chat_postMessage(channel=channel, **message)
            )
        await self._send(
            channel, lambda: self.client.chat_update(channel=channel, ts=ref, **message)
        )
        return ref

    def render(self, target: Target, alert: Alert) -> bk.Message:
        d = alert.diagnosis
        chrome = d.answer.chrome
        part = Part(d, self._bot.conversation.reactivator(d) if target.agent else None)
        state = {"l": d.answer.locale, "ch": target.channel, "a": {}}
        preface = [bk.context(f"*{chrome('alert_intro')}*  ·  {chrome('alert_reply_hint')}")]
        message = bk.answer_message(
            [part],
            agent=target.agent,
            chrome=chrome,
            offer=bk.Offer(share=False, details=target.agent),
            state=state,
            sign=self._bot.signer.sign,
            preface=preface,
        )
        return bk.Message(f"{chrome('alert_intro')}: {message.text}", message.blocks)

    def render_digest(self, target: Target, alerts: Sequence[Alert]) -> bk.Message:
        chrome = self._bot.conversation.chrome(target.locale, target.tenant)
        title = chrome("alert_digest_title", count=len(alerts))
        lines = [
            f"• *{esc(bk.label(a.diagnosis, agent=target.agent))}*: {a.diagnosis.answer.title}"
            + (f"  `{esc(a.verdict)}`" if target.agent else "")
            for a in alerts[:DIGEST_LINES]
        ]
        if len(alerts) > DIGEST_LINES:
            lines.append(chrome("alert_digest_more", count=len(alerts) - DIGEST_LINES))
        blocks = [
            {"type": "header", "text": bk.plain(f":rotating_light: {title}", bk.MAX_HEADER)},
            bk.context(f"{chrome('alert_digest_intro')}  {chrome('alert_reply_hint')}"),
            bk.section("\n".join(lines)),
        ]
        return bk.Message(title, blocks)

    async def _send(
        self, channel: str, call: Callable[[], Awaitable[AsyncSlackResponse]]
    ) -> str | None:
        """The message's ts, or None once retries are spent or Slack refused it."""
        for attempt in range(1, self._attempts + 1):
            try:
                response = await call()
                return str(response.get("ts") or "") or None
            except SlackApiError as exc:
                status = exc.response.status_code
                error = exc.response.get("error")
                if status == 429:
                    wait = _retry_after(exc.response.headers)
                elif status >= 500:
                    wait = float(2 ** (attempt - 1))
                else:
                    log.warning("an alert to %s was refused: %s", channel, error)
                    return None
            except (aiohttp.ClientError, TimeoutError) as exc:
                wait = float(2 ** (attempt - 1))
                error = repr(exc)
            if attempt == self._attempts:
                log.warning("an alert to %s failed %d times: %s", channel, attempt, error)
                return None
            await asyncio.sleep(min(wait, self._max_wait))
        return None


def _retry_after(headers: Any) -> float:
    """Slack's Retry-After in seconds (1 when absent or unreadable)."""
    for name in ("Retry-After", "retry-after"):
        value = (headers or {}).get(name)
        if value is not None:
            try:
                return max(0.0, float(value[0] if isinstance(value, list) else value))
            except (TypeError, ValueError):
                break
    return 1.0


def slack_alerter(
    bot: WhymailSlack,
    store: Store,
    diagnoser: Diagnoser,
    *,
    known_verdicts: Collection[str] = (),
) -> Alerter | None:
    """The alerter the Slack settings ask for, posting through `bot`; None when no channel
    asked for alerts. A verdict the trees do not know is refused here, at start-up, rather
    than never alerting: `known_verdicts` are the loaded trees' leaves."""
    policy = alert_policy(bot.settings)
    if not policy.enabled:
        return None
    unknown = sorted(policy.verdicts - set(known_verdicts)) if known_verdicts else []
    if unknown:
        raise ValueError(
            f"alerts for unknown verdicts: {', '.join(unknown)} "
            f"(the trees know: {', '.join(sorted(known_verdicts))})"
        )
    threads = AlertThreads(store)
    bot.alert_threads = threads
    return Alerter(diagnoser, store, policy, SlackAlerts(bot, threads), escape=esc)
