"""What users really have: webhook bodies saved as the ESPs posted them, and dispatch ids that
only the ESPs' metadata knows. Through the CLI, as a user runs it, with no dispatch records."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Whymail

DISPATCH = "INV-2026-0117"
BOUNCED = "ola@firma.mailtest.test"
DELIVERED = "kari@firma.mailtest.test"
SENDER = "Acme Faktura <faktura@acme.mailtest.test>"
SUBJECT = "Faktura 2026-0117"


def sendgrid_body(dispatch: str = DISPATCH, tenant: str = "acme") -> list[dict[str, Any]]:
    """SendGrid posts a JSON array; custom_args arrive merged into each event's top level."""
    common = {"dispatch_id": dispatch, "tenant": tenant, "sg_message_id": f"sg-{dispatch}.f1"}
    return [
        {**common, "email": BOUNCED, "timestamp": 1764230400, "event": "processed",
         "sg_event_id": f"{dispatch}-p"},
        {**common, "email": BOUNCED, "timestamp": 1764230460, "event": "bounce", "type": "bounce",
         "status": "5.1.1", "reason": "550 5.1.1 The email account does not exist.",
         "sg_event_id": f"{dispatch}-b"},
        {**common, "email": DELIVERED, "timestamp": 1764230470, "event": "delivered",
         "response": "250 OK", "sg_event_id": f"{dispatch}-d"},
    ]  # fmt: skip


def postmark_body(dispatch: str = DISPATCH, tenant: str = "acme") -> dict[str, Any]:
    return {
        "RecordType": "Bounce", "ID": 4100117, "Type": "HardBounce", "TypeCode": 1,
        "MessageID": f"pm-{dispatch}", "Metadata": {"dispatch_id": dispatch, "tenant": tenant},
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": BOUNCED, "From": SENDER, "Subject": SUBJECT,
        "BouncedAt": "2026-11-27T08:01:00Z", "Inactive": True, "CanActivate": True,
    }  # fmt: skip


def mailgun_body(dispatch: str = DISPATCH, tenant: str = "acme") -> dict[str, Any]:
    return {
        "signature": {"timestamp": "1764230460", "token": "a" * 50, "signature": "0" * 64},
        "event-data": {
            "event": "failed", "id": f"mg-{dispatch}", "timestamp": 1764230460.5,
            "severity": "permanent", "reason": "bounce", "recipient": BOUNCED,
            "user-variables": {"dispatch_id": dispatch, "tenant": tenant},
            "message": {"headers": {"to": BOUNCED, "message-id": f"{dispatch}@mg.acme.test",
                                    "from": SENDER, "subject": SUBJECT}},
            "delivery-status": {"code": 550, "message": "5.1.1 The email account does not exist",
                                "mx-host": "mx.firma.mailtest.test"},
        },
    }  # fmt: skip


def ses_body(dispatch: str = DISPATCH, tenant: str = "acme") -> dict[str, Any]:
    """An SNS Notification whose Message is the SES event, as JSON text."""
    event = {
        "eventType": "Bounce",
        "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
                   "bouncedRecipients": [{"emailAddress": BOUNCED, "action": "failed",
                                          "status": "5.1.1",
                                          "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
                   "timestamp": "2026-11-27T08:01:00.000Z", "feedbackId": f"fb-{dispatch}"},
        "mail": {"timestamp": "2026-11-27T08:00:00.000Z", "source": SENDER,
                 "messageId": f"ses-{dispatch}", "destination": [BOUNCED],
                 "commonHeaders": {"from": [SENDER], "to": [BOUNCED], "subject": SUBJECT},
                 "tags": {"dispatch_id": [dispatch], "tenant": [tenant]}},
    }  # fmt: skip
    return {
        "Type": "Notification",
        "MessageId": f"sns-{dispatch}",
        "TopicArn": "arn:aws:sns:eu-west-1:123456789012:ses-events",
        "Message": json.dumps(event),
        "Timestamp": "2026-11-27T08:01:01.000Z",
        "SignatureVersion": "1",
        "Signature": "x",
        "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/cert.pem",
    }


def brevo_body(dispatch: str = DISPATCH, tenant: str = "acme") -> list[dict[str, Any]]:
    """A batched Brevo body; our metadata rides in X-Mailin-custom as JSON text."""
    custom = json.dumps({"dispatch_id": dispatch, "tenant": tenant})
    common = {"message-id": f"<{dispatch}@smtp-relay.mailin.fr>", "subject": SUBJECT,
              "X-Mailin-custom": custom, "email": BOUNCED}  # fmt: skip
    return [
        {**common, "event": "request", "ts_epoch": 1764230400000},
        {**common, "event": "hard_bounce", "ts_epoch": 1764230460000,
         "reason": "RecipientError: 550 5.1.1 mailbox unavailable"},
    ]  # fmt: skip


BODIES: dict[str, Callable[..., Any]] = {
    "postmark": postmark_body,
    "mailgun": mailgun_body,
    "sendgrid": sendgrid_body,
    "ses": ses_body,
    "brevo": brevo_body,
}
#: Which ESPs repeat the subject and From in their events (SendGrid's webhook does not).
TELLS_SUBJECT = {"postmark", "mailgun", "ses", "brevo"}


def ingest(whymail: Whymail, provider: str, *bodies: Any) -> Any:
    lines = "\n".join(json.dumps(b) for b in bodies) + "\n"
    return whymail("ingest", "--provider", provider, "-", stdin=lines)


def answers(whymail: Whymail, *args: str) -> list[dict[str, Any]]:
    result = whymail("ask", "--json", *args)
    assert result.code == 0, result.stderr
    return result.json_lines()


def test_a_saved_sendgrid_body_of_three_events_ingests(whymail: Whymail) -> None:
    result = ingest(whymail, "sendgrid", sendgrid_body())
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("3 new events")
    (bounced,) = answers(whymail, BOUNCED)
    assert bounced["verdict"] == "user_unknown"
    (delivered,) = answers(whymail, DELIVERED)
    assert delivered["facts"]["event"]["type"] == "delivered"


def test_one_event_per_line_still_ingests(whymail: Whymail) -> None:
    result = ingest(whymail, "sendgrid", *sendgrid_body())
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("3 new events")


@pytest.mark.parametrize("provider", sorted(BODIES))
def test_a_dispatch_id_known_only_from_esp_metadata_is_found(
    whymail: Whymail, provider: str
) -> None:
    result = ingest(whymail, provider, BODIES[provider]())
    assert result.code == 0, result.stderr
    found = {a["recipient"]: a for a in answers(whymail, DISPATCH)}
    assert BOUNCED in found
    answer = found[BOUNCED]
    assert answer["verdict"] == "user_unknown"
    assert answer["dispatch_id"] == DISPATCH
    assert answer["facts"]["query"]["kind"] == "dispatch"
    if provider in TELLS_SUBJECT:
        assert answer["facts"]["dispatch"]["subject"] == SUBJECT


@pytest.mark.parametrize("provider", sorted(BODIES))
def test_the_tenant_tag_keeps_a_metadata_dispatch_to_its_tenant(
    whymail: Whymail, provider: str
) -> None:
    assert ingest(whymail, provider, BODIES[provider]()).code == 0
    mine = {a["recipient"]: a for a in answers(whymail, "--tenant", "acme", DISPATCH)}
    (other,) = answers(whymail, "--tenant", "globex", DISPATCH)
    assert other["verdict"] == "not_found"
    assert mine[BOUNCED]["verdict"] == "user_unknown"


def test_the_sender_from_esp_events_is_the_one_checked(whymail: Whymail) -> None:
    assert ingest(whymail, "postmark", postmark_body()).code == 0
    (answer,) = answers(whymail, DISPATCH)
    assert answer["facts"]["sender"]["domain"] == "acme.mailtest.test"


RECORD = {
    "type": "dispatch", "id": DISPATCH, "tenant": "acme", "kind": "invoice",
    "subject": "", "sender": "", "recipients": [{"address": BOUNCED, "role": "to"}],
    "created_at": "2026-11-27T07:59:00Z", "state": "sent",
}  # fmt: skip


@pytest.mark.parametrize("record_first", [True, False], ids=["record-first", "events-first"])
def test_dispatch_record_and_metadata_events_merge_in_either_order(
    whymail: Whymail, record_first: bool
) -> None:
    steps = [("whymail", RECORD), ("sendgrid", sendgrid_body())]
    for provider, body in steps if record_first else reversed(steps):
        assert ingest(whymail, provider, body).code == 0
    found = {a["recipient"]: a for a in answers(whymail, DISPATCH)}
    # The record's kind and recipient, and the recipient only the ESP knew of.
    assert set(found) == {BOUNCED, DELIVERED}
    assert found[BOUNCED]["facts"]["dispatch"]["kind"] == "invoice"
    assert found[BOUNCED]["verdict"] == "user_unknown"
    assert found[DELIVERED]["facts"]["event"]["type"] == "delivered"


def test_bad_bodies_are_reported_by_line_and_good_ones_stored(whymail: Whymail) -> None:
    many = [
        {"email": f"n{i}@firma.mailtest.test", "timestamp": 1764230400, "event": "delivered",
         "sg_event_id": f"bulk-{i}"}
        for i in range(100_000)
    ]  # fmt: skip
    lines = [
        json.dumps(sendgrid_body()),  # 1: good, 3 events
        json.dumps([1, *sendgrid_body("INV-2")]),  # 2: a non-object in the array
        "[]",  # 3: an empty array
        json.dumps(many),  # 4: 100,000 events in one line
        json.dumps(postmark_body()),  # 5: another provider's body
        "{not json",  # 6
        '"just text"',  # 7
    ]
    result = whymail("ingest", "--provider", "sendgrid", "-", stdin="\n".join(lines), timeout=180)
    assert result.code == 1
    assert "Traceback" not in result.stderr
    for number in (2, 3, 5, 6, 7):
        assert f"line {number}:" in result.stderr
    for number in (1, 4):
        assert f"line {number}:" not in result.stderr
    assert "--provider postmark" in result.stderr
    assert "3 of 4 events stored" in result.stderr
    assert result.stdout.startswith(f"{3 + 3 + 100_000} new events")
    (bulk,) = answers(whymail, "n99999@firma.mailtest.test")
    assert bulk["facts"]["event"]["type"] == "delivered"
