"""Bounce-email parsing over several MTA formats (small in-repo copy of Sisimai's corpus)."""

from __future__ import annotations

import io
import json
import time
import tracemalloc
from collections.abc import Callable, Sequence
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

import pytest

from bot.bounces import MAX_BYTES, Cut, ParseNote, parse_bounce, parse_bounce_report
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
        # the SMTP stage the reply answered ("... in reply to end of DATA command")
        "phase": "data",
        "notes": [],
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
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(r["reason"], r["hard"]) for r in rows] == [
        ("delivered", None),
        ("vacation", None),
        ("feedback", None),
        ("filtered", False),
    ]
    assert rows[0]["recipient"] == "ok@example.net"
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


# Hostile bounces (reliability review D10), built here with the email package.


def _fields(**fields: str) -> Message:
    block = Message()
    for name, value in fields.items():
        block[name.replace("_", "-")] = value
    return block


def _report(recipients: Sequence[str], before: Sequence[Message] = ()) -> MIMEMultipart:
    """A DSN for `recipients`, after the parts `before` (which push it past a cut)."""
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = "MAILER-DAEMON@mx.example.org"
    report["To"] = "sender@example.com"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    for part in before:
        report.attach(part)
    report.attach(MIMEText("Your message could not be delivered.\n"))
    status = MIMEBase("message", "delivery-status")
    blocks: list[Message | str] = [_fields(Reporting_MTA="dns; mx.example.org")]
    blocks += [
        _fields(
            Final_Recipient=f"rfc822; {rcpt}",
            Action="failed",
            Status="5.1.1",
            Remote_MTA="dns; mx.example.net",
            Diagnostic_Code=f"smtp; 550 5.1.1 <{rcpt}>: User unknown",
        )
        for rcpt in recipients
    ]
    status.set_payload(blocks)
    report.attach(status)
    return report


def _forwarded(inner: Message, times: int) -> Message:
    """`inner` forwarded as an attachment `times` times, each by the person it was sent to."""
    for level in range(1, times + 1):
        outer = MIMEMultipart("mixed")
        outer["From"] = f"level{level}@example.com"
        outer["To"] = f"level{level + 1}@example.com"
        outer["Subject"] = "Fwd: Undelivered Mail Returned to Sender"
        outer.attach(MIMEText("See the bounce below.\n"))
        outer.attach(MIMEMessage(inner))
        inner = outer
    return inner


@pytest.mark.parametrize("times", [0, 1, 2, 3, 5, 10])
def test_forwarded_bounce_names_the_recipient_of_the_innermost_dsn(times: int) -> None:
    data = _forwarded(_report(["gone@example.net"]), times).as_bytes()
    report = parse_bounce_report(data)
    assert [(r.recipient, r.reason) for r in report.recipients] == [
        ("gone@example.net", "userunknown")
    ]
    assert report.notes == ()


def _forwarded_widely(levels: int) -> Message:
    """Forwards of four forwards of four ... of no bounce at all: few bytes, many messages,
    all of which a parse without a budget would read."""
    if levels == 0:
        return MIMEText("Nothing went wrong here.\n")
    outer = MIMEMultipart("mixed")
    outer["From"] = outer["To"] = f"level{levels}@example.com"
    outer.attach(MIMEText("See the bounces below.\n"))
    for _ in range(4):
        outer.attach(MIMEMessage(_forwarded_widely(levels - 1)))
    return outer


@pytest.mark.parametrize(
    "build",
    [
        lambda: _forwarded(_report(["gone@example.net"]), 11),
        lambda: _forwarded(_report(["gone@example.net"]), 60),
        lambda: _forwarded_widely(5),
    ],
    ids=["11-deep", "60-deep", "wide"],
)
def test_bounce_forwarded_beyond_the_limits_names_no_forwarder_and_says_so(
    build: Callable[[], Message],
) -> None:
    data = build().as_bytes()
    start = time.perf_counter()
    report = parse_bounce_report(data)
    assert time.perf_counter() - start < 1.0
    assert report.recipients == ()
    assert report.notes == (ParseNote(Cut.FORWARDS, 10),)
    assert str(report.notes[0]) == (
        "messages forwarded inside it were not all read (the limit is 10 levels, 32 messages)"
    )


PLAIN_NUL = """From: MAILER-DAEMON@mx.example.org
To: sender@example.com
Subject: Undelivered Mail Returned to Sender

<a\x00b@example.net>: host mx.example.net said: 550 5.1.1 User unknown (in reply to RCPT TO
    command)
<nul\x00@example.net>: host mx.example.net said: 550 5.1.1 User unknown (in reply to RCPT TO
    command)
<ok@example.net>: host mx.example.net said: 550 5.1.1 User unknown (in reply to RCPT TO
    command)
"""

SES_NUL = """From: no-reply@sns.amazonaws.com
Subject: AWS Notification Message
Content-Type: text/plain

{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bounceSubType":"General",
"bouncedRecipients":[{"emailAddress":"nul\\u0000@example.net","status":"5.1.1",
"diagnosticCode":"smtp; 550 5.1.1 user unknown"},{"emailAddress":"ok@example.net",
"status":"5.1.1","diagnosticCode":"smtp; 550 5.1.1 user unknown"}]}}
"""


@pytest.mark.parametrize(
    "data",
    [
        _report(["nul\x00@example.net", "a\x00b@example.net", "ok@example.net"]).as_bytes(),
        _report(["ok@example.net", "end@example.net\x7f", "esc\x1b@example.net"]).as_bytes(),
        PLAIN_NUL.encode(),
        SES_NUL.encode(),
    ],
    ids=["dsn-nul", "dsn-del-esc", "text", "ses"],
)
def test_addresses_with_control_characters_are_dropped_not_cleaned(data: bytes) -> None:
    rows = parse_bounce(data)
    # "nul@example.net" and "b@example.net" were never named: they may be someone else's.
    assert [r.recipient for r in rows] == ["ok@example.net"]
    assert rows[0].reason == "userunknown"


def _text(body: str, subtype: str = "plain") -> MIMEText:
    return MIMEText(body, subtype)


def _nested_multiparts(levels: int, inner: Message) -> Message:
    for _ in range(levels):
        outer = MIMEMultipart("mixed")
        outer.attach(inner)
        inner = outer
    return inner


def _after_big_html() -> bytes:
    html = _text("<p>filler</p>\n" * 400_000, "html")
    return _report(["gone@example.net"], [html]).as_bytes()


def _after_many_parts() -> bytes:
    return _report(["gone@example.net"], [_text("filler\n")] * 100).as_bytes()


def _deep_in_multiparts() -> bytes:
    return _nested_multiparts(12, _report(["gone@example.net"])).as_bytes()


def _behind_many_headers() -> bytes:
    report = _report(["gone@example.net"])
    for i in range(40_000):
        report[f"X-Filler-{i}"] = "x"
    return report.as_bytes()


def _many_dsn_recipients() -> bytes:
    return _report([f"user{i}@example.net" for i in range(300)]).as_bytes()


def _many_text_recipients() -> bytes:
    lines = "".join(f"<user{i}@example.net>: 550 5.1.1 User unknown\n" for i in range(300))
    return (
        "From: MAILER-DAEMON@mx.example.org\nTo: sender@example.com\n"
        f"Subject: Undelivered Mail Returned to Sender\n\n{lines}"
    ).encode()


def _deeper_than_python_recurses() -> bytes:
    # The email package's own generator cannot write this, so it is written out by hand.
    head = "".join(
        f'Content-Type: multipart/mixed; boundary="n{i}"\n\n--n{i}\n' for i in range(5000)
    )
    return (
        "From: MAILER-DAEMON@mx.example.org\nSubject: Undelivered Mail\n" + head + "\nx\n"
    ).encode()


@pytest.mark.parametrize(
    ("build", "rows", "note"),
    [
        (_after_big_html, 0, lambda data: ParseNote(Cut.SIZE, MAX_BYTES, len(data))),
        (_after_many_parts, 0, lambda _: ParseNote(Cut.PARTS, 64)),
        (_deep_in_multiparts, 0, lambda _: ParseNote(Cut.DEPTH, 8)),
        (_behind_many_headers, 0, lambda data: ParseNote(Cut.HEADERS, MAX_BYTES, len(data))),
        (_many_dsn_recipients, 200, lambda _: ParseNote(Cut.RECIPIENTS, 200, 300)),
        (_many_text_recipients, 200, lambda _: ParseNote(Cut.RECIPIENTS, 200, 300)),
        (_deeper_than_python_recurses, 0, lambda _: ParseNote(Cut.UNREADABLE)),
    ],
    ids=["size", "parts", "depth", "headers", "dsn-recipients", "text-recipients", "unreadable"],
)
def test_every_cut_is_reported(
    build: Callable[[], bytes], rows: int, note: Callable[[bytes], ParseNote]
) -> None:
    data = build()
    report = parse_bounce_report(data)
    assert len(report.recipients) == rows
    assert report.notes == (note(data),)


def test_a_bounce_read_whole_has_no_notes_and_parse_bounce_keeps_its_type() -> None:
    data = _report(["gone@example.net", "full@example.net"]).as_bytes()
    report = parse_bounce_report(data)
    assert report.notes == ()
    assert parse_bounce(data) == list(report.recipients)
    assert str(ParseNote(Cut.RECIPIENTS, 200, 10_000)) == (
        "only 200 of the 10,000 recipients found are listed"
    )
    assert str(ParseNote(Cut.SIZE, MAX_BYTES, 5 * 1024 * 1024)) == (
        "only the first 512 KiB of the email were read (it is 5.0 MiB)"
    )


def test_bounce_parse_reads_no_more_of_a_file_than_it_parses(tmp_path: Path) -> None:
    big = tmp_path / "big.eml"
    with big.open("wb") as fh:
        fh.write(_report(["gone@example.net"]).as_bytes())
        fh.truncate(64 * 1024 * 1024)  # sparse: costs no disk
    out, err = io.StringIO(), io.StringIO()
    tracemalloc.start()
    try:
        assert parse_files_jsonl([str(big)], out, err) == 0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024
    note = "only the first 512 KiB of the email were read (it is 64.0 MiB)"
    (line,) = out.getvalue().splitlines()
    assert json.loads(line)["recipient"] == "gone@example.net"
    assert json.loads(line)["notes"] == [note]
    assert err.getvalue() == f"{big}: {note}\n"


def test_bounce_parse_says_why_a_cut_file_has_no_failed_recipient(tmp_path: Path) -> None:
    cut = tmp_path / "cut.eml"
    cut.write_bytes(_report(["gone@example.net"], [_text("filler\n")] * 100).as_bytes())
    out, err = io.StringIO(), io.StringIO()
    assert parse_files_jsonl([str(cut)], out, err) == 0
    assert out.getvalue() == ""
    assert err.getvalue().splitlines() == [
        f"{cut}: no failed recipient found",
        f"{cut}: only the first 64 MIME parts were read",
    ]


def test_a_recipient_reported_by_two_mtas_gets_one_row_the_fuller_report() -> None:
    # A relay's own report ("unrecoverable error", no code) and the final MTA's DSN for the same
    # address, both in one bounce: one row, the one with a status and the remote reply.
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = "MAILER-DAEMON@relay.example.org"
    report["To"] = "sender@example.com"
    report.attach(MIMEText("Delivery to the following recipients failed.\n"))
    status = MIMEBase("message", "delivery-status")
    status.set_payload(
        [
            _fields(Reporting_MTA="dns; relay.example.org"),
            _fields(Final_Recipient="rfc822; ann@example.net", Action="failed"),
            _fields(Final_Recipient="rfc822; bo@example.net", Action="delayed", Status="4.4.1"),
            _fields(
                Final_Recipient="rfc822; ann@example.net",
                Action="failed",
                Status="5.1.1",
                Remote_MTA="dns; mx.example.net",
                Diagnostic_Code="smtp; 550 5.1.1 mailbox ann is not known here",
            ),
        ]
    )
    report.attach(status)
    rows = parse_bounce(report.as_bytes())
    assert [(r.recipient, r.status, r.reason) for r in rows] == [
        ("ann@example.net", "5.1.1", "userunknown"),
        ("bo@example.net", "4.4.1", "expired"),
    ]
