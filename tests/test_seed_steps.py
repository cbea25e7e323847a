"""The seed pages' situations that once had no answer of their own, asked as a user asks them:
`whymail ask --demo ... --json`, in Norwegian, Dutch and Brazilian Portuguese, through the real
store, classifier and loopback DNS of the demo."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Whymail

LOCALES = ("nb", "nl", "pt-BR")


def ask(whymail: Whymail, question: str, *options: str) -> dict[str, Any]:
    result = whymail("ask", "--demo", question, "--json", *options)
    assert result.code == 0, result.stderr
    (answer,) = result.json_lines()
    return answer


def words(answer: dict[str, Any]) -> str:
    shown = answer["answer"]
    return "\n".join([shown["title"], shown["summary"], *shown["steps"]])


@pytest.mark.parametrize("locale", LOCALES)
def test_uol_antispam_hold_is_not_in_progress(whymail: Whymail, locale: str) -> None:
    agent = ask(whymail, "joao@uol.com.br", "--locale", locale)
    assert agent["verdict"] == "provider_antispam_challenge"
    assert "outcome" in agent["path"]
    customer = ask(whymail, "joao@uol.com.br", "--locale", locale, "--audience", "customer")
    text = words(customer)
    # The address to trust is named; the answer is not "wait, nothing to do".
    assert "faturamento@acme.com.br" in text
    english = words(ask(whymail, "joao@uol.com.br", "--audience", "customer"))
    assert customer["answer"]["title"] != english.splitlines()[0]


@pytest.mark.parametrize("locale", LOCALES)
def test_an_opt_out_is_its_own_answer(whymail: Whymail, locale: str) -> None:
    agent = ask(whymail, "nils@firma.no", "--locale", locale)
    assert agent["verdict"] == "unsubscribed"
    assert agent["facts"]["history"]["unsubscribed"] is True
    # a customer's JSON holds no verdict or facts, only the words
    answer = ask(whymail, "nils@firma.no", "--locale", locale, "--audience", "customer")
    assert answer["verdict"] is None
    assert len(answer["answer"]["steps"]) == 3


@pytest.mark.parametrize("locale", LOCALES)
def test_the_customers_own_mail_server_is_its_own_answer(whymail: Whymail, locale: str) -> None:
    agent = ask(whymail, "eva@firma.no", "--locale", locale)
    assert agent["verdict"] == "own_mail_server"
    assert agent["facts"]["dispatch"]["relay"] == "smtp.acme.no"
    answer = ask(whymail, "eva@firma.no", "--locale", locale, "--audience", "customer")
    assert "smtp.acme.no" in answer["answer"]["summary"]
    menu = {"nb": "Selskap > E-post", "nl": "Bedrijf > E-mail", "pt-BR": "Empresa > E-mail"}
    assert menu[locale] in words(answer)


def test_one_recent_deferral_says_wait(whymail: Whymail) -> None:
    agent = ask(whymail, "lise@firma.no", "--locale", "nb")
    assert agent["verdict"] == "in_progress"
    assert agent["facts"]["history"]["deferrals"] == 1
    # The dispatch record's Reply-To reaches the facts.
    assert agent["facts"]["dispatch"]["reply_to"] == "kari.nordmann@acme.no"
    assert agent["facts"]["dispatch"]["sender"] == "faktura@acme.no"
    answer = ask(whymail, "lise@firma.no", "--locale", "nb", "--audience", "customer")
    assert "du trenger ikke gjøre noe" in words(answer)


@pytest.fixture
def deferred_for_days(whymail: Whymail) -> Whymail:
    lines = [
        '{"type": "dispatch", "id": "x-1", "tenant": "acme", "sender": "faktura@acme.no", '
        '"recipients": ["per@firma.no"], "created_at": "2026-11-20T08:00:00Z", '
        '"state": "in_progress"}',
        *(
            '{"type": "event", "event_type": "deferred", "recipient": "per@firma.no", '
            f'"dispatch_id": "x-1", "timestamp": "2026-11-{day}T08:00:00Z", '
            '"diagnostic": "451 4.3.0 Temporary failure"}'
            for day in (20, 21, 22, 23)
        ),
    ]
    result = whymail("ingest", "--provider", "whymail", "-", stdin="\n".join(lines) + "\n")
    assert result.code == 0, result.stderr
    return whymail


@pytest.mark.parametrize("locale", LOCALES)
def test_days_of_deferrals_say_act(deferred_for_days: Whymail, locale: str) -> None:
    agent = deferred_for_days("ask", "per@firma.no", "--json", "--locale", locale)
    assert agent.code == 0, agent.stderr
    (facts_of,) = agent.json_lines()
    assert facts_of["verdict"] == "in_progress"
    assert facts_of["facts"]["history"]["deferred_hours"] == 72
    result = deferred_for_days(
        "ask", "per@firma.no", "--json", "--locale", locale, "--audience", "customer"
    )
    assert result.code == 0, result.stderr
    (answer,) = result.json_lines()
    days = {"nb": "3 døgn", "nl": "3 dagen", "pt-BR": "3 dias"}
    assert days[locale] in answer["answer"]["summary"]


def test_a_sending_domain_that_does_not_exist_is_not_a_junk_folder_answer(
    whymail: Whymail,
) -> None:
    (jan, _) = (
        a
        for a in whymail("ask", "--demo", "d-1010", "--json", "--locale", "nl").json_lines()
        if a["recipient"] in ("jan@bouwbedrijf.nl", "boekhouding@bouwbedrijf.nl")
    )
    assert jan["recipient"] == "jan@bouwbedrijf.nl"
    assert jan["verdict"] == "sender_auth_failed"
    assert jan["facts"]["sender"]["exists"] is False
