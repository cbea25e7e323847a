"""The Bolt app: what its listeners share (`WhymailSlack`) and the factory that wires them.

The listeners translate Slack requests into calls of the core and back: bot/slack/messages.py
for what people send (`/whymail`, mentions, DMs, App Home), bot/slack/buttons.py for button
presses and the lookup modal, bot/slack/middleware.py for what every request goes through.
Built by `build_app(settings, diagnoser, client=...)`, so tests point the client at a fake Web
API and a later OAuth install swaps the client for an installation store, with no rewrite.

Timing. Slack wants an acknowledgement within 3 s. Every listener acks (an empty or one-line
reply) and hands the lookup to `Inflight`, which runs it after the HTTP response has gone, so
listeners return at once. Bolt runs with `process_before_response=True`: it answers Slack when
the listener returns, instead of polling every 10 ms for the ack of a listener still running,
which under a burst of commands put every ack behind the whole burst. (A FaaS deployment, where
nothing runs after the response, would need Bolt's lazy listeners instead.) Shutdown waits for
the answers already promised.

Retries. Slack re-sends an event it thinks was not acknowledged (`X-Slack-Retry-Num`). Every
instance acks events before doing their work, so the reason tells what happened to the first
delivery: `http_timeout` means it arrived and its answer is on the way (possibly from another
instance): acknowledge and do nothing. `connection_failed` means it never arrived, and
`http_error` that an instance refused it before any listener ran (a bad signature, a crash
before dispatch): those carry no answer yet, so they are processed. No shared table is needed
for that; a per-process set of event ids also drops redeliveries that carry no retry headers
(Socket Mode). Slash commands and interactions are never retried by Slack.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.alerts import AlertThreads
from bot.chrome import Chrome
from bot.conversation import Asker, Conversation, Prefs, Request
from bot.conversation.pasted import note_lines
from bot.diagnose import Diagnoser
from bot.slack import blocks as bk
from bot.slack import buttons, messages
from bot.slack.audience import Classifier
from bot.slack.middleware import DropRetries, LearnHome
from bot.slack.mrkdwn import escape as esc
from bot.slack.settings import SlackSettings
from bot.slack.state import SeenEvents, Signer
from bot.trees import choose_locale
from bot.trees.status import KnowledgeSource, status

log = logging.getLogger(__name__)

COMMAND = "/whymail"
#: Seconds a shutdown waits for answers already acknowledged to Slack.
DRAIN_SECONDS = 10.0
#: The events the app subscribes to; app-manifest.yml must list exactly these.
EVENTS = ("app_mention", "message", "app_home_opened")


class Reactivation(Protocol):
    @property
    def ok(self) -> bool: ...

    @property
    def message(self) -> str: ...


class Reactivator(Protocol):
    """The ESP accounts (bot.sources.esp.EspSources): which are configured, and reactivation."""

    @property
    def clients(self) -> Mapping[str, Any]: ...

    async def reactivate(self, provider: str, address: str, actor: str) -> Reactivation: ...


class Inflight:
    """Work promised after an ack, run so that acknowledgements always come first.

    Slack gives 3 s for an ack and whymail aims at 0.1 s even when 50 commands arrive at
    once; an answer's CPU work (tree walk, rendering) on the same event loop would delay the
    acks queued behind it. So answers wait while requests are still being acknowledged (at
    most `MAX_DEFER` seconds, so a steady stream cannot starve them), and only a few run at a
    time. Shutdown waits for all of them rather than cancelling answers already promised.
    """

    MAX_DEFER = 0.25

    def __init__(self, concurrency: int = 4) -> None:
        self.tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(concurrency)
        self._acking = 0
        self._quiet = asyncio.Event()
        self._quiet.set()

    def acking(self) -> Callable[[], None]:
        """Count one request until it is acknowledged; call the returned function then."""
        self._acking += 1
        self._quiet.clear()
        done = False

        def acknowledged() -> None:
            nonlocal done
            if not done:
                done = True
                self._acking -= 1
                if self._acking == 0:
                    self._quiet.set()

        return acknowledged

    def start(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(self._run(work))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def _run(self, work: Coroutine[Any, Any, None]) -> None:
        async with self._slots:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._quiet.wait(), self.MAX_DEFER)
            try:
                await work
            except Exception:  # after the ack, the log is the only place an error can go
                log.exception("work after an acknowledgement failed")

    async def drain(self, seconds: float) -> None:
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=seconds)


def default_client(settings: SlackSettings) -> AsyncWebClient:
    """The Web API client: 429s wait for Retry-After, dropped connections are retried once.

    Inside a running event loop it gets one shared connection pool (slack_sdk otherwise opens
    a session, and a connection, per call); `WhymailSlack.aclose` closes it.
    """
    session = None
    with contextlib.suppress(RuntimeError):
        asyncio.get_running_loop()
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    return AsyncWebClient(
        token=settings.bot_token,
        base_url=settings.api_url,
        session=session,
        retry_handlers=retry_handlers(),
    )


def retry_handlers() -> list[AsyncRetryHandler]:
    return [AsyncRateLimitErrorRetryHandler(max_retry_count=2), AsyncConnectionErrorRetryHandler()]


@dataclass
class WhymailSlack:
    """The Bolt app plus what its listeners share; `app` is what adapters serve."""

    app: AsyncApp
    settings: SlackSettings
    conversation: Conversation
    signer: Signer
    classifier: Classifier
    knowledge: KnowledgeSource | None
    esp: Reactivator | None = None
    inflight: Inflight = field(default_factory=Inflight)
    seen: SeenEvents = field(default_factory=SeenEvents)
    #: Which messages are alerts, so replies in their threads are answered (None: no alerts).
    alert_threads: AlertThreads | None = None

    async def aclose(self) -> None:
        """Wait for promised answers, then close the shared connection pool."""
        await self.inflight.drain(DRAIN_SECONDS)
        session = self.app.client.session
        if session is not None and not session.closed:
            await session.close()

    async def report_problems(self, problems: Sequence[object]) -> None:
        """The knowledge watcher's fault callback: one problem (file:line: what) per line."""
        await self.report_fault("\n".join(str(p) for p in problems))

    async def report_fault(self, text: str) -> None:
        """Tell knowledge editors in their channel that an edit was refused."""
        channel = self.settings.fault_channel
        if not channel:
            return
        chrome = await self.chrome_for(None, channel)
        message = f":warning: {chrome('knowledge_refused')}\n```{esc(bk.clip(text, 2800))}```"
        try:
            await self.app.client.chat_postMessage(channel=channel, text=message)
        except SlackApiError as exc:
            log.warning("could not post the knowledge fault: %s", exc.response.get("error"))

    def knowledge_status(self) -> dict[str, Any]:
        return status(self.knowledge) if self.knowledge is not None else {"trees": None}

    async def chrome_for(
        self,
        user: str | None,
        channel: str | None,
        seen: str | None = None,
        tenant: str | None = None,
    ) -> Chrome:
        """The words for someone when there is no answer to speak for them (help, a notice, an
        error): the language they chose, else Slack's for them (`seen`), else the channel's."""
        chosen = None
        if user:
            try:
                chosen = await self.prefs.locale(user)
            except Exception:  # a preference that cannot be read is no reason not to answer
                log.exception("could not read a language preference")
        locale = choose_locale(chosen, seen, self.classifier.channel_locale(channel))
        return self.conversation.chrome(locale, tenant)

    @property
    def diagnoser(self) -> Diagnoser:
        return self.conversation.diagnoser

    @property
    def prefs(self) -> Prefs:
        return self.conversation.prefs

    async def answer(
        self,
        text: str,
        asker: Asker,
        *,
        channel: str | None,
        answers: Mapping[str, str] | None = None,
        locale: str | None = None,
        eml: bytes | None = None,
    ) -> bk.Message:
        """The conversation's reply for Slack: a notice, or the answers with their buttons."""
        request = Request(
            text,
            asker,
            locale=locale,
            place_locale=self.classifier.channel_locale(channel),
            answers=dict(answers or {}),
            eml=eml,
        )
        reply = await self.conversation.ask(request)
        chrome = self.conversation.chrome(reply.locale, asker.tenant)
        if reply.notice in ("not_linked", "no_failed_recipient"):
            why = note_lines(reply.bounce_notes, chrome)
            return bk.notice("\n".join([chrome(reply.notice), *why]))
        preface = []
        if reply.bounce:
            summary = bk.bounce_summary(reply.bounce, chrome, reply.bounce_notes, agent=asker.agent)
            preface.append(bk.section(summary))
        if not reply.parts:
            return bk.Message(
                chrome("nothing_to_look_up"),
                [*preface, bk.section(chrome("nothing_found")), bk.section(chrome("help"))],
            )
        # History is written after the answer is on its way; it never delays or costs one.
        self.inflight.start(self.conversation.remember(asker.user, text, reply))
        state = {"l": reply.locale, "ch": channel or "", "a": dict(answers or {})}
        offer = bk.Offer(
            share=asker.agent and bool(channel) and not (channel or "").startswith("D"),
            details=asker.agent,
        )
        return bk.answer_message(
            reply.parts,
            agent=asker.agent,
            chrome=chrome,
            offer=offer,
            state=state,
            sign=self.signer.sign,
            preface=preface,
        )

    async def respond(self, url: str | None, message: bk.Message, *, replace: bool = False) -> None:
        """Post through `response_url`: ephemeral, retried on 429 like the Web API client."""
        if not url:
            return
        webhook = AsyncWebhookClient(
            url=url, session=self.app.client.session, retry_handlers=retry_handlers()
        )
        response = await webhook.send_dict(
            {**message.as_kwargs(), "response_type": "ephemeral", "replace_original": replace}
        )
        if response.status_code != 200:
            log.warning("response_url answered %s: %s", response.status_code, response.body)


def build_app(
    settings: SlackSettings,
    conversation: Conversation,
    *,
    client: AsyncWebClient | None = None,
    knowledge: KnowledgeSource | None = None,
    esp: Reactivator | None = None,
) -> WhymailSlack:
    """The whole Slack side over a conversation built with the mrkdwn escaper. `client`
    defaults to one built from `settings` (token, API URL)."""
    client = client or default_client(settings)
    secret = settings.signing_secret or settings.bot_token or client.token
    if not secret:
        raise ValueError("Slack needs SLACK_SIGNING_SECRET (HTTP) or SLACK_BOT_TOKEN (Socket Mode)")
    app = AsyncApp(
        client=client,
        signing_secret=settings.signing_secret,
        request_verification_enabled=bool(settings.signing_secret),
        process_before_response=True,
        name="whymail",
    )
    bot = WhymailSlack(
        app=app,
        settings=settings,
        conversation=conversation,
        signer=Signer(secret),
        classifier=Classifier(settings),
        knowledge=knowledge,
        esp=esp,
    )
    _register(bot)
    return bot


def _register(bot: WhymailSlack) -> None:
    app = bot.app
    app.middleware(DropRetries(bot.seen))
    app.middleware(LearnHome(bot.classifier))
    app.command(COMMAND)(messages.command(bot))
    app.event("app_mention")(messages.mention(bot))
    app.event("message")(messages.direct_message(bot))
    app.event("app_home_opened")(messages.home(bot))
    app.action(re.compile(f"^{bk.ACTION_SHARE}:"))(_after_ack(bot, buttons.share(bot)))
    app.action(re.compile(f"^{bk.ACTION_DETAILS}:"))(_after_ack(bot, buttons.details(bot)))
    app.action(re.compile(f"^{bk.ACTION_ANSWER}:"))(_after_ack(bot, buttons.answer_question(bot)))
    app.action(re.compile(f"^{bk.ACTION_REACTIVATE}:"))(_after_ack(bot, buttons.reactivate(bot)))
    app.action(bk.ACTION_NEW_LOOKUP)(_after_ack(bot, buttons.new_lookup(bot)))
    app.view(bk.VIEW_LOOKUP)(buttons.lookup_submitted(bot))
    app.error(_error)


def _after_ack(bot: WhymailSlack, handler: buttons.Handler) -> Callable[..., Awaitable[None]]:
    """Ack at once and leave the work to `bot.inflight`, so Slack's HTTP response never waits."""

    async def listener(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        bot.inflight.start(handler(body, action, client))

    return listener


async def _error(error: Exception, body: dict[str, Any]) -> None:
    log.error("Slack request failed: %s (%s)", error, body.get("type"), exc_info=error)
