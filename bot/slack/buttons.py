"""Button presses and the lookup modal. Their state comes signed in the button's value or the
view's `private_metadata`, so whichever instance receives a press can finish it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

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
        await bot.respond(body.get("response_url"), _AGENTS_ONLY)
        return None
    return presser


def _state(bot: WhymailSlack, action: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return bot.signer.verify(str(action.get("value") or ""))
    except BadState as exc:
        log.warning("refused button state: %s", exc)
        return None


_EXPIRED = bk.notice("This button has expired or was not made by me; please ask again.")
_AGENTS_ONLY = bk.notice("Only the support team can use this button.")


#: A press whose signed state checked out: (payload, that state, Web API client).
Pressed = Callable[[dict[str, Any], dict[str, Any], AsyncWebClient], Awaitable[None]]


def _signed(bot: WhymailSlack, work: Pressed) -> Handler:
    """Run `work` only for a button whose state this app signed; anything else has expired."""

    async def on_press(
        body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        state = _state(bot, action)
        if state is None:
            await bot.respond(body.get("response_url"), _EXPIRED)
            return
        await work(body, state, client)

    return on_press


def share(bot: WhymailSlack) -> Handler:
    async def on_share(body: dict[str, Any], state: dict[str, Any], client: AsyncWebClient) -> None:
        url = body.get("response_url")
        channel = (body.get("channel") or {}).get("id")
        if not channel or state.get("ch") != channel:  # a copy of the button, posted elsewhere
            await bot.respond(url, _EXPIRED)
            return
        presser = await _agent(bot, client, body)
        if presser is None:
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
            answers=state.get("a"),
            locale=choose_locale(locale, None, None),
        )
        await client.chat_postMessage(channel=channel, **message.as_kwargs())
        await bot.respond(url, bk.notice("Shared in this channel, in the customer's words."))

    return _signed(bot, on_share)


def details(bot: WhymailSlack) -> Handler:
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
            await bot.respond(url, _EXPIRED)
            return
        presser = await _agent(bot, client, body)
        if presser is None:
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

    return _signed(bot, on_reactivate)


def new_lookup(bot: WhymailSlack) -> Handler:
    async def on_new_lookup(
        body: dict[str, Any], _: dict[str, Any], client: AsyncWebClient
    ) -> None:
        user = str((body.get("user") or {}).get("id") or "")
        metadata = bot.signer.sign({"src": "home", "u": user}, limit=3000)
        await client.views_open(trigger_id=body["trigger_id"], view=bk.lookup_view(metadata))

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
            message = await bot.answer(text, asker, channel=None)
            await client.chat_postMessage(channel=user, **message.as_kwargs())

        bot.inflight.start(work())

    return on_lookup
