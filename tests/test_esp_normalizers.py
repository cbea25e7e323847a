"""Each ESP's documented payloads normalize to the anymail vocabulary, with our metadata back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.model import EventType
from bot.sources.esps.brevo import events as brevo
from bot.sources.esps.mailgun import events as mailgun
from bot.sources.esps.sendgrid import events as sendgrid
from bot.sources.esps.ses import events as ses
from bot.sources.normalizers import NORMALIZERS
from bot.sources.payload import PayloadError
from tests.conftest import DATA, Whymail

ESP = DATA / "esp"


def lines(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (ESP / name).read_text().splitlines() if line.strip()]


def test_every_provider_is_registered_for_ingest() -> None:
    assert {"postmark", "mailgun", "sendgrid", "ses", "brevo", "whymail"} <= set(NORMALIZERS)


def test_mailgun_webhook_events_api_and_logs_api_items() -> None:
    delivered, suppressed, temporary, hard = lines("mailgun.jsonl")
    (e,) = mailgun.normalize(delivered)
    assert (e.event_type, e.recipient) == (EventType.DELIVERED, "recipient@example.com")
    assert (e.dispatch_id, e.tenant, e.mx_host) == ("d_9f2c", "acme", "smtp-in.example.com")
    assert e.message_id == "20180812211713.1.DF5966851B4BAA99@example.org"
    assert e.smtp_code is None
    assert e.dedupe_key.startswith("mailgun:hTWCTD81RtiDN-ABCDEF:1534108637.153")
    (e,) = mailgun.normalize(suppressed)
    assert (e.event_type, e.reject_reason, e.suppressed) == (EventType.REJECTED, "bounced", True)
    assert e.smtp_code is None  # 605 is Mailgun's code, not an SMTP reply
    (e,) = mailgun.normalize(temporary)
    assert (e.event_type, e.hard, e.smtp_code) == (EventType.DEFERRED, False, 451)
    assert e.enhanced_status == "4.7.652"
    assert e.tenant == "acme"  # user-variables as a JSON string (Logs API)
    assert e.timestamp == datetime(2024, 5, 14, 13, 40, 18, 530000, tzinfo=UTC)
    (e,) = mailgun.normalize(hard)
    assert (e.event_type, e.hard, e.smtp_code, e.enhanced_status) == (
        EventType.BOUNCED,
        True,
        550,
        "5.1.1",
    )
    assert e.message_id == "x1@mg.acme.example"


def test_mailgun_rejected_takes_recipient_from_headers() -> None:
    (e,) = mailgun.normalize(
        {
            "event": "rejected",
            "id": "r1",
            "timestamp": 1715693569,
            "reject": {"reason": "Sandbox subdomains are for test purposes only"},
            "message": {"headers": {"to": "Jane@Example.com"}},
        }
    )
    assert (e.event_type, e.recipient) == (EventType.REJECTED, "jane@example.com")
    assert e.diagnostic == "Sandbox subdomains are for test purposes only"


def test_sendgrid_events_and_custom_args() -> None:
    processed, bounce, dropped, deferred = lines("sendgrid.jsonl")
    (e,) = sendgrid.normalize(processed)
    assert (e.event_type, e.dispatch_id, e.tenant) == (EventType.QUEUED, "d_9f2c", "acme")
    assert e.dedupe_key == "sendgrid:cHJvY2Vzc2VkLTEyMw"
    (e,) = sendgrid.normalize(bounce)
    assert (e.event_type, e.hard, e.smtp_code, e.enhanced_status) == (
        EventType.BOUNCED,
        True,
        550,
        "5.1.1",
    )
    (e,) = sendgrid.normalize(dropped)
    assert (e.event_type, e.reject_reason, e.suppressed) == (EventType.REJECTED, "bounced", True)
    (e,) = sendgrid.normalize(deferred)
    assert (e.event_type, e.dispatch_id, e.smtp_code) == (EventType.DEFERRED, "d_77", 421)
    blocked = dict(bounce, type="blocked", sg_event_id="b2")
    (e,) = sendgrid.normalize(blocked)
    assert (e.reject_reason, e.hard) == ("blocked", False)


def test_sendgrid_batch_names_the_bad_element() -> None:
    with pytest.raises(PayloadError, match="event 1"):
        sendgrid.normalize_batch([lines("sendgrid.jsonl")[0], {"event": "open"}])


def test_brevo_batch_names_the_bad_element() -> None:
    with pytest.raises(PayloadError, match="event 1"):
        brevo.normalize_batch([lines("brevo.jsonl")[0], {"event": "delivered"}])


def test_metadata_that_is_not_one_value_is_no_dispatch_id() -> None:
    # Shared by every provider: an object or list where a dispatch id belongs is not an id.
    item = lines("brevo.jsonl")[0]
    item["X-Mailin-custom"] = json.dumps({"dispatch_id": {"nested": 1}, "tenant": ["a"]})
    (e,) = brevo.normalize(item)
    assert (e.dispatch_id, e.tenant) == (None, None)
    item["X-Mailin-custom"] = json.dumps({"dispatch_id": 42, "tenant": "acme"})
    (e,) = brevo.normalize(item)
    assert (e.dispatch_id, e.tenant) == ("42", "acme")


def test_ses_fans_out_per_recipient_with_sns_message_id() -> None:
    envelope, delay, suppressed = lines("ses.jsonl")
    events = ses.normalize(envelope)
    assert [e.recipient for e in events] == ["jane@example.com", "bob@example.com"]
    assert {e.dedupe_key for e in events} == {
        "ses:19ba9823-d7f2-53c1-860e-cb10e0d13dfc:jane@example.com",
        "ses:19ba9823-d7f2-53c1-860e-cb10e0d13dfc:bob@example.com",
    }
    e = events[0]
    assert (e.event_type, e.hard, e.smtp_code, e.enhanced_status) == (
        EventType.BOUNCED,
        True,
        550,
        "5.1.1",
    )
    assert (e.dispatch_id, e.tenant) == ("d_9f2c", "acme")  # tag, then X-Tenant header
    assert e.diagnostic == "550 5.1.1 user unknown"
    (e,) = ses.normalize(delay)
    assert (e.event_type, e.hard, e.enhanced_status) == (EventType.DEFERRED, False, "4.2.2")
    (e,) = ses.normalize(suppressed)
    assert (e.event_type, e.suppressed, e.dispatch_id) == (EventType.REJECTED, True, None)


@pytest.mark.parametrize(
    ("kind", "section", "expected"),
    [
        ("Send", {}, EventType.SENT),
        ("Reject", {"reason": "Bad content"}, EventType.REJECTED),
        ("Rendering Failure", {"errorMessage": "no var"}, EventType.FAILED),
        ("Open", {"userAgent": "x"}, EventType.OPENED),
        ("Click", {"link": "https://x"}, EventType.CLICKED),
        ("Complaint", {"complainedRecipients": [{"emailAddress": "a@b.c"}]}, EventType.COMPLAINED),
        ("Delivery", {"recipients": ["a@b.c"], "smtpResponse": "250 ok"}, EventType.DELIVERED),
        ("Subscription", {}, EventType.UNKNOWN),
    ],
)
def test_ses_event_types(kind: str, section: dict[str, Any], expected: EventType) -> None:
    names = {"Rendering Failure": "failure", "Reject": "reject"}
    key = names.get(kind, kind[:1].lower() + kind[1:])
    event = {
        "eventType": kind,
        key: section,
        "mail": {"timestamp": "2024-05-14T13:40:02Z", "messageId": "m", "destination": ["a@b.c"]},
    }
    (e,) = ses.normalize(event)
    assert e.event_type is expected


def test_ses_refuses_inbound_and_non_notifications() -> None:
    with pytest.raises(PayloadError, match="inbound"):
        ses.normalize({"notificationType": "Received", "mail": {}})
    with pytest.raises(PayloadError, match="SubscriptionConfirmation"):
        ses.normalize({"Type": "SubscriptionConfirmation", "Message": "hi"})


def test_brevo_events_metadata_and_hash_key() -> None:
    hard, request, deferred = lines("brevo.jsonl")
    (e,) = brevo.normalize(hard)
    assert (e.event_type, e.hard, e.smtp_code, e.enhanced_status) == (
        EventType.BOUNCED,
        True,
        550,
        "5.5.0",
    )
    assert (e.dispatch_id, e.tenant) == ("d_9f2c", "acme")
    assert e.timestamp == datetime(2024, 5, 14, 13, 32, 14, 123000, tzinfo=UTC)
    assert e.dedupe_key.startswith("brevo:h:")
    assert brevo.normalize(dict(hard))[0].dedupe_key == e.dedupe_key
    (q,) = brevo.normalize(request)
    assert q.event_type is EventType.QUEUED
    assert q.dedupe_key != e.dedupe_key
    (d,) = brevo.normalize(deferred)
    assert (d.event_type, d.smtp_code) == (EventType.DEFERRED, 452)


def test_brevo_api_event_names() -> None:
    (e,) = brevo.normalize(
        {
            "email": "jane@example.com",
            "date": "2024-05-14T15:32:14.000+02:00",
            "messageId": "<m@x>",
            "event": "hardBounces",
            "reason": "RecipientError: 550 5.1.1 no such user",
        }
    )
    assert (e.event_type, e.hard, e.timestamp.hour) == (EventType.BOUNCED, True, 13)


@pytest.mark.parametrize(
    ("provider", "payload"),
    [
        ("mailgun", {"event": "delivered"}),
        ("sendgrid", {"event": "delivered", "email": "a@b.c", "timestamp": "soon"}),
        ("ses", {"eventType": "Bounce", "bounce": {"bouncedRecipients": []}, "mail": {}}),
        ("brevo", {"event": "delivered", "email": "a@b.c"}),
    ],
)
def test_malformed_payloads_say_which_field(provider: str, payload: dict[str, Any]) -> None:
    with pytest.raises(PayloadError):
        NORMALIZERS[provider](payload)


def test_cli_ingests_every_provider_idempotently(whymail: Whymail) -> None:
    expected = {"mailgun": 4, "sendgrid": 4, "ses": 4, "brevo": 3}
    for provider, count in expected.items():
        path = str(ESP / f"{provider}.jsonl")
        first = whymail("ingest", "--provider", provider, path)
        assert first.code == 0, first.stderr
        again = whymail("ingest", "--provider", provider, path)
        assert again.code == 0, again.stderr
        assert f"{count} new events (0 already stored)" in first.stdout + first.stderr
        assert f"0 new events ({count} already stored)" in again.stdout + again.stderr
