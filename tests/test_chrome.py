"""Every word around the answers comes from knowledge/ui.yml in the answer's language, and a
customer's view, wherever it is shown, holds nothing internal.

Each demo case is answered in English and in nb, nl and pt-BR, for agents and customers, and
rendered for the terminal, as JSON and as Slack Block Kit (the answer, and the Details window
for agents). Any phrase of the English render that shows up in a translated one is English
left behind (tests/leaks.py says what a phrase is and what is left out).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import App, running
from bot.chrome import TimeZones
from bot.cli import main
from bot.config import ConfigError, Settings
from bot.conversation import Part
from bot.demo import DEMO_QUESTIONS
from bot.model import Diagnosis
from bot.render.terminal import render_diagnosis
from bot.slack import blocks as bk
from bot.slack.mrkdwn import escape as mrkdwn_escape
from bot.slack.state import Signer
from bot.sources.esps import PROVIDERS
from bot.trees import Knowledge, KnowledgeError, shipped
from tests.leaks import leaked

TRANSLATED = ("nb", "nl", "pt-BR")
AUDIENCES = ("agent", "customer")
KNOWLEDGE = Path(__file__).resolve().parent.parent / "knowledge"


@pytest.fixture
async def demo() -> AsyncIterator[App]:
    async with running(Settings(), demo=True) as app:
        yield app


async def answers(
    app: App, locale: str, audience: str, *, slack: bool = False
) -> list[list[Diagnosis]]:
    """Every demo case's diagnoses, in `locale` for `audience` (escaped for Slack or not)."""
    escape = mrkdwn_escape if slack else str
    return [
        list(
            (await app.diagnoser.ask(q, locale=locale, audience=audience, escape=escape)).diagnoses
        )
        for q in DEMO_QUESTIONS
    ]


def node_ids(app: App) -> set[str]:
    return set(app.knowledge.current().nodes)


def scan(english: str, other: str, app: App) -> list[str]:
    said = [shipped().chrome(loc)("server_said") for loc in ("en", *TRANSLATED)]
    return leaked(english, other, said=said, ids=node_ids(app))


def terminal_and_json(d: Diagnosis) -> str:
    shown = d.to_json()
    answer = shown["answer"]
    question = shown["question"] or {}
    words = [
        answer["title"],
        answer["summary"],
        *answer["steps"],
        *shown["notes"],
        question.get("text") or "",
        *(o["label"] for o in question.get("options") or ()),
    ]
    return render_diagnosis(d) + "\n" + "\n".join(words)


def slack_texts(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("text"), str):
            yield node["text"]
        for key, value in node.items():
            if key != "text" or not isinstance(value, str):
                yield from slack_texts(value)
    elif isinstance(node, list):
        for item in node:
            yield from slack_texts(item)


def slack_view(ds: list[Diagnosis], audience: str) -> str:
    """The Slack message an asker gets (and for agents, the Details window), as its text."""
    agent = audience == "agent"
    chrome = ds[0].answer.chrome
    parts = [Part(d, "postmark" if agent else None) for d in ds]
    shown = [
        replace_actions(p, agent) for p in parts
    ]  # every button the tree may offer, so all their words are seen
    message = bk.answer_message(
        shown,
        agent=agent,
        chrome=chrome,
        offer=bk.Offer(share=agent, details=agent),
        state={"l": chrome.locale, "ch": "C1", "a": {}},
        sign=Signer("s").sign,
    )
    views: list[Any] = [message.blocks, message.text]
    if agent:
        views += [bk.details_view(ds, chrome), bk.loading_view(chrome)]
    return "\n".join(t for v in views for t in (slack_texts(v) if not isinstance(v, str) else [v]))


def replace_actions(part: Part, agent: bool) -> Part:
    from dataclasses import replace

    if not agent:
        return part
    d = part.diagnosis
    actions = ("share_with_customer", "details", "reactivate")
    return Part(replace(d, answer=replace(d.answer, actions=actions)), part.reactivate)


@pytest.mark.parametrize("audience", AUDIENCES)
async def test_no_english_label_in_translated_terminal_and_json_renders(
    demo: App, audience: str
) -> None:
    english = await answers(demo, "en", audience)
    found: dict[str, list[str]] = {}
    for locale in TRANSLATED:
        other = await answers(demo, locale, audience)
        for question, en_ds, ds in zip(DEMO_QUESTIONS, english, other, strict=True):
            for en_d, d in zip(en_ds, ds, strict=True):
                assert d.answer.locale == locale
                leaks = scan(terminal_and_json(en_d), terminal_and_json(d), demo)
                if leaks:
                    found[f"{question} {locale} {audience}"] = leaks
    assert found == {}, f"{sum(map(len, found.values()))} English labels: {found}"


@pytest.mark.parametrize("audience", AUDIENCES)
async def test_no_english_in_translated_slack_views(demo: App, audience: str) -> None:
    english = await answers(demo, "en", audience, slack=True)
    found: dict[str, list[str]] = {}
    for locale in TRANSLATED:
        other = await answers(demo, locale, audience, slack=True)
        for question, en_ds, ds in zip(DEMO_QUESTIONS, english, other, strict=True):
            leaks = scan(slack_view(en_ds, audience), slack_view(ds, audience), demo)
            if leaks:
                found[f"{question} {locale}"] = leaks
    assert found == {}, f"{sum(map(len, found.values()))} English strings: {found}"


def test_the_scanner_finds_english_left_behind() -> None:
    """The leak tests above would see a label that stayed English."""
    en = "Evidence:\n  20 Nov 2026  postmark: deferred 451 (held by a filter)\nPath: a → b"
    nb = "Funn:\n  20.11.2026  postmark: deferred 451 (holdt tilbake)\nPath: a → b"
    assert leaked(en, nb, ids={"a", "b"}) == ["Path", "deferred"]
    assert leaked(en, en.replace("Evidence", "Funn"), ids={"a", "b"}) == [
        "Nov",
        "Path",
        "deferred",
        "held by",
    ]
    # the server's own words and product names are never counted
    assert (
        leaked("server said: `User unknown` at postmark", "serveren svarte: `User unknown`") == []
    )


async def test_a_customer_view_shows_nothing_internal(demo: App) -> None:
    """Terminal, JSON and Slack: no verdict id, tree node, ESP name, MX host or SMTP code."""
    knowledge = demo.knowledge.current()
    esps = set(PROVIDERS) | {"whymail"}
    for locale in ("en", *TRANSLATED):
        agent = await answers(demo, locale, "agent")
        customer = await answers(demo, locale, "customer", slack=True)
        plain = await answers(demo, locale, "customer")
        for question, inside, ds, ps in zip(DEMO_QUESTIONS, agent, customer, plain, strict=True):
            for a, d, p in zip(inside, ds, ps, strict=True):
                shown = "\n".join(
                    [render_diagnosis(p), json.dumps(p.to_json()), slack_view([d], "customer")]
                )
                # tree ids as ids: a one-word node ("unknown", "internal") is also a word that
                # a customer text may use in its own sense ("`User unknown`" in the list)
                ids = {n for n in {a.verdict, *a.path, *knowledge.nodes} if "_" in n}
                secrets = ids | set(esps)
                domain = a.facts.get("domain") or {}
                secrets |= {str(h) for h in domain.get("mx") or ()}
                for event in a.timeline.events if a.timeline else ():
                    secrets |= {str(event.smtp_code or ""), event.enhanced_status or ""}
                    secrets.add(event.diagnostic or "")
                if a.dispatch_id:
                    secrets.add(a.dispatch_id)
                hits = [
                    s
                    for s in secrets
                    if s and re.search(rf"(?<![\w.-]){re.escape(s)}(?![\w-])", shown)
                ]
                assert hits == [], f"{question} {locale}: {hits}"


async def test_dates_are_in_the_locales_format_and_the_tenants_zone(demo: App) -> None:
    # joao@uol.com.br's last event: 2026-11-22 11:01 UTC
    (nb,) = (await demo.diagnoser.ask("joao@uol.com.br", locale="nb")).diagnoses
    assert "22.11.2026 12:01  whymail: utsatt 451 4.7.1" in render_diagnosis(nb)
    (pt,) = (await demo.diagnoser.ask("joao@uol.com.br", locale="pt-BR")).diagnoses
    assert "22/11/2026 08:01" in render_diagnosis(pt)
    assert pt.to_json()["answer"]["time_zone"] == "America/Sao_Paulo"
    en = shipped().chrome("en")
    assert en.when("2026-11-22T11:01:00+00:00") == "Nov 22, 2026, 11:01\u202fAM UTC"
    oslo_for_acme = TimeZones(tenants={"acme": "Asia/Tokyo"})
    assert oslo_for_acme.configured("acme") == "Asia/Tokyo"
    assert shipped().chrome("nl", "Asia/Tokyo").when("2026-11-22T11:01:00Z") == (
        "22-11-2026 om 20:01"
    )
    with pytest.raises(ConfigError, match="Mars/Olympus"):
        Settings.load({"WHYMAIL_TIME_ZONE": "Mars/Olympus"})
    assert Settings.load({"WHYMAIL_TIME_ZONE": "Europe/Oslo"}).time_zones.default == ("Europe/Oslo")


def edited_ui(tmp_path: Path, old: str, new: str) -> Path:
    folder = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, folder)
    ui = folder / "ui.yml"
    text = ui.read_text("utf-8")
    assert old in text
    ui.write_text(text.replace(old, new, 1), "utf-8")
    return folder


def test_knowledge_check_refuses_a_word_missing_in_one_language(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = edited_ui(tmp_path, "    nb: Dette kan du gjøre\n", "")
    with pytest.raises(KnowledgeError) as caught:
        Knowledge.load(folder)
    (problem,) = caught.value.problems
    assert problem.file.endswith("ui.yml")
    assert problem.line == 15
    assert problem.message == "words.steps: missing nb text"
    assert main(["knowledge", "check", str(folder)]) == 1
    assert "ui.yml:15: words.steps: missing nb text" in capsys.readouterr().err


def test_knowledge_check_refuses_a_missing_key_and_a_changed_placeholder(tmp_path: Path) -> None:
    folder = edited_ui(tmp_path, "  partial:\n", "  partial_renamed:\n")
    text = (folder / "ui.yml").read_text("utf-8")
    (folder / "ui.yml").write_text(
        text.replace('nb: "+{count} svar til vises ikke"', 'nb: "+{antall} svar til vises ikke"')
    )
    with pytest.raises(KnowledgeError) as caught:
        Knowledge.load(folder)
    messages = [p.message for p in caught.value.problems]
    assert "words: missing 'partial' (whymail shows it)" in messages
    assert "words.more (nb): placeholders must be the English text's ({count})" in messages


def test_every_word_is_in_every_language_and_every_label_too() -> None:
    ui = shipped()
    for section in (ui.words, ui.labels):
        keys = {k for texts in section.values() for k in texts}
        for locale, texts in section.items():
            assert set(texts) == keys, locale
