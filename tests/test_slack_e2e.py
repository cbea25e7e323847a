"""The Slack app end to end: signed HTTP into the app on a real socket, a fake Slack Web API
on another, loopback DNS, the e2e delivery data in a real SQLite store."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.trees import Knowledge, shipped
from testkit.fakeslack import (
    ACME,
    AGENT,
    CUSTOMER,
    DM,
    INTERNAL,
    SECRET,
    UNMAPPED,
    Call,
    form,
    signed_headers,
)
from tests.fakeslack import World, block_action, slack_world

KNOWLEDGE = Path(__file__).resolve().parent.parent / "knowledge"
OLA = "ola@firma.mailtest.test"  # acme, hard bounce
ERIK = "erik@firma.mailtest.test"  # tenant other; its SMTP reply carries <!channel> and a link


@pytest.fixture
async def world(tmp_path: Path, localdns_server: Any) -> AsyncIterator[World]:
    async with slack_world(tmp_path, localdns_server.host, localdns_server.port) as w:
        yield w


def texts(node: Any, *, mrkdwn_only: bool = False) -> Iterator[str]:
    """Every text a message or view carries (mrkdwn ones, or all of them)."""
    if isinstance(node, dict):
        text = node.get("text")
        if isinstance(text, str) and (not mrkdwn_only or node.get("type") != "plain_text"):
            yield text
        for key, value in node.items():
            if key != "text" or not isinstance(value, str):
                yield from texts(value, mrkdwn_only=mrkdwn_only)
    elif isinstance(node, list):
        for item in node:
            yield from texts(item, mrkdwn_only=mrkdwn_only)


def blob(call: Call) -> str:
    return "\n".join(texts(_blocks_of(call)))


def _blocks_of(call: Call) -> Any:
    body = dict(call.body)
    for key in ("blocks", "view"):
        if isinstance(body.get(key), str):
            body[key] = json.loads(body[key])
    return body


def buttons(call: Call) -> dict[str, str]:
    """action_id prefix → value of every button in a message."""
    found: dict[str, str] = {}
    for block in _blocks_of(call).get("blocks") or ():
        for element in block.get("elements") or ():
            if element.get("type") == "button":
                found.setdefault(element["action_id"].split(":")[0], element["value"])
                found.setdefault(element["action_id"], element["value"])
    return found


async def test_slash_command_acks_before_the_slow_work(world: World) -> None:
    world.fake.slow["users.info"] = 1.0  # Slack is slow today; the ack must not wait for it
    started = time.monotonic()
    response = await world.command(OLA)
    acked = time.monotonic() - started
    assert response.status_code == 200
    assert acked < 0.5, f"ack took {acked:.3f} s"
    assert "Looking up" in response.text
    assert not world.fake.called("response_url")
    (answer,) = await world.fake.wait_for("response_url")
    assert answer.at - started >= 1.0
    assert answer.body["response_type"] == "ephemeral"
    assert answer.body["replace_original"] is True
    assert answer.body["text"]
    shown = blob(answer)
    assert "user_unknown" in shown
    assert "550" in shown
    assert {"whymail_share", "whymail_details"} <= set(buttons(answer))
    assert len(answer.body["blocks"]) <= 50


async def test_forged_and_stale_signatures_are_refused(world: World) -> None:
    body = form({"command": "/whymail", "text": OLA, "user_id": AGENT, "channel_id": INTERNAL})
    forged = signed_headers("not-the-secret", body)
    stale = signed_headers(SECRET, body, timestamp=int(time.time()) - 360)
    for headers in (forged, stale, {}):
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        response = await world.http.post(f"{world.url}/slack/events", content=body, headers=headers)
        assert response.status_code == 401
    assert not world.fake.calls or all(c.method == "auth.test" for c in world.fake.calls)


async def test_bodies_are_capped_and_verified_before_they_are_read(world: World) -> None:
    """An unsigned post, however large or broken, costs a capped read and a 4xx, never a parse."""
    url = f"{world.url}/slack/events"
    json_type = {"Content-Type": "application/json"}
    broken = await world.http.post(url, content=b'{"type": ', headers=json_type)
    assert broken.status_code == 401

    async def huge() -> AsyncIterator[bytes]:
        for _ in range(64):  # 64 MiB, chunked: refused once past the cap, not buffered
            yield b"[" * 1_048_576

    too_big = await world.http.post(url, content=huge(), headers=json_type)
    assert too_big.status_code == 413
    # signed, but not what Slack sends
    signed_broken = await world.post(b'{"type": ', "application/json")
    assert signed_broken.status_code == 400
    assert not world.fake.calls or all(c.method == "auth.test" for c in world.fake.calls)


async def test_customer_in_shared_channel_learns_nothing_about_another_tenant(world: World) -> None:
    mention = {
        "type": "app_mention",
        "user": CUSTOMER,
        "text": f"<@UBOT> hvorfor fikk ikke {ERIK} fakturaen?",
        "ts": "1700000000.000100",
        "channel": ACME,
        "event_ts": "1700000000.000100",
        "team": "T_CUSTOMER",
    }
    response = await world.event(mention, shared=True)
    assert response.status_code == 200
    (reply,) = await world.fake.wait_for("chat.postMessage")
    assert reply.body["channel"] == ACME
    assert reply.body["thread_ts"] == "1700000000.000100"
    shown = blob(reply) + reply.body["text"]
    for secret in ("t-10", "other", "550", "evil", "channel", "whymail_share", "whymail_details"):
        assert secret not in shown, secret
    assert "unknown" not in json.dumps(reply.body).replace("not_found", "")
    (lookup,) = world.fake.called("users.info")
    assert lookup.body["include_locale"] in ("1", "true", True)

    # The same channel, asking about its own tenant's recipient: an answer, still customer-safe.
    mention.update(text=f"<@UBOT> {OLA}", ts="1700000000.000200", event_ts="1700000000.000200")
    await world.event(mention, event_id="Ev2", shared=True)
    replies = await world.fake.wait_for("chat.postMessage", 2)
    own = blob(replies[1])
    assert "550" not in own
    assert "t-1" not in own
    assert "postmark" not in own.lower()
    assert not buttons(replies[1]).keys() & {"whymail_share", "whymail_details"}


async def test_unmapped_shared_channel_gets_no_lookup(world: World) -> None:
    mention = {
        "type": "app_mention",
        "user": CUSTOMER,
        "text": f"<@UBOT> {OLA}",
        "ts": "1.1",
        "channel": UNMAPPED,
        "event_ts": "1.1",
    }
    await world.event(mention, shared=True)
    (reply,) = await world.fake.wait_for("chat.postMessage")
    shown = blob(reply)
    # In the customer's own language (their Slack locale is nb-NO), and nothing looked up.
    assert "Jeg kan bare slå opp i kontoen denne samtalen hører til" in shown
    assert "ola" not in shown


async def test_users_info_failure_fails_closed(world: World) -> None:
    del world.fake.users[AGENT]  # users.info → user_not_found
    await world.command(OLA)
    (answer,) = await world.fake.wait_for("response_url")
    assert "cannot tell which one" in blob(answer)
    assert "550" not in blob(answer)


async def test_smtp_reply_markup_renders_as_text(world: World) -> None:
    await world.command(ERIK)
    (answer,) = await world.fake.wait_for("response_url")
    body = _blocks_of(answer)
    everything = "\n".join([body["text"], *texts(body, mrkdwn_only=True)])
    assert "&lt;!channel&gt;" in everything
    assert "&lt;http://evil.example|click here&gt;" in everything
    assert "<!channel>" not in everything
    assert "<http://evil" not in everything

    # The Details modal shows the raw reply, escaped the same way.
    details = buttons(answer)["whymail_details"]
    await world.action(block_action(details, "whymail_details:0"))
    (opened,) = await world.fake.wait_for("views.open")
    assert opened.body["trigger_id"] == "1337.42.efgh"
    (update,) = await world.fake.wait_for("views.update")
    view = _blocks_of(update)["view"]
    modal = "\n".join(texts(view, mrkdwn_only=True))
    assert "&lt;!channel&gt;" in modal
    assert "<!channel>" not in modal
    assert "MX" in modal


async def test_event_retries_never_answer_twice(
    world: World, tmp_path: Path, localdns_server: Any
) -> None:
    mention = {
        "type": "app_mention",
        "user": AGENT,
        "text": f"<@UBOT> {OLA}",
        "ts": "2.1",
        "channel": INTERNAL,
        "event_ts": "2.1",
    }
    assert (await world.event(mention, event_id="EvR")).status_code == 200
    await world.fake.wait_for("chat.postMessage")
    retry = await world.event(
        mention, event_id="EvR", X_Slack_Retry_Num="1", X_Slack_Retry_Reason="http_timeout"
    )
    assert retry.status_code == 200
    again = await world.event(mention, event_id="EvR")  # a redelivery with no retry headers
    assert again.status_code == 200

    # Another instance gets the timed-out retry: it must not answer either.
    async with slack_world(
        tmp_path / "b", localdns_server.host, localdns_server.port, fake=world.fake
    ) as other:
        retry = await other.event(
            mention, event_id="EvR", X_Slack_Retry_Num="2", X_Slack_Retry_Reason="http_timeout"
        )
        assert retry.status_code == 200
        await world.fake.wait_for("chat.postMessage", 2, within=1.0)
    assert len(world.fake.called("chat.postMessage")) == 1


async def test_rate_limited_post_is_retried(world: World) -> None:
    world.fake.rate_limited["chat.postMessage"] = 1
    mention = {
        "type": "app_mention",
        "user": AGENT,
        "text": f"<@UBOT> {OLA}",
        "ts": "3.1",
        "channel": INTERNAL,
        "event_ts": "3.1",
    }
    await world.event(mention, event_id="Ev429")
    posts = await world.fake.wait_for("chat.postMessage", 2, within=5.0)
    assert len(posts) == 2
    assert posts[0].body == posts[1].body
    assert world.fake.rate_limited["chat.postMessage"] == 0


async def test_share_with_customer_posts_the_customer_version(world: World) -> None:
    await world.command(OLA, channel=ACME)
    (answer,) = await world.fake.wait_for("response_url")
    assert "550" in blob(answer)  # the agent's own, ephemeral view has the evidence
    share = buttons(answer)["whymail_share"]
    await world.action(block_action(share, "whymail_share:0", channel=ACME, rid="s1"))
    (post,) = await world.fake.wait_for("chat.postMessage")
    assert post.body["channel"] == ACME
    shown = blob(post)
    assert "550" not in shown
    assert "user_unknown" not in shown
    assert "t-1" not in shown
    assert "whymail_share" not in json.dumps(post.body)
    confirm = await world.fake.wait_for("response_url", 2)
    assert "Shared" in blob(confirm[1])


async def test_share_refuses_another_tenants_recipient_in_a_customer_channel(world: World) -> None:
    # As if an agent in acme's channel had looked up another tenant's recipient and pressed
    # Share: the channel's tenant decides what may be posted there, not the agent's lookup.
    share = world.bot.signer.sign({"q": ERIK, "l": "en", "ch": ACME, "a": {}})
    await world.action(block_action(share, "whymail_share:0", channel=ACME))
    (post,) = await world.fake.wait_for("chat.postMessage")
    shown = blob(post) + post.body["text"]
    assert "evil" not in shown
    assert "550" not in shown
    assert "t-10" not in shown
    assert "channel&gt;" not in shown


async def test_share_refuses_an_unmapped_shared_channel(world: World) -> None:
    share = world.bot.signer.sign({"q": OLA, "l": "en", "ch": UNMAPPED, "a": {}})
    await world.action(block_action(share, "whymail_share:0", channel=UNMAPPED))
    (reply,) = await world.fake.wait_for("response_url")
    assert "not linked" in blob(reply)
    assert not world.fake.called("chat.postMessage")


async def test_a_tampered_button_is_refused(world: World) -> None:
    await world.command(OLA)
    (answer,) = await world.fake.wait_for("response_url")
    value = buttons(answer)["whymail_share"]
    head, body, mac = value.split(".")
    forged = f"{head}.{body[:-2]}AA.{mac}"
    await world.action(block_action(forged, "whymail_share:0", rid="t1"))
    replies = await world.fake.wait_for("response_url", 2)
    assert "expired" in blob(replies[1])
    assert not world.fake.called("chat.postMessage")


async def test_a_customer_cannot_press_agent_buttons(world: World) -> None:
    await world.command(OLA, channel=ACME)
    (answer,) = await world.fake.wait_for("response_url")
    share = buttons(answer)["whymail_share"]
    await world.action(block_action(share, "whymail_share:0", user=CUSTOMER, channel=ACME))
    replies = await world.fake.wait_for("response_url", 2)
    # in the customer's own language (their Slack locale is nb-NO)
    assert "Bare kundestøtte kan bruke denne knappen" in blob(replies[1])
    assert not world.fake.called("chat.postMessage")


async def test_direct_message_with_a_bounce_email(world: World) -> None:
    eml = (
        b"From: MAILER-DAEMON@mx.firma.mailtest.test\r\nTo: billing@acme.mailtest.test\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nI could not deliver your message.\r\n"
        b"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.firma\r\n\r\n"
        b"Final-Recipient: rfc822; ola@firma.mailtest.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        b"Diagnostic-Code: smtp; 550 5.1.1 <ola@firma.mailtest.test>: User unknown <!channel>\r\n"
        b"--b--\r\n"
    )
    world.fake.add_file("F1", "bounce.eml", eml)
    message = {
        "type": "message",
        "subtype": "file_share",
        "channel": DM,
        "channel_type": "im",
        "user": AGENT,
        "text": "",
        "ts": "4.1",
        "files": [{"id": "F1", "name": "bounce.eml", "mimetype": "message/rfc822"}],
    }
    await world.event(message, event_id="EvDM")
    (reply,) = await world.fake.wait_for("chat.postMessage")
    assert reply.body["thread_ts"] == "4.1"
    assert reply.body["channel"] == DM
    shown = blob(reply)
    assert "This bounce email says" in shown
    assert "no such mailbox" in shown
    assert "hard bounce" in shown
    assert "<!channel>" not in shown
    assert world.fake.called("files.info")
    assert world.fake.called("file")


async def test_direct_message_plain_text(world: World) -> None:
    message = {
        "type": "message",
        "channel": DM,
        "channel_type": "im",
        "user": AGENT,
        "text": f"why didn't {OLA} get it?",
        "ts": "5.1",
    }
    await world.event(message, event_id="EvDM2")
    (reply,) = await world.fake.wait_for("chat.postMessage")
    assert reply.body["thread_ts"] == "5.1"
    assert "user_unknown" in blob(reply)


async def test_pasted_bounce_in_slash_command(world: World) -> None:
    pasted = (
        "Delivery has failed to these recipients or groups:\n\nola@firma.mailtest.test\n"
        "Remote Server returned '550 5.1.1 <ola@firma.mailtest.test>: User unknown'"
    )
    await world.command(pasted)
    (answer,) = await world.fake.wait_for("response_url")
    shown = blob(answer)
    assert "This bounce email says" in shown
    assert "no such mailbox" in shown


async def test_help_and_language(world: World) -> None:
    response = await world.command("help")
    assert "/whymail lang" in response.text
    response = await world.command("lang nb")
    assert response.json()["text"] == "Fra nå av svarer jeg deg på norsk."
    await world.command(OLA)
    (answer,) = await world.fake.wait_for("response_url")
    assert answer.body["blocks"]
    response = await world.command("lang xx")
    # told in the language chosen a moment ago
    assert response.json()["text"].startswith("Jeg kan ikke xx ennå.")


async def test_app_home_lookup_form_and_history(world: World) -> None:
    await world.command(OLA)
    await world.fake.wait_for("response_url")
    await world.event(
        {"type": "app_home_opened", "user": AGENT, "channel": DM, "tab": "home"}, event_id="EvH"
    )
    (publish,) = await world.fake.wait_for("views.publish")
    assert publish.body["user_id"] == AGENT
    home = _blocks_of(publish)["view"]
    shown = "\n".join(texts(home))
    assert "ola@firma" in shown
    assert "user_unknown" in shown
    assert "trees loaded: 4" in shown
    lookup = buttons(Call("", "", {}, {"blocks": home["blocks"]}, 0))["whymail_new_lookup"]
    await world.action(
        {
            **block_action(lookup, "whymail_new_lookup", channel=DM),
            "container": {"type": "view", "view_id": "VH"},
        }
    )
    (opened,) = await world.fake.wait_for("views.open")
    view = _blocks_of(opened)["view"]
    submission = {
        "type": "view_submission",
        "team": {"id": "T_HOME", "domain": "home"},
        "user": {"id": AGENT, "username": "agent", "team_id": "T_HOME"},
        "api_app_id": "A_WHYMAIL",
        "token": "legacy",
        "trigger_id": "1.2.3",
        "view": {
            "id": "V1",
            "type": "modal",
            "callback_id": view["callback_id"],
            "private_metadata": view["private_metadata"],
            "state": {"values": {"query": {"text": {"type": "plain_text_input", "value": ERIK}}}},
        },
    }
    response = await world.action(submission)
    assert response.status_code == 200
    (dm,) = await world.fake.wait_for("chat.postMessage")
    assert dm.body["channel"] == AGENT
    assert "unknown" in blob(dm)

    # A form whose metadata was not signed for this user is refused in the form itself.
    submission["view"]["private_metadata"] = "forged"
    response = await world.action(submission)
    assert response.json()["response_action"] == "errors"


async def test_knowledge_fault_is_posted_to_the_fault_channel(world: World) -> None:
    await world.bot.report_fault("delivery.yml:12: unknown fact 'event.reasn' <!channel>")
    (post,) = await world.fake.wait_for("chat.postMessage")
    assert post.body["channel"] == "C_FAULTS"
    assert "&lt;!channel&gt;" in post.body["text"]


async def test_question_buttons_continue_the_walk(world: World) -> None:
    await world.command("kari@outlook.mailtest.test")
    (answer,) = await world.fake.wait_for("response_url")
    first = blob(answer)
    assert "delivered_check_spam" in first
    options = {k: v for k, v in buttons(answer).items() if k.startswith("whymail_answer:")}
    assert len(options) >= 2, first
    chosen = {
        action_id: world.bot.signer.verify(value)["a"] for action_id, value in options.items()
    }
    (not_there,) = [a for a, answers in chosen.items() if "not_there" in answers.values()]
    await world.action(block_action(options[not_there], not_there, rid="q1"))
    replies = await world.fake.wait_for("response_url", 2)
    assert replies[1].body["replace_original"] is True
    second = blob(replies[1])
    # The walk went on through "not in junk": a personal Outlook mailbox, so tabs and rules.
    assert "It is not in junk" in second
    assert "junk or spam folder?" not in second  # that question is answered now


class Reactivations:
    """Stands in for bot.sources.esp.EspSources at its interface (its HTTP is tested there)."""

    def __init__(self) -> None:
        self.clients = {"postmark": object()}
        self.calls: list[tuple[str, str, str]] = []

    async def reactivate(self, provider: str, address: str, actor: str) -> Any:
        self.calls.append((provider, address, actor))
        return type("Result", (), {"ok": True, "message": "removed from HardBounce <!here>"})()


async def test_reactivate_address_for_agents_only(tmp_path: Path, localdns_server: Any) -> None:
    esp = Reactivations()
    async with slack_world(tmp_path, localdns_server.host, localdns_server.port, esp=esp) as w:
        value = w.bot.signer.sign(
            {"q": OLA, "l": "en", "ch": INTERNAL, "a": {}, "p": "postmark", "r": OLA}
        )
        await w.action(block_action(value, "whymail_reactivate:0", user=CUSTOMER, rid="x1"))
        (refused,) = await w.fake.wait_for("response_url")
        assert "Bare kundestøtte kan bruke denne knappen" in blob(refused)
        assert esp.calls == []
        await w.action(block_action(value, "whymail_reactivate:0", rid="x2"))
        replies = await w.fake.wait_for("response_url", 2)
        assert esp.calls == [("postmark", OLA, "slack:T_HOME:U_AGENT")]
        done = blob(replies[1])
        assert "taken off the suppression list at postmark" in done
        assert "&lt;!here&gt;" in done


@pytest.mark.parametrize("locale", ["nb", "nl", "pt-BR"])
async def test_agent_and_customer_views_speak_the_chosen_language(
    world: World, locale: str
) -> None:
    """Through the running app: the agent's answer with its Details window, and a customer's
    answer in a shared channel, hold no phrase of the English ones (tests/leaks.py)."""
    from tests.leaks import leaked

    said = [shipped().chrome(loc)("server_said") for loc in ("en", locale)]
    ids = set(Knowledge.load(KNOWLEDGE).nodes)
    seen: dict[str, list[str]] = {}
    for n, lang in enumerate(("en", locale), start=1):
        await world.command(f"lang {lang}")
        await world.command(OLA, rid=f"a{n}")
        answer = (await world.fake.wait_for("response_url", n))[-1]
        await world.action(block_action(buttons(answer)["whymail_details"], "whymail_details:0"))
        update = (await world.fake.wait_for("views.update", n))[-1]
        await world.command(f"lang {lang}", user=CUSTOMER)
        mention = {"type": "app_mention", "user": CUSTOMER, "text": f"<@UBOT> {OLA}"}
        mention |= {"ts": f"{n}.5", "channel": ACME, "event_ts": f"{n}.5"}
        await world.event(mention, shared=True, event_id=f"EvL{n}")
        posted = (await world.fake.wait_for("chat.postMessage", n))[-1]
        seen[lang] = [blob(answer) + "\n" + blob(update), blob(posted)]
    words = shipped().chrome(locale)
    assert words("details") in seen[locale][0]  # the button, and the window's title
    assert words("steps") in seen[locale][1]
    assert "550" not in seen[locale][1]
    for english, other in zip(seen["en"], seen[locale], strict=True):
        assert leaked(english, other, said=said, ids=ids) == []
