"""Bounce-email parsing over several MTA formats (small in-repo copy of Sisimai's corpus)."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from bot.bounces import parse_bounce
from bot.cli_bounce import parse_files_jsonl

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
        b'Content-Type: multipart/report; boundary="x"\n\n--x\nContent-Type: message/delivery-'
        b"status\n\nFinal-Recipient: rfc822;\n--x\n--x--\n--y\n",
        b"Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: multipart/mixed; "
        b"boundary=a\n\n--a\n" * 50,
        b"Subject: big\n\n" + b"A" * (5 * 1024 * 1024),
        b"Subject: line\n\n" + b"x" * 100_000,
        b"Subject: at\n\n" + (b"a" * 100_000 + b"@") * 3,
    ],
    ids=[
        "empty",
        "empty-str",
        "binary",
        "non-utf8",
        "broken-mime",
        "nested",
        "5mb",
        "long-line",
        "long-local-part",
    ],
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


def test_parse_files_jsonl_prints_failures_and_complaints_only(tmp_path: Path) -> None:
    delivered = tmp_path / "delivered.eml"
    delivered.write_bytes(
        b"From: MAILER-DAEMON@mx.example.org\nSubject: Successful Mail Delivery Report\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
        b"--b\nContent-Type: text/plain\n\nYour message was delivered.\n"
        b"--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\n"
        b"Final-Recipient: rfc822; ok@example.net\nAction: delivered\nStatus: 2.0.0\n"
        b"Diagnostic-Code: smtp; 250 2.0.0 Ok: queued\n--b--\n"
    )
    assert [r.reason for r in parse_bounce(delivered.read_bytes())] == ["delivered"]
    paths = [
        str(delivered),
        str(DATA / "rfc3834-02.eml"),
        str(DATA / "arf-01.eml"),
        str(DATA / "lhost-postfix-03.eml"),
    ]
    out, err = io.StringIO(), io.StringIO()
    assert parse_files_jsonl(paths, out, err) == 0
    reasons = [json.loads(line)["reason"] for line in out.getvalue().splitlines()]
    assert reasons == ["feedback", "filtered"]
    assert "delivered.eml: no failed recipient found" in err.getvalue()
    assert "rfc3834-02.eml: no failed recipient found" in err.getvalue()


def test_arf_report_lists_every_complaining_recipient() -> None:
    rows = parse_bounce((DATA / "arf-16.eml").read_bytes())
    assert len(rows) == 7
    assert {r.reason for r in rows} == {"feedback"}
    assert rows[0].recipient == "kijitora@example.com"
    assert all(r.hard is None for r in rows)


def test_ses_notification_folded_by_sendmail_still_parses() -> None:
    # Sendmail breaks over-long lines with "!" + newline + space, even inside JSON.
    (row,) = parse_bounce((DATA / "lhost-amazonses-11.eml").read_bytes())
    assert (row.recipient, row.reason, row.hard) == (
        "complaint@simulator.amazonses.com",
        "feedback",
        None,
    )


def test_wrong_mime_boundary_is_repaired_from_the_body() -> None:
    # The header declares one boundary, the parts use another (a relay rewrote the header).
    (row,) = parse_bounce((DATA / "rhost-google-02.eml").read_bytes())
    assert row.recipient == "neko-nyaan@example.org"
    assert (row.status, row.reason, row.hard) == ("5.1.1", "userunknown", True)
    assert row.mx_host == "aspmx.l.google.com"


def test_bounce_forwarded_inside_another_bounce() -> None:
    (row,) = parse_bounce((DATA / "lhost-x5-01.eml").read_bytes())
    assert (row.recipient, row.reason) == ("kijitora@neko.example.org", "userunknown")


DSN_WITHOUT_BLANK_LINES = b"""From: MAILER-DAEMON@mx.example.org
Subject: Undelivered Mail Returned to Sender
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain

Delivery failed for two recipients.
--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org
Final-Recipient: rfc822; full@example.net
Action: failed
Status: 5.2.2
Diagnostic-Code: smtp; 552 5.2.2 Mailbox full
Final-Recipient: rfc822; gone@example.net
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 User unknown
--b--
"""


def test_dsn_recipients_without_blank_lines_between_them() -> None:
    rows = parse_bounce(DSN_WITHOUT_BLANK_LINES)
    assert [(r.recipient, r.reason, r.hard) for r in rows] == [
        ("full@example.net", "mailboxfull", False),
        ("gone@example.net", "userunknown", True),
    ]


def _dsn(diagnostic: str, status: str, notice: str = "Delivery failed.") -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.org\nSubject: Undelivered Mail Returned to Sender\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        f"--b\nContent-Type: text/plain\n\n{notice}\n"
        "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\n"
        f"Final-Recipient: rfc822; who@example.net\nAction: failed\nStatus: {status}\n"
        f"Remote-MTA: dns; mx.example.net\nDiagnostic-Code: {diagnostic}\n--b--\n"
    ).encode()


def test_smtp_phase_decides_between_unknown_user_and_a_filter() -> None:
    # A bare "550 Unknown user" with no sign of RCPT TO: the recipient's filter (Sisimai's
    # reading); the same reply "in reply to RCPT TO" or with a 5.1.1 status: no such mailbox.
    (row,) = parse_bounce(_dsn("smtp; 550 Unknown user who@example.net", "5.0.0"))
    assert (row.reason, row.hard) == ("filtered", False)
    rcpt = (
        "<who@example.net>: host mx.example.net said: 550 Unknown user (in reply to RCPT TO "
        "command)"
    )
    (row,) = parse_bounce(_dsn("smtp; 550 Unknown user who@example.net", "5.0.0", rcpt))
    assert (row.reason, row.hard) == ("userunknown", True)
    (row,) = parse_bounce(_dsn("smtp; 550 5.1.1 Unknown user who@example.net", "5.1.1"))
    assert (row.reason, row.hard) == ("userunknown", True)


def test_local_delivery_program_failure_is_mailererror() -> None:
    (row,) = parse_bounce(
        _dsn("x-unix; procmail: Couldn't create /var/mail/who: No such user", "5.0.0")
    )
    assert row.reason == "mailererror"


def test_status_and_code_prefer_the_failing_reply_of_a_transcript() -> None:
    notice = (
        "Transcript of session follows.\n Out: 250 2.1.5 Ok\n In: DATA\n"
        " Out: 354 End data\n Out: 451 4.3.0 Error: queue file write error\n"
    )
    (row,) = parse_bounce(_dsn("", "4.3.0", notice))
    assert row.reason != "delivered"
    assert row.hard is False


SENDMAIL_V5 = b"""From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.jp>
Subject: Returned mail: Host unknown

   ----- Transcript of session follows -----
While talking to mx.example.org:
>>> MAIL From:<sender@example.jp>
<<< 501 <sender@example.jp>... no access from mail server [192.0.2.55] which is an open relay.
554 <one@example.org>... Remote protocol error
550 example.com (smtp)... 550 Host unknown
554 <two@example.com>... 550 Host unknown (Authoritative answer from name server)
While talking to smtp.example.edu:
>>> RCPT To:<three@example.edu>
<<< 550 <three@example.edu>... User unknown
550 <three@example.edu>... User unknown

   ----- Unsent message follows -----
From: sender@example.jp
To: one@example.org
Subject: hello
"""


def test_sendmail_transcript_gives_each_recipient_its_own_dialogue() -> None:
    rows = parse_bounce(SENDMAIL_V5)
    assert [(r.recipient, r.reason) for r in rows] == [
        ("one@example.org", "blocked"),
        ("two@example.com", "hostunknown"),
        ("three@example.edu", "userunknown"),
    ]


GMAIL_OLD = b"""From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
Subject: Delivery Status Notification (Failure)

Delivery to the following recipient failed permanently:

     who@example.net

Technical details of permanent failure:
Google tried to deliver your message, but it was rejected by the recipient domain. We recommend
contacting the other email provider for further information about the cause of this error. The
error that the other server returned was: 500 Remote server does not support TLS (state 6).

----- Original message -----
To: who@example.net
"""


def test_gmail_notice_is_read_for_the_quoted_remote_reply() -> None:
    (row,) = parse_bounce(GMAIL_OLD)
    assert (row.recipient, row.reason) == ("who@example.net", "failedstarttls")
    assert row.diagnostic is not None
    assert row.diagnostic.startswith("500 Remote server")


def test_reason_above_the_address_list_is_found() -> None:
    # MailMarshal puts the remote reply above "The following recipients were affected".
    (row,) = parse_bounce((DATA / "lhost-mailmarshalsmtp-02.eml").read_bytes())
    assert (row.recipient, row.reason, row.hard) == (
        "kijitora@nyaan.example.com",
        "userunknown",
        True,
    )


def test_bounce_marked_auto_replied_is_not_a_vacation_reply() -> None:
    data = (
        b"From: mailer-daemon@mx.example.org\nAuto-Submitted: auto-replied\n"
        b"Subject: There was an error sending your mail\n\n"
        b"SMTP Server <mx.example.net> rejected recipient <who@example.net> (Error following "
        b"RCPT command). It responded as follows: [550 5.1.1 User unknown]\n"
    )
    (row,) = parse_bounce(data)
    assert (row.recipient, row.reason, row.hard) == ("who@example.net", "userunknown", True)
    vacation = (
        b"From: who@example.net\nAuto-Submitted: auto-replied\nSubject: Re: invoice\n\n"
        b"I am out of the office until Monday.\n"
    )
    (row,) = parse_bounce(vacation)
    assert row.reason == "vacation"


def test_reporting_mta_words_versus_a_relayed_reply() -> None:
    # The MTA that looked the mailbox up itself says so in its own words: no such user.
    own = (
        b"From: postmaster@mx.example.net\nSubject: Undeliverable Mail\n\n"
        b"Unknown user: who@example.net\n\n\nOriginal message follows.\n\nTo: who@example.net\n"
    )
    (row,) = parse_bounce(own)
    assert (row.recipient, row.reason, row.hard) == ("who@example.net", "userunknown", True)
    # A list of failed addresses, each with the remote reply cut to "[text]": the remote
    # server spoke, and nothing places it at RCPT TO.
    relayed = (
        b"From: MAILER-DAEMON@relay.example.jp\nSubject: Returned mail\n\n"
        b"---The following addresses had delivery errors---\n\n"
        b"who@example.net [User unknown]\n\n"
    )
    (row,) = parse_bounce(relayed)
    assert (row.recipient, row.reason, row.hard) == ("who@example.net", "filtered", False)
