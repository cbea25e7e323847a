"""The Bolt app: listeners that translate Slack requests into calls of the core, and back.

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
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import aiohttp
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.bounces import BouncedRecipient, parse_bounce
from bot.diagnose import Diagnoser, Report
from bot.query import parse
from bot.slack import blocks as bk
from bot.slack.audience import AGENT, CUSTOMER, Asker, Classifier, Where, choose_locale
from bot.slack.files import FileRefused, download_eml, is_eml
from bot.slack.settings import SlackSettings
from bot.slack.state import BadState, Lookup, MemoryPrefs, Prefs, SeenEvents, Signer
from bot.trees import LOCALES, Knowledge
from bot.trees import mrkdwn_escape as esc

log = logging.getLogger(__name__)

COMMAND = "/whymail"
#: Seconds a shutdown waits for answers already acknowledged to Slack.
DRAIN_SECONDS = 10.0
#: The events the app subscribes to; app-manifest.yml must list exactly these.
EVENTS = ("app_mention", "message", "app_home_opened")
_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")
_BOUNCE_HINT = re.compile(
    r"(?im)^(?:final-recipient|diagnostic-code|status|action):"
    r"|\b[245]\d\d[ -][245]\.\d{1,3}\.\d{1,3}\b"
    r"|delivery (?:has )?failed|undeliver|mail delivery (?:subsystem|failed)"
)
_NOT_LINKED = (
    "I can only look things up for the account this conversation belongs to, and I cannot "
    "tell which one that is here. Please ask in your shared support channel, or ask your "
    "contact to link this channel."
)
_LANG_USAGE = (
    f"Use `/whymail lang {'|'.join(LOCALES)}`, or `/whymail lang auto` for Slack's language."
)


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


class KnowledgeStatus(Protocol):
    """What App Home and /healthz show about the trees (a live-reload watcher offers more)."""

    def current(self) -> Knowledge: ...


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
    diagnoser: Diagnoser
    signer: Signer
    classifier: Classifier
    prefs: Prefs
    knowledge: KnowledgeStatus | None
    esp: Reactivator | None = None
    inflight: Inflight = field(default_factory=Inflight)
    seen: SeenEvents = field(default_factory=SeenEvents)

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
        message = (
            ":warning: A knowledge edit was refused; the bot keeps the last good trees.\n"
            f"```{esc(bk.clip(text, 2800))}```"
        )
        try:
            await self.app.client.chat_postMessage(channel=channel, text=message)
        except SlackApiError as exc:
            log.warning("could not post the knowledge fault: %s", exc.response.get("error"))

    def knowledge_status(self) -> dict[str, Any]:
        source = self.knowledge
        if source is None:
            return {"trees": None}
        status: dict[str, Any] = {}
        try:
            status["trees"] = len(source.current().trees)
        except Exception as exc:  # a status page must render even when the trees do not
            status["trees"], status["last_error"] = 0, str(exc)
        loaded = getattr(source, "loaded_at", None)
        if isinstance(loaded, datetime):
            loaded = loaded.isoformat(timespec="seconds")
        elif isinstance(loaded, int | float):
            loaded = datetime.fromtimestamp(loaded, UTC).isoformat(timespec="seconds")
        status["loaded_at"] = loaded
        error = getattr(source, "last_error", None)
        if error:
            status["last_error"] = str(error)
        return status

    # -- the answering core, shared by every entry point ------------------------------------

    async def answer(
        self,
        text: str,
        asker: Asker,
        *,
        channel: str | None,
        visible_to_channel: bool,
        answers: Mapping[str, str] | None = None,
        locale: str | None = None,
        preface: list[bk.Block] | None = None,
    ) -> bk.Message:
        if not asker.allowed:
            return bk.notice(_NOT_LINKED)
        chosen = locale or await self.locale_for(asker, text, channel)
        report = await self.diagnoser.ask(
            text,
            locale=chosen,
            audience=asker.audience,
            tenant=asker.tenant,
            escape=esc,
            answers=answers,
        )
        if report.empty or not report.diagnoses:
            return bk.Message(
                "Nothing to look up",
                [
                    *(preface or []),
                    bk.section("I found no address or dispatch id to look up."),
                    bk.section(bk.HELP),
                ],
            )
        # History is written after the answer is on its way; it never delays or costs one.
        self.inflight.start(self._remember(asker.user, text, report))
        state = {"l": chosen, "ch": channel or "", "a": dict(answers or {})}
        offer = bk.Offer(
            share=asker.agent and bool(channel) and not (channel or "").startswith("D"),
            details=asker.agent,
            reactivate=frozenset(self.esp.clients) if self.esp and asker.agent else frozenset(),
        )
        return bk.answer_message(
            report.diagnoses,
            agent=asker.agent,
            locale=chosen,
            offer=offer,
            state=state,
            sign=self.signer.sign,
            preface=preface or (),
        )

    async def locale_for(self, asker: Asker, text: str, channel: str | None) -> str:
        explicit = await self.prefs.locale(asker.user) or parse(text).locale_hint
        return choose_locale(explicit, asker.locale, self.classifier.channel_locale(channel))

    async def _remember(self, user: str, text: str, report: Report) -> None:
        verdicts = ", ".join(dict.fromkeys(d.verdict for d in report.diagnoses))
        try:
            await self.prefs.remember(
                user, Lookup(bk.clip(" ".join(text.split()), 200), verdicts, time.time())
            )
        except Exception:  # history is a convenience; it never costs an answer
            log.exception("could not remember a lookup")

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
    diagnoser: Diagnoser,
    *,
    client: AsyncWebClient | None = None,
    prefs: Prefs | None = None,
    knowledge: KnowledgeStatus | None = None,
    esp: Reactivator | None = None,
) -> WhymailSlack:
    """The whole Slack side. `client` defaults to one built from `settings` (token, API URL)."""
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
        diagnoser=diagnoser,
        signer=Signer(secret),
        classifier=Classifier(settings),
        prefs=prefs or MemoryPrefs(),
        knowledge=knowledge,
        esp=esp,
    )
    _register(bot)
    return bot


def _register(bot: WhymailSlack) -> None:
    app = bot.app
    app.middleware(_DropRetries(bot.seen))
    app.middleware(_LearnHome(bot.classifier))
    app.command(COMMAND)(_command(bot))
    app.event("app_mention")(_mention(bot))
    app.event("message")(_direct_message(bot))
    app.event("app_home_opened")(_home(bot))
    app.action(re.compile(f"^{bk.ACTION_SHARE}:"))(_after_ack(bot, _share(bot)))
    app.action(re.compile(f"^{bk.ACTION_DETAILS}:"))(_after_ack(bot, _details(bot)))
    app.action(re.compile(f"^{bk.ACTION_ANSWER}:"))(_after_ack(bot, _answer_question(bot)))
    app.action(re.compile(f"^{bk.ACTION_REACTIVATE}:"))(_after_ack(bot, _reactivate(bot)))
    app.action(bk.ACTION_NEW_LOOKUP)(_after_ack(bot, _new_lookup(bot)))
    app.view(bk.VIEW_LOOKUP)(_lookup_submitted(bot))
    app.error(_error)


#: A button's work, run after its ack: (payload, the pressed action, Web API client).
Handler = Callable[[dict[str, Any], dict[str, Any], AsyncWebClient], Coroutine[Any, Any, None]]


def _after_ack(bot: WhymailSlack, handler: Handler) -> Callable[..., Awaitable[None]]:
    """Ack at once and leave the work to `bot.inflight`, so Slack's HTTP response never waits."""

    async def listener(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        bot.inflight.start(handler(body, action, client))

    return listener


class _DropRetries(AsyncMiddleware):
    """Slack's retries of events already being answered get an empty 200 and no work.

    A middleware class rather than a function: Bolt then skips its per-call argument
    injection, which is a noticeable share of an acknowledgement's cost under a burst.
    """

    def __init__(self, seen: SeenEvents) -> None:
        self._seen = seen

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse | None:
        event_id = req.body.get("event_id")
        reason = _header(req, "x-slack-retry-reason")
        if _header(req, "x-slack-retry-num") and reason == "http_timeout":
            log.info("retry of %s dropped: the first delivery is being answered", event_id)
            return BoltResponse(status=200, body="", headers={"X-Slack-No-Retry": "1"})
        if isinstance(event_id, str) and not self._seen.first_time(event_id):
            return BoltResponse(status=200, body="", headers={"X-Slack-No-Retry": "1"})
        return await next()


class _LearnHome(AsyncMiddleware):
    """Tells the classifier which team installed the app (from Bolt's `auth.test`)."""

    def __init__(self, classifier: Classifier) -> None:
        self._classifier = classifier

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse | None:
        result = req.context.authorize_result
        if result is not None:
            self._classifier.learn_home(result.team_id, result.enterprise_id)
        return await next()


def _header(req: AsyncBoltRequest, name: str) -> str | None:
    values = req.headers.get(name)
    return values[0] if values else None


def _command(bot: WhymailSlack) -> Callable[..., Awaitable[None]]:
    async def on_command(ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient) -> None:
        text = str(command.get("text") or "").strip()
        first, _, rest = text.partition(" ")
        if not text or first.lower() == "help":
            await ack(**bk.help_message().as_kwargs())
            return
        if (
            first.lower() in ("lang", "language", "språk", "taal", "idioma")
            and len(rest.split()) <= 1
        ):
            await ack(**(await _set_lang(bot, command["user_id"], rest.strip())).as_kwargs())
            return
        await ack(text=f":mag: Looking up {esc(bk.clip(' '.join(text.split()), 200))} …")
        where = Where(
            user=command["user_id"],
            channel=command.get("channel_id"),
            team=command.get("team_id"),
            is_im=str(command.get("channel_id") or "").startswith("D"),
        )

        async def work() -> None:
            try:
                asker = await bot.classifier.classify(client, where, visible_to_channel=False)
                message = await _answer_text(bot, text, asker, channel=where.channel, visible=False)
            except Exception:
                log.exception("slash command failed")
                message = bk.notice(
                    "Something went wrong while looking that up; it has been logged."
                )
            await bot.respond(command.get("response_url"), message, replace=True)

        bot.inflight.start(work())

    return on_command


async def _set_lang(bot: WhymailSlack, user: str, value: str) -> bk.Message:
    if not value:
        current = await bot.prefs.locale(user)
        return bk.notice(f"Your language: {esc(current or 'automatic')}. {_LANG_USAGE}")
    if value.lower() == "auto":
        await bot.prefs.set_locale(user, "")
        return bk.notice("I will answer in your Slack language (or the channel's).")
    chosen = next((loc for loc in LOCALES if loc.lower() == value.lower()), None)
    if chosen is None:
        return bk.notice(f"I do not speak {esc(bk.clip(value, 20))} yet. {_LANG_USAGE}")
    await bot.prefs.set_locale(user, chosen)
    return bk.notice(f"From now on I answer you in {chosen}.")


async def _answer_text(
    bot: WhymailSlack,
    text: str,
    asker: Asker,
    *,
    channel: str | None,
    visible: bool,
    eml: bytes | None = None,
) -> bk.Message:
    """Pasted bounces and .eml files are explained, then their recipients are looked up."""
    rows: list[BouncedRecipient] = []
    if eml is not None:
        rows = parse_bounce(eml)
        if not rows:
            return bk.notice("I could not find a failed recipient in that email.")
    elif "\n" in text and _BOUNCE_HINT.search(text):
        rows = parse_bounce(text)
    if not rows:
        return await bot.answer(text, asker, channel=channel, visible_to_channel=visible)
    preface = [bk.section(_bounce_summary(rows))]
    query = " ".join(dict.fromkeys(r.recipient for r in rows))
    return await bot.answer(
        query, asker, channel=channel, visible_to_channel=visible, preface=preface
    )


def _bounce_summary(rows: list[BouncedRecipient]) -> str:
    lines = ["*This bounce email says:*"]
    for row in rows[:10]:
        kind = {True: "hard bounce", False: "soft bounce", None: "bounce"}[row.hard]
        code = " ".join(str(p) for p in (row.smtp_code, row.status) if p)
        lines.append(f"• {esc(row.recipient)}: {kind}, `{esc(row.reason)}` {esc(code)}".rstrip())
        if row.diagnostic:
            lines.append(f">server said: `{esc(bk.clip(bk.one_line(row.diagnostic), 300))}`")
    if len(rows) > 10:
        lines.append(f"+{len(rows) - 10} more recipients")
    return "\n".join(lines)


def _mention(bot: WhymailSlack) -> Callable[..., Awaitable[None]]:
    async def on_mention(
        event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        text = _MENTION.sub(" ", str(event.get("text") or "")).strip()
        where = Where(
            user=str(event.get("user") or ""),
            channel=event.get("channel"),
            team=event.get("team"),
            ext_shared_hint=bool(body.get("is_ext_shared_channel")),
        )
        files = [f for f in event.get("files") or () if isinstance(f, dict)]
        bot.inflight.start(_reply_in_thread(bot, client, event, where, text, files=files))

    return on_mention


def _direct_message(bot: WhymailSlack) -> Callable[..., Awaitable[None]]:
    async def on_message(
        event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        if event.get("channel_type") != "im" or event.get("bot_id"):
            return
        if event.get("subtype") not in (None, "file_share"):
            return
        where = Where(
            user=str(event.get("user") or ""),
            channel=event.get("channel"),
            team=event.get("team"),
            ext_shared_hint=bool(body.get("is_ext_shared_channel")),
            is_im=True,
        )
        files = [f for f in event.get("files") or () if isinstance(f, dict)]
        text = str(event.get("text") or "")
        bot.inflight.start(_reply_in_thread(bot, client, event, where, text, files=files))

    return on_message


async def _reply_in_thread(
    bot: WhymailSlack,
    client: AsyncWebClient,
    event: dict[str, Any],
    where: Where,
    text: str,
    *,
    files: list[dict[str, Any]] | None = None,
) -> None:
    if not where.user or not where.channel:
        return
    thread = event.get("thread_ts") or event.get("ts")
    try:
        asker = await bot.classifier.classify(client, where, visible_to_channel=not where.is_im)
        eml = None
        emls = [f for f in files or () if is_eml(f) and f.get("id")]
        if emls and asker.agent:
            eml = await download_eml(
                client,
                str(emls[0]["id"]),
                token=str(client.token or ""),
                api_url=bot.settings.api_url,
            )
        if not text.strip() and eml is None:
            message = bk.help_message()
        else:
            message = await _answer_text(
                bot, text, asker, channel=where.channel, visible=not where.is_im, eml=eml
            )
    except FileRefused as exc:
        message = bk.notice(esc(str(exc)))
    except Exception:
        log.exception("answering a message failed")
        message = bk.notice("Something went wrong while looking that up; it has been logged.")
    await client.chat_postMessage(channel=where.channel, thread_ts=thread, **message.as_kwargs())


def _home(bot: WhymailSlack) -> Callable[..., Awaitable[None]]:
    async def on_home(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") == "home":
            bot.inflight.start(publish(str(event.get("user") or ""), client))

    async def publish(user: str, client: AsyncWebClient) -> None:
        recent = [(r.text, r.verdict, r.at) for r in await bot.prefs.recent(user)]
        view = bk.home_view(
            recent=recent,
            status=bot.knowledge_status(),
            lookup_value=bot.signer.sign({"src": "home", "u": user}),
        )
        await client.views_publish(user_id=user, view=view)

    return on_home


async def _presser(
    bot: WhymailSlack, client: AsyncWebClient, body: dict[str, Any], *, visible: bool
) -> Asker:
    channel = (body.get("channel") or {}).get("id")
    where = Where(
        user=str((body.get("user") or {}).get("id") or ""),
        channel=channel,
        team=(body.get("team") or {}).get("id"),
        is_im=str(channel or "").startswith("D"),
    )
    return await bot.classifier.classify(client, where, visible_to_channel=visible)


def _state(bot: WhymailSlack, action: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return bot.signer.verify(str(action.get("value") or ""))
    except BadState as exc:
        log.warning("refused button state: %s", exc)
        return None


_EXPIRED = bk.notice("This button has expired or was not made by me; please ask again.")
_AGENTS_ONLY = bk.notice("Only the support team can use this button.")


def _share(bot: WhymailSlack) -> Handler:
    async def on_share(
        body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        url = body.get("response_url")
        state = _state(bot, action)
        channel = (body.get("channel") or {}).get("id")
        if state is None or not channel or state.get("ch") != channel:
            await bot.respond(url, _EXPIRED)
            return
        presser = await _presser(bot, client, body, visible=False)
        if not presser.agent:
            await bot.respond(url, _AGENTS_ONLY)
            return
        tenant = bot.classifier.channel_tenant(channel)
        if tenant is None and await bot.classifier.channel_external(client, channel):
            await bot.respond(
                url,
                bk.notice(
                    "This channel is shared with people outside your organisation but not linked "
                    "to a tenant (`slack_channels` in the config), so I will not post here."
                ),
            )
            return
        customer = Asker(presser.user, CUSTOMER, tenant, True, None, True, "shared by an agent")
        locale = bot.classifier.channel_locale(channel) or state.get("l")
        message = await bot.answer(
            str(state.get("q") or ""),
            customer,
            channel=channel,
            visible_to_channel=True,
            answers=state.get("a"),
            locale=choose_locale(locale, None, None),
        )
        await client.chat_postMessage(channel=channel, **message.as_kwargs())
        await bot.respond(url, bk.notice("Shared in this channel, in the customer's words."))

    return on_share


def _details(bot: WhymailSlack) -> Handler:
    async def on_details(
        body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        opened = await client.views_open(trigger_id=body["trigger_id"], view=bk.loading_view())
        view_id = (opened.get("view") or {}).get("id")
        state = _state(bot, action)
        presser = await _presser(bot, client, body, visible=False)
        if state is None:
            view = bk.modal("Details", [bk.section(_EXPIRED.text)], callback_id=bk.VIEW_DETAILS)
        elif not presser.agent:
            view = bk.modal("Details", [bk.section(_AGENTS_ONLY.text)], callback_id=bk.VIEW_DETAILS)
        else:
            report = await bot.diagnoser.ask(
                str(state.get("q") or ""),
                locale=state.get("l"),
                audience=AGENT,
                escape=esc,
                answers=state.get("a"),
            )
            view = bk.details_view(report.diagnoses)
        await client.views_update(view_id=view_id, view=view)

    return on_details


def _answer_question(bot: WhymailSlack) -> Handler:
    async def on_answer(
        body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        url = body.get("response_url")
        state = _state(bot, action)
        if state is None:
            await bot.respond(url, _EXPIRED)
            return
        ephemeral = bool((body.get("container") or {}).get("is_ephemeral"))
        presser = await _presser(bot, client, body, visible=not ephemeral)
        channel = (body.get("channel") or {}).get("id")
        message = await bot.answer(
            str(state.get("q") or ""),
            presser,
            channel=channel,
            visible_to_channel=not ephemeral,
            answers=state.get("a"),
            locale=state.get("l"),
        )
        await bot.respond(url, message, replace=True)

    return on_answer


def _reactivate(bot: WhymailSlack) -> Handler:
    async def on_reactivate(
        body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        url = body.get("response_url")
        state = _state(bot, action)
        if state is None or not state.get("p") or not state.get("r") or bot.esp is None:
            await bot.respond(url, _EXPIRED)
            return
        presser = await _presser(bot, client, body, visible=False)
        if not presser.agent:
            await bot.respond(url, _AGENTS_ONLY)
            return
        team = (body.get("team") or {}).get("id") or ""
        actor = f"slack:{team}:{presser.user}"
        result = await bot.esp.reactivate(str(state["p"]), str(state["r"]), actor)
        icon = ":white_check_mark:" if result.ok else ":x:"
        what = "reactivated" if result.ok else "not reactivated"
        text = f"{icon} {esc(str(state['r']))} {what} at {esc(str(state['p']))}"
        if result.message:
            text += f": {esc(bk.clip(result.message, 500))}"
        await bot.respond(url, bk.notice(text))

    return on_reactivate


def _new_lookup(bot: WhymailSlack) -> Handler:
    async def on_new_lookup(
        body: dict[str, Any], _: dict[str, Any], client: AsyncWebClient
    ) -> None:
        user = str((body.get("user") or {}).get("id") or "")
        metadata = bot.signer.sign({"src": "home", "u": user}, limit=3000)
        await client.views_open(trigger_id=body["trigger_id"], view=bk.lookup_view(metadata))

    return on_new_lookup


def _lookup_submitted(bot: WhymailSlack) -> Callable[..., Awaitable[None]]:
    async def on_lookup(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        user = str((body.get("user") or {}).get("id") or "")
        try:
            meta = bot.signer.verify(str(view.get("private_metadata") or ""))
        except BadState:
            meta = {}
        if meta.get("u") != user:
            await ack(
                response_action="errors", errors={"query": "This form has expired; open it again."}
            )
            return
        await ack()
        text = str(
            ((view.get("state") or {}).get("values") or {})
            .get("query", {})
            .get("text", {})
            .get("value")
            or ""
        )
        where = Where(user=user, channel=None, team=(body.get("team") or {}).get("id"), is_im=True)

        async def work() -> None:
            asker = await bot.classifier.classify(client, where, visible_to_channel=False)
            message = await _answer_text(bot, text, asker, channel=None, visible=False)
            await client.chat_postMessage(channel=user, **message.as_kwargs())

        bot.inflight.start(work())

    return on_lookup


async def _error(error: Exception, body: dict[str, Any]) -> None:
    log.error("Slack request failed: %s (%s)", error, body.get("type"), exc_info=error)
