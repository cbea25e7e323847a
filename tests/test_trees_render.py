"""Every verdict renders in every language for both audiences, with realistic facts; questions
are attached and continue the walk; the language is chosen in the documented order."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from bot.checks import DNSClient
from bot.config import shipped_knowledge
from bot.diagnose import Diagnoser
from bot.facts import blank_facts
from bot.slack.mrkdwn import escape as mrkdwn_escape
from bot.sources.store import open_store
from bot.trees import (
    AUDIENCES,
    LOCALES,
    Knowledge,
    Leaf,
    choose_locale,
    normalize_locale,
    render,
)

KNOWLEDGE = Knowledge.load(shipped_knowledge())

#: DESIGN.md's verdict table: the shipped trees must reach every one of them.
DESIGN_VERDICTS = (
    "not_found invalid_address typo_domain domain_not_found no_mail_server user_unknown "
    "mailbox_full message_too_large recipient_server_unavailable in_progress suppressed "
    "spam_complaint rejected_as_spam rejected_by_policy sender_auth_failed "
    "provider_antispam_challenge gateway_filtering delivered_check_spam internal_failure unknown"
).split()

#: What a real diagnosis carries besides the facts an example needs to pick its leaf.
BASELINE: dict[str, Any] = {
    "query": {"kind": "address", "text": "why didn't kari get the invoice?"},
    "address": {"valid": True, "value": "kari@firma.no", "domain": "firma.no"},
    "dispatch": {
        "found": True,
        "id": "d-4711",
        "kind": "invoice",
        "subject": "Invoice 4711",
        "state": "sent",
        "created_at": "2026-11-01T08:00:00+00:00",
        "role": "to",
    },
    "event": {
        "found": True,
        "provider": "postmark",
        "timestamp": "2026-11-01T08:00:05+00:00",
        "count": 2,
        "suppressed": False,
    },
    "history": {"complained": False, "opened": False, "deferrals": 0, "dispatches": 3},
    "domain": {
        "name": "firma.no",
        "exists": True,
        "accepts_mail": True,
        "mx": ["mx.firma.no"],
        "null_mx": False,
        "inconclusive": False,
    },
    "sender": {
        "domain": "acme.no",
        "spf": {"present": True, "authorizes_esp": True, "problem": None},
        "dkim": {"present": True},
        "dmarc": {"present": True, "policy": "none", "aligned": True},
    },
    "reputation": {"listed": False, "inconclusive": False},
    "answers": {},
}

#: Internal words a customer must never read.
INTERNAL = ("postmark", "d-4711", "mx.firma.no", "5.1.1", "5.7.1", "4.7.1", "550 ", "554 ")


def merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


# Every declared fact, as a diagnosis always carries it, under the values above.
BASELINE = merged(blank_facts(), BASELINE)


def cases() -> list[tuple[str, Leaf, dict[str, Any]]]:
    """(name, leaf, facts) for every example, with the baseline filled in when it does not
    change where the example leads."""
    found = []
    for tree in KNOWLEDGE.trees:
        for example in tree.examples:
            # A real diagnosis carries every declared fact, so texts may rely on each one.
            tiers = (merged(BASELINE, example.facts), merged(blank_facts(), example.facts))
            facts = next(
                (f for f in tiers if KNOWLEDGE.walk_from(tree, f).leaf.verdict == example.verdict),
                example.facts,
            )
            leaf = KNOWLEDGE.walk_from(tree, facts).leaf
            found.append((f"{tree.id}: {example.name}", leaf, facts))
    return found


CASES = cases()


def test_every_design_verdict_is_reached_by_an_example() -> None:
    assert set(DESIGN_VERDICTS) <= {leaf.verdict for _, leaf, _ in CASES}
    assert set(DESIGN_VERDICTS) <= KNOWLEDGE.verdicts


def test_every_leaf_is_reached_by_an_example() -> None:
    assert {leaf.id for leaf in KNOWLEDGE.leaves} == {leaf.id for _, leaf, _ in CASES}


@pytest.mark.parametrize("audience", AUDIENCES)
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("verdict", DESIGN_VERDICTS)
def test_verdict_renders_completely(verdict: str, locale: str, audience: str) -> None:
    chosen = [(name, leaf, facts) for name, leaf, facts in CASES if leaf.verdict == verdict]
    assert chosen, f"no example reaches {verdict}"
    for name, leaf, facts in chosen:
        answer = render(leaf, facts, locale=locale, audience=audience, escape=mrkdwn_escape)
        assert answer.locale == locale, name
        assert answer.title, name
        assert answer.summary, name
        assert answer.steps, name
        text = "\n".join([answer.title, answer.summary, *answer.steps])
        for leftover in ("{{", "}}", "{%", "%}", "None", "Undefined", "  "):
            assert leftover not in text, f"{name}: {leftover!r} in {text!r}"
        assert not re.search(r"\s[.,;:](\s|$)", text, re.M), f"{name}: {text!r}"
        if audience == "customer":
            lowered = text.lower()
            for word in INTERNAL:
                assert word not in lowered, f"{name}: customer text shows {word!r}: {text!r}"
            diagnostic = (facts.get("event") or {}).get("diagnostic")
            if diagnostic:
                assert mrkdwn_escape(diagnostic) not in text, name


def test_translations_are_not_copies() -> None:
    for leaf in KNOWLEDGE.leaves:
        for audience in AUDIENCES:
            titles = {leaf.texts[(loc, audience)].title.render(**BASELINE) for loc in LOCALES}
            assert len(titles) == len(LOCALES), (leaf.id, audience, titles)


def test_internal_failure_is_specific_per_error() -> None:
    seen = {}
    for error in ("missing_template", "no_dispatch_plan", "attachment_too_large", None):
        facts = merged(BASELINE, {"dispatch": {"internal_error": error, "state": "failed"}})
        if error is None:
            facts["answers"] = {"still_pending": "failed"}
            facts["dispatch"]["found"] = False
        walk = KNOWLEDGE.decide(facts)
        assert walk.leaf.verdict == "internal_failure"
        answer = render(walk.leaf, facts, locale="nb", audience="customer")
        seen[error] = answer.summary + answer.steps[0]
    assert "blankett" in seen["missing_template"]
    assert "utsendelsesplan" in seen["no_dispatch_plan"]
    assert "vedlegg" in seen["attachment_too_large"]
    assert "Melding" in seen[None]
    assert len(set(seen.values())) == 4


@pytest.mark.parametrize(
    ("provider", "locale", "words"),
    [
        ("outlook", "nl", ("Ongewenste e-mail", "Veilige afzenders")),
        ("outlook", "nb", ("Søppelpost", "Klarerte avsendere")),
        ("gmail", "pt-BR", ("Spam", "Não é spam")),
        ("gmail", "en", ("Spam", "Not spam")),
    ],
)
def test_junk_folder_advice_is_provider_specific(
    provider: str, locale: str, words: tuple[str, ...]
) -> None:
    facts = merged(BASELINE, {"event": {"type": "delivered"}, "domain": {"provider": provider}})
    walk = KNOWLEDGE.decide(facts)
    assert walk.leaf.verdict == "delivered_check_spam"
    answer = render(walk.leaf, facts, locale=locale, audience="customer")
    text = " ".join(answer.steps)
    for word in words:
        assert word in text


def test_unanswered_question_still_answers_and_is_attached() -> None:
    facts = merged(BASELINE, {"event": {"type": "delivered"}, "domain": {"provider": "outlook"}})
    walk = KNOWLEDGE.decide(facts)
    assert walk.leaf.verdict == "delivered_check_spam"
    assert walk.question is not None
    assert walk.question.id == "junk_folder"
    assert walk.path[-2:] == ("junk_folder", "delivered_check_spam")


def test_answered_question_leads_elsewhere() -> None:
    business = {"event": {"type": "delivered"}, "domain": {"provider": "microsoft365"}}
    facts = merged(BASELINE, business)
    facts["answers"] = {"junk_folder": "not_there"}
    walk = KNOWLEDGE.decide(facts)
    assert walk.leaf.verdict == "gateway_filtering"
    assert walk.question is None
    facts["answers"] = {"junk_folder": "no-such-option"}
    assert KNOWLEDGE.decide(facts).question is not None


@pytest.fixture
async def diagnoser(blackhole: str, tmp_path: Path) -> Any:
    host, port = blackhole.split(":")
    store = await open_store(str(tmp_path / "store.sqlite3"))
    dns = DNSClient([(host, int(port))], timeout=0.2)
    yield Diagnoser(store, dns, lambda: KNOWLEDGE, dns_deadline=0.3)
    await store.close()


async def test_diagnosis_carries_the_question_in_the_answers_language(diagnoser: Any) -> None:
    report = await diagnoser.ask("nobody@firma.no", locale="nb", audience="customer")
    (diagnosis,) = report.diagnoses
    assert diagnosis.verdict == "not_found"
    assert diagnosis.question is not None
    assert diagnosis.question.id == "still_pending"
    assert "Pågående" in diagnosis.question.text
    assert ("pending", "Ja, under Pågående") in diagnosis.question.options
    shown = diagnosis.to_json()
    # a customer's JSON names no tree node; the options still carry their values
    assert shown["question"]["id"] is None
    assert {"value": "pending", "label": "Ja, under Pågående"} in shown["question"]["options"]
    assert shown["answer"]["actions"] == []

    report = await diagnoser.ask(
        "nobody@firma.no", locale="nb", audience="customer", answers={"still_pending": "pending"}
    )
    (diagnosis,) = report.diagnoses
    assert diagnosis.verdict == "in_progress"
    assert diagnosis.question is None
    assert diagnosis.answer.actions == ()


@pytest.mark.parametrize(
    ("explicit", "user", "channel", "expected"),
    [
        ("nb", "nl-NL", "pt-BR", "nb"),
        (None, "nb-NO", "nl", "nb"),
        (None, "no-NO", None, "nb"),
        (None, "nl-NL", None, "nl"),
        (None, "pt-BR", None, "pt-BR"),
        (None, "pt-PT", None, "pt-BR"),
        (None, "en-US", "nb", "en"),
        (None, "de-DE", "nl", "nl"),
        (None, None, "pt-br", "pt-BR"),
        ("xx", None, None, "en"),
        (None, None, None, "en"),
        ("", "  ", "", "en"),
    ],
)
def test_choose_locale(
    explicit: str | None, user: str | None, channel: str | None, expected: str
) -> None:
    assert choose_locale(explicit, user, channel) == expected


def test_normalize_locale() -> None:
    assert normalize_locale("nb_NO") == "nb"
    assert normalize_locale("NL") == "nl"
    assert normalize_locale("fr-FR") is None
