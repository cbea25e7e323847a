"""Listeners for what people send the bot: `/whymail`, @mentions, direct messages, App Home.

Each acknowledges at once and hands the lookup to `bot.inflight` (see bot/slack/app.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.chrome import Chrome
from bot.slack import blocks as bk
from bot.slack.audience import Where
from bot.slack.files import FileRefused, download_eml, is_eml
from bot.slack.mrkdwn import escape as esc
from bot.trees import LOCALES

if TYPE_CHECKING:
    from bot.slack.app import WhymailSlack

log = logging.getLogger(__name__)

_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")


def command(bot: WhymailSlack) -> Callable[..., Awaitable[None]]:
    async def on_command(ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient) -> None:
        text = str(command.get("text") or "").strip()
        first, _, rest = text.partition(" ")
        chrome = await bot.chrome_for(command.get("user_id"), command.get("channel_id"))
        if not text or first.lower() == "help":
            await ack(**bk.help_message(chrome).as_kwargs())
            return
        if (
            first.lower() in ("lang", "language", "språk", "taal", "idioma")
            and len(rest.split()) <= 1
        ):
            reply = await _set_lang(bot, command["user_id"], rest.strip(), chrome)
            await ack(**reply.as_kwargs())
            return
        await ack(text=chrome("looking_up", text=esc(bk.clip(" ".join(text.split()), 200))))
        where = Where(
            user=command["user_id"],
            channel=command.get("channel_id"),
            team=command.get("team_id"),
            is_im=str(command.get("channel_id") or "").startswith("D"),
        )

        async def work() -> None:
            try:
                asker = await bot.classifier.classify(client, where, visible_to_channel=False)
                message = await bot.answer(text, asker, channel=where.channel)
            except Exception:
                log.exception("slash command failed")
                message = bk.notice(chrome("failed"))
            await bot.respond(command.get("response_url"), message, replace=True)

        bot.inflight.start(work())

    return on_command


async def _set_lang(bot: WhymailSlack, user: str, value: str, chrome: Chrome) -> bk.Message:
    usage = chrome("lang_usage", locales="|".join(LOCALES))
    if not value:
        current = await bot.prefs.locale(user)
        language = chrome.label(current) if current else chrome("lang_automatic")
        return bk.notice(f"{chrome('lang_current', language=esc(language))} {usage}")
    if value.lower() == "auto":
        await bot.prefs.set_locale(user, "")
        return bk.notice(chrome("lang_auto_set"))
    chosen = next((loc for loc in LOCALES if loc.lower() == value.lower()), None)
    if chosen is None:
        return bk.notice(f"{chrome('lang_unknown', value=esc(bk.clip(value, 20)))} {usage}")
    await bot.prefs.set_locale(user, chosen)
    # Told in the language just chosen: the first words in it confirm the choice.
    now = bot.conversation.chrome(chosen)
    return bk.notice(now("lang_set", language=now.label(chosen)))


def mention(bot: WhymailSlack) -> Callable[..., Awaitable[None]]:
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


def direct_message(bot: WhymailSlack) -> Callable[..., Awaitable[None]]:
    async def on_message(
        event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        if event.get("bot_id") or event.get("subtype") not in (None, "file_share"):
            return
        if event.get("channel_type") in ("channel", "group"):
            if _in_a_thread(event):
                bot.inflight.start(_alert_reply(bot, client, event, body))
            return
        if event.get("channel_type") != "im":
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


def _in_a_thread(event: dict[str, Any]) -> bool:
    thread = event.get("thread_ts")
    return bool(thread) and thread != event.get("ts")


async def _alert_reply(
    bot: WhymailSlack, client: AsyncWebClient, event: dict[str, Any], body: dict[str, Any]
) -> None:
    """A reply in an alert's thread is answered like a mention there, about the alert's
    subject. A reply that mentions someone is left alone: a mention of the bot is answered by
    the mention listener, and one of a colleague is meant for them."""
    text = str(event.get("text") or "")
    channel = str(event.get("channel") or "")
    if bot.alert_threads is None or _MENTION.search(text) or not channel:
        return
    subject = await bot.alert_threads.subject_of(channel, str(event["thread_ts"]))
    if subject is None:
        return
    where = Where(
        user=str(event.get("user") or ""),
        channel=channel,
        team=event.get("team"),
        ext_shared_hint=bool(body.get("is_ext_shared_channel")),
    )
    # The question is about the alert's recipient whatever the reply's words; a customer sees
    # the address, never our dispatch id, so the address is what is looked up.
    await _reply_in_thread(bot, client, event, where, f"{text}\n{subject.recipient}")


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
    seen: str | None = None
    try:
        asker = await bot.classifier.classify(client, where, visible_to_channel=not where.is_im)
        seen = asker.locale
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
            message = bk.help_message(await bot.chrome_for(where.user, where.channel, seen))
        else:
            message = await bot.answer(text, asker, channel=where.channel, eml=eml)
    except FileRefused as exc:
        chrome = await bot.chrome_for(where.user, where.channel, seen)
        message = bk.notice(esc(chrome(exc.key, **exc.values)))
    except Exception:
        log.exception("answering a message failed")
        chrome = await bot.chrome_for(where.user, where.channel, seen)
        message = bk.notice(chrome("failed"))
    await client.chat_postMessage(channel=where.channel, thread_ts=thread, **message.as_kwargs())


def home(bot: WhymailSlack) -> Callable[..., Awaitable[None]]:
    async def on_home(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") == "home":
            bot.inflight.start(publish(str(event.get("user") or ""), client))

    async def publish(user: str, client: AsyncWebClient) -> None:
        recent = [(r.text, r.verdict, r.at) for r in await bot.prefs.recent(user)]
        view = bk.home_view(
            recent=recent,
            status=bot.knowledge_status(),
            lookup_value=bot.signer.sign({"src": "home", "u": user}),
            chrome=await bot.chrome_for(user, None),
        )
        await client.views_publish(user_id=user, view=view)

    return on_home
