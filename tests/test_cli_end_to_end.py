"""`whymail ingest` then `whymail ask --json`, as a user runs them, against loopback DNS."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.conftest import DATA, Whymail


@pytest.fixture
def loaded(whymail: Whymail) -> Whymail:
    for provider, name in (("whymail", "records.jsonl"), ("postmark", "postmark.jsonl")):
        result = whymail("ingest", "--provider", provider, str(DATA / "e2e" / name))
        assert result.code == 0, result.stderr
    return whymail


def ask(whymail: Whymail, *text: str) -> list[dict[str, Any]]:
    result = whymail("ask", "--json", *text)
    assert result.code == 0, result.stderr
    answers = result.json_lines()
    assert answers, "ask printed no answer"
    return answers


@pytest.mark.parametrize(
    ("question", "verdict"),
    [
        ("ola@firma.mailtest.test", "user_unknown"),
        ("per@firma.mailtest.test", "mailbox_full"),
        ("kari@outlook.mailtest.test", "delivered_check_spam"),
        ("ingrid@firma.mailtest.test", "spam_complaint"),
        ("bjorn@firma.mailtest.test", "suppressed"),
        ("joao@uol.mailtest.test", "in_progress"),
        ("t-7", "internal_failure"),
        ("lars@doesnotexist.mailtest.test", "domain_not_found"),
        ("post@nullmx.mailtest.test", "no_mail_server"),
        ("post@nomail.mailtest.test", "no_mail_server"),
        ("nobody@firma.mailtest.test", "not_found"),
        ('"<!channel>"@x.no', "invalid_address"),
        ("erik@firma.mailtest.test", "unknown"),
    ],
)
def test_every_leaf_is_reached(loaded: Whymail, question: str, verdict: str) -> None:
    (answer,) = ask(loaded, question)
    assert answer["verdict"] == verdict
    assert answer["path"][-1] == verdict
    for key in ("reason", "hard", "recipient", "dispatch_id", "facts", "answer"):
        assert key in answer
    assert answer["answer"]["title"]


def test_hard_bounce_is_classified_and_case_insensitive(loaded: Whymail) -> None:
    (answer,) = ask(loaded, "hvorfor fikk ikke OLA@firma.mailtest.test fakturaen?")
    assert answer["recipient"] == "ola@firma.mailtest.test"
    assert answer["reason"] == "userunknown"
    assert answer["hard"] is True
    assert answer["dispatch_id"] == "t-1"
    assert answer["answer"]["locale"] == "nb"


def test_dispatch_id_answers_for_each_recipient(loaded: Whymail) -> None:
    answers = ask(loaded, "t-9")
    assert [a["recipient"] for a in answers] == [
        "post@nullmx.mailtest.test",
        "post@nomail.mailtest.test",
    ]
    assert {a["verdict"] for a in answers} == {"no_mail_server"}
    assert answers[0]["facts"]["domain"]["null_mx"] is True


def test_tenant_sees_only_its_own(loaded: Whymail) -> None:
    (mine,) = ask(loaded, "--tenant", "other", "erik@firma.mailtest.test")
    (theirs,) = ask(loaded, "--tenant", "acme", "erik@firma.mailtest.test")
    assert mine["dispatch_id"] == "t-10"
    assert theirs["verdict"] == "not_found"
    assert theirs["dispatch_id"] is None


def test_ingesting_twice_adds_nothing(loaded: Whymail) -> None:
    again = loaded("ingest", "--provider", "postmark", str(DATA / "e2e" / "postmark.jsonl"))
    assert again.code == 0
    assert again.stdout.startswith("0 new events (6 already stored)")


def test_human_output_shows_verdict_steps_and_evidence(loaded: Whymail) -> None:
    result = loaded("ask", "ola@firma.mailtest.test")
    assert result.code == 0
    assert "[user_unknown]" in result.stdout
    assert "What to do:" in result.stdout
    assert "550 5.1.1" in result.stdout
    assert "DNS for firma.mailtest.test: mail servers (MX) mx.firma.mailtest.test" in result.stdout


def test_servfail_is_inconclusive_never_no_mail_server(whymail: Whymail) -> None:
    (answer,) = ask(whymail, "someone@broken.test")
    assert answer["facts"]["domain"]["inconclusive"] is True
    assert "SERVFAIL" in answer["facts"]["domain"]["cause"]
    assert answer["verdict"] == "not_found"


def test_unreachable_dns_server_is_inconclusive_and_bounded(
    whymail: Whymail, blackhole: str
) -> None:
    silent = whymail.with_env(WHYMAIL_DNS_NAMESERVERS=blackhole, WHYMAIL_DNS_TIMEOUT="0.5")
    started = time.monotonic()
    (answer,) = ask(silent, "someone@firma.mailtest.test")
    assert time.monotonic() - started < 10
    assert answer["facts"]["domain"]["inconclusive"] is True
    assert answer["verdict"] not in ("no_mail_server", "domain_not_found")


def test_bad_lines_are_reported_and_good_lines_kept(whymail: Whymail) -> None:
    lines = "\n".join(
        [
            '{"RecordType": "Delivery", "MessageID": "m1", "Recipient": "a@firma.mailtest.test",'
            ' "DeliveredAt": "2026-11-01T08:00:00Z"}',
            "{not json",
            '{"RecordType": "Delivery", "MessageID": "m2"}',
            '{"RecordType": "Inbound"}',
            "[1, 2]",
            '{"RecordType": "Delivery", "MessageID": "m3", "Recipient": "b@firma.mailtest.test",'
            ' "DeliveredAt": "yesterday"}',
            '{"RecordType": "Bounce", "Type": "HardBounce", "ID": 9,'
            ' "Email": "c@firma.mailtest.test", "BouncedAt": "2026-11-01T08:00:00Z",'
            ' "Details": "smtp;550 5.1.1 no such user"}',
        ]
    )
    result = whymail("ingest", "--provider", "postmark", "-", stdin=lines)
    assert result.code == 1
    assert "Traceback" not in result.stderr
    for number in (2, 3, 4, 5, 6):
        assert f"line {number}:" in result.stderr
    assert "line 1:" not in result.stderr
    assert result.stdout.startswith("2 new events")
    (answer,) = ask(whymail, "c@firma.mailtest.test")
    assert answer["verdict"] == "user_unknown"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ingest", "--provider", "carrier-pigeon", "-"), "unknown provider"),
        (("ask", ""), "nothing to look up"),
        (("ask", "   "), "nothing to look up"),
        (("ingest", "--provider", "postmark", "/nonexistent/file.jsonl"), "cannot read"),
    ],
)
def test_bad_input_gets_a_clear_message(
    whymail: Whymail, args: tuple[str, ...], message: str
) -> None:
    result = whymail(*args, stdin="")
    assert result.code == 2 or (result.code == 1 and "cannot read" in message)
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_ten_kilobytes_of_text(whymail: Whymail) -> None:
    text = ("lorem ipsum " * 900) + " ola@firma.mailtest.test"
    result = whymail("ask", "--json", text)
    assert result.code == 2
    assert "Traceback" not in result.stderr
    noisy = "ola@firma.mailtest.test " + ("x" * 10_000)
    (answer,) = ask(whymail, noisy)
    assert answer["recipient"] == "ola@firma.mailtest.test"


def test_channel_mention_address_is_invalid_and_not_rendered_raw(whymail: Whymail) -> None:
    (answer,) = ask(whymail, '"<!channel>"@x.no')
    assert answer["verdict"] == "invalid_address"
    assert answer["facts"]["address"]["problem"]


def test_knowledge_check_passes_on_shipped_trees(whymail: Whymail) -> None:
    result = whymail("knowledge", "check")
    assert result.code == 0, result.stderr
    assert "example(s) pass" in result.stdout


def test_demo_shows_every_kind_of_answer(whymail: Whymail) -> None:
    result = whymail("ask", "--demo", "--json")
    assert result.code == 0, result.stderr
    verdicts = {a["verdict"] for a in result.json_lines()}
    assert {
        "user_unknown",
        "mailbox_full",
        "delivered_check_spam",
        "domain_not_found",
        "typo_domain",
        "no_mail_server",
        "spam_complaint",
        "suppressed",
        "in_progress",
        "internal_failure",
        "not_found",
        "invalid_address",
    } <= verdicts


def test_help_teaches(whymail: Whymail) -> None:
    result = whymail("--help")
    assert result.code == 0
    assert "whymail ask --demo" in result.stdout
    ask_help = whymail("ask", "--help")
    assert "WHYMAIL_DNS_NAMESERVERS" in ask_help.stdout


def test_near_miss_suggestions_stay_within_the_tenant(loaded: Whymail) -> None:
    (own,) = ask(loaded, "--tenant", "other", "erikk@firma.mailtest.test")
    (foreign,) = ask(loaded, "--tenant", "acme", "erikk@firma.mailtest.test")
    assert own["facts"]["address"]["suggestion"] == "erik@firma.mailtest.test"
    assert foreign["facts"]["address"]["suggestion"] is None
    assert "erik@" not in json.dumps(foreign["answer"])
