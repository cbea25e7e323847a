"""The SMTP phase as data, and the status-code fallback that must be right whatever the text.

Every phrasing family in `_rules.PHASE_PATTERNS` and every code in `_rules.RFC3463_REASONS` is
tried here with wording of our own (paraphrased the way another MTA would put it), not with
sentences from the corpus: a rule that only knows the corpus's sentences does not generalise.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bot.bounces import classify, parse_bounce
from bot.bounces._classify import canonical_phase, find_phase, normalise
from bot.bounces._gate import Gate
from bot.cli_bounce import classify_jsonl, parse_files_jsonl


def phase_of(text: str) -> str | None:
    return find_phase(normalise(text))


@pytest.mark.parametrize(
    ("text", "phase"),
    [
        # "<verb> <command>": Postfix, Exim and most other MTAs
        ("mx.example.net said: 550 no mailbox here (in reply to RCPT TO command)", "rcpt"),
        ("remote server refused us after pipelined RCPT TO:<ann@example.net>: 550 gone", "rcpt"),
        ("550 no thanks, error following RCPT", "rcpt"),
        ("554 we do not want it (in response to end of DATA command)", "data"),
        ("permanent error from mx.example.net after pipelined DATA: 554 refused", "data"),
        ("mx.example.net dropped the line while sending message body", "data"),
        ("remote end hung up while sending the data block", "data"),
        ("553 sender unacceptable (in response to the MAIL FROM command)", "mail"),
        ("refusal from remote mail server after MAIL FROM:<me@example.org>: 553 nope", "mail"),
        ("501 bad greeting name, in reply to EHLO command", "helo"),
        ("454 no TLS for you (in reply to STARTTLS command)", "starttls"),
        ("421 too busy after the initial connection", "connect"),
        ("421 closing, after banner", "connect"),
        # "in/at/on <command>" with the explicit command names
        ("550 that mailbox is unknown here in RCPT TO", "rcpt"),
        ("553 refused at MAIL FROM", "mail"),
        ("554 message refused at end of DATA", "data"),
        # transcripts, with the arrows either way
        ("while talking to mx.example.net: >>> RCPT To:<bo@example.net> <<< 550 no user", "rcpt"),
        ("Sent <<< RCPT TO:<bo@example.net> Received >>> 550 no user", "rcpt"),
        (">>> MAIL From:<me@example.org> <<< 553 relay denied", "mail"),
        (">>> EHLO relay.example.org <<< 501 bad hostname", "helo"),
        (">>> STARTTLS <<< 454 TLS temporarily unavailable", "starttls"),
        (">>> DATA <<< 554 transaction failed", "data"),
        # a command in brackets after the reply
        ("553 5.1.8 bad sender domain [MAIL_FROM]", "mail"),
        ("550 5.1.1 no such mailbox [RCPT_TO]", "rcpt"),
        # qmail-remote and DragonFly DMA wording
        ("Reached 192.0.2.7 but greeting failed. Remote host said: 554 no service", "connect"),
        ("Got through to 192.0.2.7 but my name was rejected.", "helo"),
        ("Got through to 192.0.2.7 but sender was rejected. Remote host said: 553", "mail"),
        ("192.0.2.7 does not like recipient. Remote host said: 550 no mailbox", "rcpt"),
        ("192.0.2.7 failed on DATA command. Remote host said: 554 go away", "data"),
        ("192.0.2.7 failed after I sent the message. Remote host said: 554 spam", "data"),
        ("mx.example.net did not like our RCPT TO: 550 no mailbox", "rcpt"),
        ("mx.example.net did not like our MAIL FROM: 553 bad sender", "mail"),
        ("mx.example.net did not like our DATA: 554 content refused", "data"),
        # Postfix-style lost connections and timeouts
        ("timed out while receiving the server greeting", "connect"),
        ("connection dropped while performing the LHLO exchange", "helo"),
        ("host mx.example.net[192.0.2.9] refused to talk to me: 554 go away", "connect"),
        ("Connection reset by peer during the greeting", "connect"),
        # a reporting MTA's summary that the remote server refused the address itself
        ("Reason: the remote host rejected the recipient address", "rcpt"),
        ("most progress was RCPT-TO before the failure", "rcpt"),
    ],
)
def test_phase_families(text: str, phase: str) -> None:
    assert phase_of(text) == phase


@pytest.mark.parametrize(
    "text",
    [
        "The following mail could not be delivered to ann@example.net",
        "550 mailbox unavailable",
        "Your message was not delivered; the data could not be read",
        "Delivery to the following recipient failed permanently",
    ],
)
def test_prose_names_no_phase(text: str) -> None:
    assert phase_of(text) is None


def test_the_command_named_last_is_the_one_that_failed() -> None:
    # A transcript lists the commands that succeeded before the one that was refused.
    transcript = ">>> MAIL From:<me@example.org> <<< 250 ok >>> RCPT To:<a@example.net> <<< 250 ok"
    assert phase_of(transcript + " >>> DATA <<< 554 refused") == "data"
    assert phase_of(transcript.replace("250 ok", "550 no", 1)[: transcript.find("RCPT")]) == "mail"


def test_gate_last_takes_the_rightmost_match() -> None:
    gate = Gate({"a": (r"alpha",), "b": (r"beta",)}, ("a", "b"))
    assert gate.last("beta alpha beta", {"alpha", "beta"}) == "b"
    assert gate.last("alpha", {"alpha"}) == "a"
    assert gate.last("gamma", {"gamma"}) is None


@pytest.mark.parametrize(
    ("given", "phase"),
    [
        ("RCPT", "rcpt"),
        ("rcpt to", "rcpt"),
        ("RCPT_TO", "rcpt"),
        ("MAIL FROM", "mail"),
        ("EHLO", "helo"),
        ("CONN", "connect"),
        ("end-of-data", "data"),
        ("DATA", "data"),
        ("STARTTLS", "starttls"),
        ("quit", None),
        ("", None),
    ],
)
def test_callers_phase_names(given: str, phase: str | None) -> None:
    assert canonical_phase(given) == phase


def test_the_phase_comes_back_with_the_reason() -> None:
    got = classify("553 no thanks (in reply to MAIL FROM command)")
    assert (got.reason, got.phase) == ("rejected", "mail")
    assert classify("550 mailbox full", phase="RCPT TO").phase == "rcpt"
    assert classify("550 mailbox full").phase is None


@pytest.mark.parametrize(
    ("text", "phase", "reason", "hard"),
    [
        # after the body was sent, "no such user" is the recipient's side refusing this message
        ("550 sorry, no such user here", "data", "filtered", False),
        ("550 sorry, no such user here", "end of data", "filtered", False),
        ("550 sorry, no such user here", "rcpt", "userunknown", True),
        ("550 sorry, no such user here", None, "userunknown", True),
        # a status that itself says the address is wrong wins over the stage
        ("550 5.1.1 sorry, no such user here", "data", "userunknown", True),
        # at MAIL FROM it is the sender's address that is unknown
        ("553 unknown user", "mail", "rejected", False),
        ("553 5.1.0 the domain could not be found", "mail", "rejected", False),
        # a refusal before any address was sent: the connecting host, or the sender
        ("554 go away", "connect", "blocked", False),
        ("550 go away", "helo", "blocked", False),
        ("550 go away", "mail", "rejected", False),
    ],
)
def test_phase_decides_where_the_reason_depends_on_it(
    text: str, phase: str | None, reason: str, hard: bool
) -> None:
    got = classify(text, phase=phase)
    assert (got.reason, got.hard) == (reason, hard)


def test_a_status_saying_the_mailbox_exists_turns_user_unknown_into_a_filter() -> None:
    # RFC 3463 X.2.0: "the mailbox exists, but something about it caused this DSN".
    got = classify("550 recipient not known to this system", status="5.2.0")
    assert (got.reason, got.hard) == ("filtered", False)
    assert classify("550 recipient unknown", status="5.2.0", phase="rcpt").reason == "userunknown"
    # X.2.1 is used for plain unknown users as often: the text decides.
    assert classify("550 5.2.1 recipient unknown").reason == "userunknown"


# The fallback: text that names no cause, so that only the status can decide.
_NEUTRAL = "550 see the status"


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("5.1.1", "userunknown"),
        ("5.1.2", "hostunknown"),
        ("5.1.3", "userunknown"),
        ("5.1.6", "hasmoved"),
        ("5.1.7", "rejected"),
        ("5.1.8", "rejected"),
        ("5.1.10", "notaccept"),
        ("5.2.1", "suspend"),
        ("5.2.2", "mailboxfull"),
        ("5.2.3", "exceedlimit"),
        ("5.3.0", "systemerror"),
        ("5.3.1", "systemfull"),
        ("5.3.2", "notaccept"),
        ("5.3.4", "mesgtoobig"),
        ("5.3.5", "systemerror"),
        ("5.4.0", "networkerror"),
        ("4.4.1", "expired"),
        ("4.4.2", "networkerror"),
        ("4.4.3", "systemerror"),
        ("5.4.4", "hostunknown"),
        ("4.4.5", "toomanyconn"),
        ("5.4.6", "networkerror"),
        ("4.4.7", "expired"),
        ("5.5.1", "syntaxerror"),
        ("5.5.2", "syntaxerror"),
        ("5.5.3", "toomanyconn"),
        ("5.5.4", "syntaxerror"),
        ("5.5.5", "syntaxerror"),
        ("5.5.6", "syntaxerror"),
        ("5.6.0", "contenterror"),
        ("5.6.3", "contenterror"),
        ("5.6.10", "contenterror"),
        ("5.7.2", "rejected"),
        ("5.7.3", "securityerror"),
        ("5.7.4", "securityerror"),
        ("5.7.5", "securityerror"),
        ("5.7.6", "securityerror"),
        ("5.7.7", "securityerror"),
        ("5.7.8", "securityerror"),
        ("5.7.9", "securityerror"),
        ("5.7.10", "failedstarttls"),
        ("5.7.11", "failedstarttls"),
        ("5.7.12", "securityerror"),
        ("5.7.13", "suspend"),
        ("5.7.14", "securityerror"),
        ("5.7.16", "mesgtoobig"),
        ("5.7.17", "hasmoved"),
        ("5.7.18", "hasmoved"),
        ("5.7.20", "authfailure"),
        ("5.7.21", "authfailure"),
        ("5.7.22", "authfailure"),
        ("5.7.23", "authfailure"),
        ("5.7.24", "authfailure"),
        ("5.7.25", "requireptr"),
        ("5.7.26", "authfailure"),
        ("5.7.27", "rejected"),
        ("5.7.29", "authfailure"),
        # vendor codes outside the registry
        ("5.1.351", "userunknown"),
        ("4.4.312", "networkerror"),
        ("4.4.316", "expired"),
        ("5.7.509", "authfailure"),
        ("5.7.515", "authfailure"),
    ],
)
def test_status_code_fallback(status: str, reason: str) -> None:
    assert classify(_NEUTRAL, status=status).reason == reason


@pytest.mark.parametrize(
    "status",
    (
        "5.0.0 5.1.0 5.1.4 5.2.0 5.2.4 5.3.3 5.5.0 5.7.0 5.7.1 5.7.15 5.7.19 4.7.28 4.7.30 5.0.911"
    ).split(),
)
def test_catch_all_and_ambiguous_codes_decide_nothing(status: str) -> None:
    # a failure was reported, but the code names no cause: on hold, not a guessed reason
    assert classify(_NEUTRAL, status=status).reason == "onhold"


def test_hard_or_soft_from_the_class_when_only_the_status_spoke() -> None:
    assert classify(_NEUTRAL, status="5.1.1").hard is True
    # a temporary failure status alone is no proof the address is gone
    assert classify("450 see the status", status="4.1.1").hard is False
    assert classify("450 see the status", status="4.1.2").hard is False
    # the server's own words still decide when it says so
    assert classify("450 4.1.1 no such user here").hard is True
    assert classify("450 4.1.1 see the status", status="4.1.1").hard is False


def test_a_phrase_still_beats_the_fallback() -> None:
    # X.7.27 is the sender's null MX, but a remote that words it as its own refusal is read
    # by its words.
    assert classify("550 this host does not accept mail", status="5.7.27").reason == "notaccept"
    assert classify("554 message refused for policy reasons", status="5.7.9").reason == (
        "policyviolation"
    )


def test_classify_cli_adds_the_phase_it_read_and_keeps_a_callers_own() -> None:
    src = io.StringIO(
        '{"diagnostic": "550 nobody by that name (in reply to RCPT TO command)"}\n'
        '{"diagnostic": "550 nobody by that name", "phase": "DATA"}\n'
        '{"diagnostic": "452 4.2.2 over quota"}\n'
    )
    out = io.StringIO()
    assert classify_jsonl(src, out, io.StringIO()) == 0
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert (rows[0]["reason"], rows[0]["phase"]) == ("userunknown", "rcpt")
    assert (rows[1]["reason"], rows[1]["phase"]) == ("filtered", "DATA")
    assert "phase" not in rows[2]


_EXIM = b"""From: Mail Delivery System <Mailer-Daemon@relay.example.org>
To: me@example.org
Subject: Mail delivery failed: returning message to sender
X-Failed-Recipients: ann@example.net

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  ann@example.net
    host mx.example.net [192.0.2.40]
    SMTP error from remote mail server after end of data:
    550 no one here by that name

------ This is a copy of the message, including all the headers. ------
From: me@example.org
To: ann@example.net
Subject: hello
"""


def test_parse_reports_the_phase() -> None:
    (row,) = parse_bounce(_EXIM)
    assert (row.recipient, row.phase, row.reason) == ("ann@example.net", "data", "filtered")
    rcpt = parse_bounce(_EXIM.replace(b"after end of data", b"after RCPT TO:<ann@example.net>"))
    assert (rcpt[0].phase, rcpt[0].reason, rcpt[0].hard) == ("rcpt", "userunknown", True)


def test_parse_cli_prints_phase(tmp_path: Path) -> None:
    eml = tmp_path / "exim.eml"
    eml.write_bytes(_EXIM)
    out = io.StringIO()
    assert parse_files_jsonl([str(eml)], out, io.StringIO()) == 0
    (line,) = out.getvalue().splitlines()
    row = json.loads(line)
    assert row["phase"] == "data"
    # the keys the contract already had are all still there
    assert {"recipient", "status", "smtp_code", "diagnostic", "reason", "hard"} <= set(row)


@pytest.mark.parametrize(
    "text",
    [
        "550 recipient unknown",
        "550 5.1.1 mailbox is unknown here",
        "550 addressee unknown on this system",
        "550 local part unknown",
        "550 no one here by that name",
        "550 sorry, nobody with that name",
        "550 no user under this name",
    ],
)
def test_user_unknown_in_other_word_orders(text: str) -> None:
    assert classify(text).reason == "userunknown"


def test_other_word_orders_stay_whole_words() -> None:
    # "unknown" must end the phrase: "recipient unknowns" is not a word a server writes, and
    # a sender's unknown address is the sender's problem.
    assert classify("550 sender address unknown").reason == "rejected"
