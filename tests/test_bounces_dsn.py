"""Bounce-email parsing over several MTA formats (small in-repo copy of Sisimai's corpus)."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from bot.bounces import parse_bounce, parse_files_jsonl

DATA = Path(__file__).parent / "data" / "bounces"


def _rows() -> list[dict[str, object]]:
    lines = (DATA / "labels.jsonl").read_text().splitlines()
    return [r for r in (json.loads(line) for line in lines) if r["kind"] == "email"]


@pytest.mark.parametrize("row", _rows(), ids=lambda r: f"{r['eml']}#{r['index']}")
def test_corpus_copy(row: dict[str, object]) -> None:
    parsed = parse_bounce((DATA / str(row["eml"])).read_bytes())
    assert parsed
    want = str(row["recipient"])
    if want:
        match = [p for p in parsed if p.recipient == want]
        assert match, [p.recipient for p in parsed]
        got = match[0]
    else:
        got = parsed[int(str(row["index"])) - 1]
    assert got.reason == row["reason"]
    assert got.hard is row["hard"]


def test_postfix_fields() -> None:
    (row,) = parse_bounce((DATA / "lhost-postfix-03.eml").read_bytes())
    assert row.recipient == "kijitora@example.net"
    assert row.status == "5.0.0"
    assert row.smtp_code == 550
    assert row.diagnostic == "550 Unknown user kijitora@example.net"
    assert row.mx_host == "mail.example.net"


def test_exim_two_recipients_without_dsn() -> None:
    rows = parse_bounce((DATA / "lhost-exim-02.eml").read_bytes())
    assert [r.recipient for r in rows] == ["kijitora@example.jp", "sabatora@example.jp"]
    assert [r.status for r in rows] == ["5.1.1", "5.2.1"]


PLAIN = b"""From: MAILER-DAEMON@mx.example.org
To: sender@example.com
Subject: Undelivered Mail Returned to Sender

This is the mail system at host mx.example.org.

<gone@example.net>: host mx.example.net[192.0.2.1] said: 550 5.1.1 <gone@example.net>:
    Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO
    command)
<full@example.net>: host mx.example.net[192.0.2.1] said: 452 4.2.2 <full@example.net>:
    Mailbox full (in reply to RCPT TO command)
"""


def test_human_readable_postfix_without_dsn_part() -> None:
    rows = parse_bounce(PLAIN)
    assert [(r.recipient, r.reason, r.hard) for r in rows] == [
        ("gone@example.net", "userunknown", True),
        ("full@example.net", "mailboxfull", False),
    ]


SES = b"""From: no-reply@sns.amazonaws.com
Subject: AWS Notification Message
Content-Type: text/plain

{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bounceSubType":"General",
"bouncedRecipients":[{"emailAddress":"nobody@example.org","action":"failed","status":"5.1.1",
"diagnosticCode":"smtp; 550 5.1.1 user unknown"}]},"mail":{"source":"a@example.com"}}
"""


def test_amazon_ses_notification() -> None:
    (row,) = parse_bounce(SES)
    assert row.recipient == "nobody@example.org"
    assert row.reason == "userunknown"
    assert row.status == "5.1.1"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        "",
        b"\x00\x01\x02\xff" * 1000,
        "Subject: \udcff\n\n\udcfe".encode("utf-8", "surrogateescape"),
        b"Content-Type: multipart/report; boundary=\"x\"\n\n--x\nContent-Type: message/delivery-"
        b"status\n\nFinal-Recipient: rfc822;\n--x\n--x--\n--y\n",
        b"Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: multipart/mixed; "
        b"boundary=a\n\n--a\n" * 50,
        b"Subject: big\n\n" + b"A" * (5 * 1024 * 1024),
        b"Subject: line\n\n" + b"x" * 100_000,
        b"Subject: at\n\n" + (b"a" * 100_000 + b"@") * 3,
    ],
    ids=["empty", "empty-str", "binary", "non-utf8", "broken-mime", "nested", "5mb", "long-line",
         "long-local-part"],
)
def test_bad_input_yields_no_crash_and_bounded_time(data: bytes | str) -> None:
    start = time.perf_counter()
    rows = parse_bounce(data)
    assert time.perf_counter() - start < 1.0
    assert all(isinstance(r.reason, str) for r in rows)


def test_not_a_bounce_gives_no_rows() -> None:
    assert parse_bounce(b"From: a@example.com\nSubject: hi\n\nhello there\n") == []


def test_parse_files_jsonl(tmp_path: Path) -> None:
    missing = tmp_path / "missing.eml"
    out, err = io.StringIO(), io.StringIO()
    code = parse_files_jsonl([str(missing), str(DATA / "lhost-postfix-03.eml")], out, err)
    assert code != 0
    assert "missing.eml" in err.getvalue()
    (line,) = out.getvalue().splitlines()
    assert json.loads(line) == {
        "recipient": "kijitora@example.net",
        "status": "5.0.0",
        "smtp_code": 550,
        "diagnostic": "550 Unknown user kijitora@example.net",
        "reason": "filtered",
        "hard": False,
    }
