"""The Slack adapter's pure parts: Block Kit budgets and escaping, signed state, settings,
locale choice and the audience rules."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.conversation import AGENT, CUSTOMER, Asker, Conversation, Part, Request
from bot.conversation.prefs import MemoryPrefs
from bot.diagnose import Report
from bot.model import (
    Answer,
    DeliveryEvent,
    Diagnosis,
    EventType,
    Question,
    Timeline,
    Unanswered,
)
from bot.query import parse
from bot.slack import blocks as bk
from bot.slack.audience import Classifier, Where, choose_locale
from bot.slack.mrkdwn import escape as mrkdwn_escape
from bot.slack.settings import ChannelConfig, SlackConfigError, SlackSettings
from bot.slack.state import BadState, SeenEvents, Signer
from bot.trees import shipped

HOSTILE = "550 5.1.1 <!channel> <http://evil.example|click here> & <@U123>"


def diagnosis(n: int = 0, *, long: bool = False, question: bool = False) -> Diagnosis:
    text = ("word " * 900) if long else "The mailbox does not exist."
    event = DeliveryEvent(
        provider="postmark",
        event_type=EventType.BOUNCED,
        timestamp=datetime(2026, 11, 1, 8, tzinfo=UTC),
        recipient=f"r{n}@x.test",
        smtp_code=550,
        enhanced_status="5.1.1",
        diagnostic=HOSTILE * (20 if long else 1),
        reason="userunknown",
    )
    return Diagnosis(
        subject=f"d-{n} → r{n}@x.test",
        verdict="user_unknown",
        severity="error",
        path=("outcome", "user_unknown"),
        facts={"domain": {"name": "x.test", "exists": True, "mx": ["mx.x.test"]}},
        answer=Answer(
            "Hard bounce <b>",
            mrkdwn_escape(text),
            (mrkdwn_escape(text),) * 3,
            "en",
            "agent",
            shipped().chrome("en"),
        ),
        recipient=f"r{n}@x.test",
        dispatch_id=f"d-{n}",
        timeline=Timeline(f"r{n}@x.test", None, (event,) * (10 if long else 1)),
        question=Question(
            "looked_in_spam", "Has the recipient looked in spam?", (("yes", "Yes"), ("no", "No"))
        )
        if question
        else None,
    )


def mrkdwn_texts(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        if isinstance(node.get("text"), str) and node.get("type") != "plain_text":
            found.append(node["text"])
        for key, value in node.items():
            if key != "text" or not isinstance(value, str):
                found += mrkdwn_texts(value)
    elif isinstance(node, list):
        for item in node:
            found += mrkdwn_texts(item)
    return found


def render(diagnoses: list[Diagnosis], *, agent: bool = True) -> bk.Message:
    signer = Signer("secret")
    return bk.answer_message(
        [Part(d) for d in diagnoses],
        agent=agent,
        chrome=shipped().chrome("en"),
        offer=bk.Offer(share=True, details=True),
        state={"l": "en", "ch": "C1", "a": {}},
        sign=signer.sign,
    )


def test_messages_stay_within_block_kit_limits() -> None:
    message = render([diagnosis(n, long=True, question=True) for n in range(10)])
    assert message.text
    assert len(message.blocks) <= bk.MAX_BLOCKS
    assert bk.text_size(message.blocks) <= bk.MAX_MESSAGE_CHARS
    assert len(json.dumps(message.blocks)) < 40_000
    for block in message.blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        for element in block.get("elements", []):
            if element.get("type") == "button":
                assert len(element["value"]) <= 2000
                assert len(element["text"]["text"]) <= 75
    assert "more answers not shown" in message.blocks[-1]["elements"][0]["text"]


def test_remote_text_is_escaped_everywhere() -> None:
    message = render([diagnosis()])
    for text in [message.text, *mrkdwn_texts(message.blocks)]:
        assert "<!channel>" not in text
        assert "<http" not in text
        assert "<@U123>" not in text
    assert any("&lt;!channel&gt;" in t for t in mrkdwn_texts(message.blocks))
    view = bk.details_view([diagnosis()], shipped().chrome("en"))
    assert all("<!channel>" not in t for t in mrkdwn_texts(view))
    header = message.blocks[0]["text"]
    assert header["type"] == "plain_text"
    assert header["text"].endswith("Hard bounce <b>")  # plain text shows what was written


def test_question_buttons_carry_the_answer_signed() -> None:
    message = render([diagnosis(question=True)])
    answers = [
        e
        for b in message.blocks
        for e in b.get("elements", [])
        if e.get("action_id", "").startswith(bk.ACTION_ANSWER)
    ]
    assert [a["text"]["text"] for a in answers] == ["Yes", "No"]
    state = Signer("secret").verify(answers[0]["value"])
    assert state["a"] == {"looked_in_spam": "yes"}
    assert state["q"] == "r0@x.test"


def test_customers_get_no_evidence_and_no_agent_buttons() -> None:
    message = render([diagnosis(question=True)], agent=False)
    everything = json.dumps(message.blocks)
    assert "550" not in everything
    assert "user_unknown" not in everything
    assert bk.ACTION_SHARE not in everything
    assert bk.ACTION_DETAILS not in everything
    assert bk.ACTION_ANSWER in everything


def test_signed_state_refuses_tampering_other_keys_and_age() -> None:
    signer = Signer("secret")
    value = signer.sign({"q": "ola@firma.no", "a": {"x": "y"}})
    assert signer.verify(value)["q"] == "ola@firma.no"
    version, body, mac = value.split(".")
    with pytest.raises(BadState):
        signer.verify(f"{version}.{body}x.{mac}")
    with pytest.raises(BadState):
        Signer("another secret").verify(value)
    with pytest.raises(BadState):
        signer.verify("garbage")
    with pytest.raises(BadState):
        signer.verify(value, max_age=-1)
    with pytest.raises(ValueError, match="exceeds"):
        signer.sign({"q": "x" * 3000})


def test_settings_from_config_values() -> None:
    settings = SlackSettings.from_values(
        {
            "slack_bot_token": "xoxb-1",
            "slack_signing_secret": "s",
            "slack_api_url": "http://127.0.0.1:9/api",
            "slack_channels": {"C1": "acme", "C2": {"tenant": "other", "locale": "nb"}},
            "slack_agent_teams": "T1, T2",
            "slack_agent_usergroups": ["S1"],
        }
    )
    assert settings.api_url == "http://127.0.0.1:9/api/"
    assert settings.channels == {"C1": ChannelConfig("acme"), "C2": ChannelConfig("other", "nb")}
    assert settings.agent_teams == ("T1", "T2")
    assert settings.agent_usergroups == ("S1",)
    with pytest.raises(SlackConfigError):
        SlackSettings.from_values({"slack_channels": {"C1": {"tenant": "a", "tenat": "b"}}})
    with pytest.raises(SlackConfigError):
        SlackSettings.from_values({"slack_api_url": "slack.com"})


def test_config_file_and_environment(tmp_path: Any) -> None:
    from bot.config import Settings

    config = tmp_path / "whymail.yml"
    config.write_text(
        "slack_channels:\n  C1: {tenant: acme, locale: nb}\nslack_fault_channel: C9\n"
    )
    settings = Settings.load({"WHYMAIL_CONFIG": str(config), "SLACK_BOT_TOKEN": "xoxb-2"})
    assert settings.slack.bot_token == "xoxb-2"
    assert settings.slack.channels["C1"].tenant == "acme"
    assert settings.slack.fault_channel == "C9"
    assert "slack_channels" not in settings.extra


@pytest.mark.parametrize(
    ("explicit", "user", "channel", "expected"),
    [
        ("nb", "en-US", None, "nb"),
        (None, "pt-BR", "nb", "pt-BR"),
        (None, "nb-NO", None, "nb"),
        (None, "no", None, "nb"),
        (None, "de-DE", "nl", "nl"),
        (None, None, None, "en"),
        ("", "ja-JP", None, "en"),
    ],
)
def test_choose_locale(
    explicit: str | None, user: str | None, channel: str | None, expected: str
) -> None:
    assert choose_locale(explicit, user, channel) == expected


class FakeClient:
    """Only for the classifier's unit test; the real client is exercised end to end."""

    def __init__(
        self, users: dict[str, Any], channels: dict[str, Any], groups: dict[str, Any]
    ) -> None:
        self.users, self.channels, self.groups = users, channels, groups

    async def users_info(self, *, user: str, include_locale: bool) -> dict[str, Any]:
        assert include_locale
        return {"user": self.users.get(user)}

    async def conversations_info(self, *, channel: str) -> dict[str, Any]:
        return {"channel": self.channels.get(channel)}

    async def usergroups_users_list(self, *, usergroup: str) -> dict[str, Any]:
        return {"users": self.groups.get(usergroup, [])}


async def test_audience_rules() -> None:
    users = {
        "UA": {"team_id": "T1"},
        "US": {"team_id": "T9", "is_stranger": True},
        "UG": {"team_id": "T2", "enterprise_user": {"enterprise_id": "E1"}},
        "UX": {"team_id": "T9"},
    }
    channels = {
        "CI": {"is_shared": False},
        "CS": {"is_ext_shared": True},
        "CO": {"is_shared": True, "is_org_shared": True},
        "CP": {"is_pending_ext_shared": True},
    }
    settings = SlackSettings(channels={"CS": ChannelConfig("acme")})
    classifier = Classifier(settings)
    client: Any = FakeClient(users, channels, {"S1": ["UA"]})
    ask = classifier.classify
    # Before auth.test told us our own team, nobody is an agent.
    assert not (await ask(client, Where("UA", "CI"), visible_to_channel=False)).agent
    classifier.learn_home("T1", "E1")
    assert (await ask(client, Where("UA", "CI"), visible_to_channel=True)).agent
    assert (await ask(client, Where("UG", "CO"), visible_to_channel=True)).agent
    # An agent's ephemeral answer in a shared channel is theirs; a visible one is the customer's.
    assert (await ask(client, Where("UA", "CS"), visible_to_channel=False)).agent
    visible = await ask(client, Where("UA", "CS"), visible_to_channel=True)
    assert (visible.audience, visible.tenant, visible.allowed) == ("customer", "acme", True)
    stranger = await ask(client, Where("US", "CS"), visible_to_channel=False)
    assert (stranger.audience, stranger.tenant) == ("customer", "acme")
    for who, where in (("UX", "CI"), ("US", "CP"), ("U?", "CI"), ("US", "C?")):
        asker = await ask(client, Where(who, where), visible_to_channel=True)
        assert asker.audience == "customer"
        assert not asker.allowed, (who, where)
    grouped = Classifier(SlackSettings(agent_usergroups=("S1",)))
    grouped.learn_home("T1", None)
    assert (await grouped.classify(client, Where("UA", "CI"), visible_to_channel=False)).agent
    users["UB"] = {"team_id": "T1"}
    assert not (await grouped.classify(client, Where("UB", "CI"), visible_to_channel=False)).agent


async def test_memory_prefs_and_seen_events() -> None:
    prefs = MemoryPrefs(max_users=2)
    await prefs.set_locale("U1", "nb")
    await prefs.set_locale("U2", "nl")
    await prefs.set_locale("U3", "en")
    assert await prefs.locale("U1") is None
    assert await prefs.locale("U3") == "en"
    seen = SeenEvents(size=2)
    assert seen.first_time("a")
    assert not seen.first_time("a")
    assert seen.first_time("b")
    assert seen.first_time("c")
    assert seen.first_time("a")  # forgotten: bounded memory


async def test_preferences_are_shared_through_the_store(store: Any) -> None:
    """Several instances on one store see one user's language and history alike."""
    from bot.conversation.prefs import Lookup, StorePrefs, prefs_for

    prefs = prefs_for(store)
    assert isinstance(prefs, StorePrefs)
    other_instance = StorePrefs(store)
    await prefs.set_locale("U1", "nb")
    await prefs.remember("U1", Lookup("ola@firma.no", "user_unknown", 1.0))
    await prefs.remember("U1", Lookup("d-1", "in_progress", 2.0))
    assert await other_instance.locale("U1") == "nb"
    assert [r.text for r in await other_instance.recent("U1")] == ["d-1", "ola@firma.no"]
    await other_instance.set_locale("U1", "")
    assert not await prefs.locale("U1")
    assert await prefs.recent("U2") == []


class _Answers:
    """A diagnoser that answers with given diagnoses: the rule under test is the
    conversation's, not the pipeline's."""

    def __init__(self, *diagnoses: Diagnosis) -> None:
        self._diagnoses = diagnoses

    async def ask(self, text: str, **_: Any) -> Report:
        return Report(parse(text), self._diagnoses)


async def _reactivator(d: Diagnosis, configured: frozenset[str], *, agent: bool = True) -> Any:
    conversation = Conversation(_Answers(d), reactivation=lambda: configured)  # type: ignore[arg-type]
    asker = Asker("U1", AGENT if agent else CUSTOMER, None if agent else "acme", True)
    reply = await conversation.ask(Request("ola@firma.no", asker))
    return reply.parts[0].reactivate


async def test_reactivation_is_offered_only_where_the_esp_allows_it() -> None:
    d = diagnosis()
    assert await _reactivator(d, frozenset()) is None
    assert await _reactivator(d, frozenset({"postmark"})) == "postmark"
    assert await _reactivator(d, frozenset({"postmark"}), agent=False) is None
    (event,) = d.timeline.events if d.timeline else ()
    complaint = replace(event, raw={"CanActivate": False})
    blocked = replace(d, timeline=Timeline(event.recipient, None, (complaint,)))
    assert await _reactivator(blocked, frozenset({"postmark"})) is None


def test_reactivate_button_is_for_agents_only() -> None:
    d = diagnosis()
    allowed = replace(d, answer=replace(d.answer, actions=("reactivate",)))
    message = bk.answer_message(
        [Part(allowed, "postmark")],
        agent=True,
        chrome=shipped().chrome("en"),
        offer=bk.Offer(),
        state={},
        sign=Signer("s").sign,
    )
    (button,) = [e for b in message.blocks for e in b.get("elements", []) if e.get("confirm")]
    assert button["action_id"].startswith(bk.ACTION_REACTIVATE)
    assert Signer("s").verify(button["value"])["p"] == "postmark"
    customer = bk.answer_message(
        [Part(allowed, "postmark")],
        agent=False,
        chrome=shipped().chrome("en"),
        offer=bk.Offer(),
        state={},
        sign=Signer("s").sign,
    )
    assert bk.ACTION_REACTIVATE not in json.dumps(customer.blocks)


def test_partial_answers_say_so_without_naming_the_esp_to_customers() -> None:
    d = replace(diagnosis(), notes=(Unanswered("Postmark", "HTTP 503 <!here>"),))
    agent = json.dumps(render([d]).blocks)
    assert "Postmark did not answer our lookup" in agent
    assert "&lt;!here&gt;" in agent
    customer = json.dumps(render([d], agent=False).blocks)
    assert "Postmark" not in customer
    assert "could not be checked" in customer


def test_customers_never_see_dispatch_ids_in_labels() -> None:
    message = render([diagnosis(3)], agent=False)
    assert "d-3" not in message.text
    assert "d-3" not in json.dumps(message.blocks)
    assert "d-3" in render([diagnosis(3)]).text
