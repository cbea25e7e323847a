"""Button presses and the lookup modal. Their state comes signed in the button's value or the
view's `private_metadata`, so whichever instance receives a press can finish it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.chrome import Chrome
from bot.conversation import AGENT, CUSTOMER, Asker
from bot.slack import blocks as bk
from bot.slack.audience import Where
from bot.slack.mrkdwn import escape as esc
from bot.slack.state import BadState
from bot.trees import choose_locale

if TYPE_CHECKING:
    from bot.slack.app import WhymailSlack

log = logging.getLogger(__name__)

#: A button's work, run after its ack: (payload, the pressed action, Web API client).
Handler = Callable[[dict[str, Any], dict[str, Any], AsyncWebClient], Coroutine[Any, Any, None]]


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


async def _agent(bot: WhymailSlack, client: AsyncWebClient, body: dict[str, Any]) -> Asker | None:
    """The presser of an agents-only button, or None once they have been told it is not theirs."""
    presser = await _presser(bot, client, body, visible=False)
    if not presser.agent:
        chrome = await _chrome(bot, body, presser.locale)
        await bot.respond(body.get("response_url"), bk.notice(chrome("agents_only")))
        return None
    return presser


async def _chrome(bot: WhymailSlack, body: dict[str, Any], seen: str | None = None) -> Chrome:
    """The words for whoever pressed: their language, else the channel's."""
    user = (body.get("user") or {}).get("id")
    return await bot.chrome_for(user, (body.get("channel") or {}).get("id"), seen)


def _state(bot: WhymailSlack, action: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return bot.signer.verify(str(action.get("value") or ""))
    except BadState as exc:
        log.warning("refused button state: %s", exc)
        return None


async def _expired(bot: WhymailSlack, body: dict[str, Any]) -> None:
    chrome = await _chrome(bot, body)
    await bot.respond(body.get("response_url"), bk.notice(chrome("expired")))


#: A press whose signed state checked out: (payload, that state, Web API client).
Pressed = Callable[[dict[str, Any], dict[str, Any], AsyncWebClient], Awaitable[None]]


def _signed(bot: WhymailSlack, work: Pressed) -> Handler:
    """Run `work` only for a button whose state this app signed; anything else has expired."""

    async def on_press(
        body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        state = _state(bot, action)
        if state is None:
            await _expired(bot, body)
            return
        await work(body, state, client)

    return on_press


def share(bot: WhymailSlack) -> Handler:
    async def on_share(body: dict[str, Any], state: dict[str, Any], client: AsyncWebClient) -> None:
        url = body.get("response_url")
        channel = (body.get("channel") or {}).get("id")
        if not channel or state.get("ch") != channel:  # a copy of the button, posted elsewhere
            await _expired(bot, body)
            return
        presser = await _agent(bot, client, body)
        if presser is None:
            return
        tenant = bot.classifier.channel_tenant(channel)
        chrome = await _chrome(bot, body, presser.locale)
        if tenant is None and await bot.classifier.channel_external(client, channel):
            await bot.respond(url, bk.notice(chrome("share_not_linked")))
            return
        customer = Asker(presser.user, CUSTOMER, tenant, True, None, True, "shared by an agent")
        locale = bot.classifier.channel_locale(channel) or state.get("l")
        message = await bot.answer(
            str(state.get("q") or ""),
            customer,
            channel=channel,
            answers=state.get("a"),
            locale=choose_locale(locale, None, None),
        )
        await client.chat_postMessage(channel=channel, **message.as_kwargs())
        await bot.respond(url, bk.notice(chrome("shared")))

    return _signed(bot, on_share)


def details(bot: WhymailSlack) -> Handler:
    async def on_details(
        body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        state = _state(bot, action)
        # The window opens at once (its trigger expires in 3 s), in the answer's language.
        chrome = (
            bot.conversation.chrome(choose_locale(state.get("l"), None, None))
            if state is not None
            else await _chrome(bot, body)
        )
        opened = await client.views_open(
            trigger_id=body["trigger_id"], view=bk.loading_view(chrome)
        )
        view_id = (opened.get("view") or {}).get("id")
        presser = await _presser(bot, client, body, visible=False)
        if state is None or not presser.agent:
            why = chrome("expired") if state is None else chrome("agents_only")
            view = bk.modal(
                chrome("details"), [bk.section(why)], chrome=chrome, callback_id=bk.VIEW_DETAILS
            )
        else:
            report = await bot.diagnoser.ask(
                str(state.get("q") or ""),
                locale=state.get("l"),
                audience=AGENT,
                escape=esc,
                answers=state.get("a"),
            )
            view = bk.details_view(report.diagnoses, chrome)
        await client.views_update(view_id=view_id, view=view)

    return on_details


def answer_question(bot: WhymailSlack) -> Handler:
    async def on_answer(
        body: dict[str, Any], state: dict[str, Any], client: AsyncWebClient
    ) -> None:
        url = body.get("response_url")
        ephemeral = bool((body.get("container") or {}).get("is_ephemeral"))
        presser = await _presser(bot, client, body, visible=not ephemeral)
        channel = (body.get("channel") or {}).get("id")
        message = await bot.answer(
            str(state.get("q") or ""),
            presser,
            channel=channel,
            answers=state.get("a"),
            locale=state.get("l"),
        )
        await bot.respond(url, message, replace=True)

    return _signed(bot, on_answer)


def reactivate(bot: WhymailSlack) -> Handler:
    async def on_reactivate(
        body: dict[str, Any], state: dict[str, Any], client: AsyncWebClient
    ) -> None:
        url = body.get("response_url")
        if not state.get("p") or not state.get("r") or bot.esp is None:
            await _expired(bot, body)
            return
        presser = await _agent(bot, client, body)
        if presser is None:
            return
        team = (body.get("team") or {}).get("id") or ""
        actor = f"slack:{team}:{presser.user}"
        result = await bot.esp.reactivate(str(state["p"]), str(state["r"]), actor)
        chrome = bot.conversation.chrome(choose_locale(state.get("l"), presser.locale, None))
        icon = ":white_check_mark:" if result.ok else ":x:"
        what = chrome(
            "reactivated" if result.ok else "not_reactivated",
            address=esc(str(state["r"])),
            provider=esc(str(state["p"])),
        )
        text = f"{icon} {what}"
        if result.message:
            text += f": {esc(bk.clip(result.message, 500))}"
        await bot.respond(url, bk.notice(text))

    return _signed(bot, on_reactivate)


def new_lookup(bot: WhymailSlack) -> Handler:
    async def on_new_lookup(
        body: dict[str, Any], _: dict[str, Any], client: AsyncWebClient
    ) -> None:
        user = str((body.get("user") or {}).get("id") or "")
        metadata = bot.signer.sign({"src": "home", "u": user}, limit=3000)
        chrome = await _chrome(bot, body)
        await client.views_open(
            trigger_id=body["trigger_id"], view=bk.lookup_view(metadata, chrome)
        )

    return on_new_lookup


def lookup_submitted(bot: WhymailSlack) -> Callable[..., Awaitable[None]]:
    async def on_lookup(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        user = str((body.get("user") or {}).get("id") or "")
        try:
            meta = bot.signer.verify(str(view.get("private_metadata") or ""))
        except BadState:
            meta = {}
        if meta.get("u") != user:
            chrome = await bot.chrome_for(user, None)
            await ack(response_action="errors", errors={"query": chrome("form_expired")})
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
            message = await bot.answer(text, asker, channel=None)
            await client.chat_postMessage(channel=user, **message.as_kwargs())

        bot.inflight.start(work())

    return on_lookup
