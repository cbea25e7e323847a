"""Webhook deliveries through `WebhookReceiver`: signed, forged, stale, unconfigured, duplicate,
out-of-order, malformed and oversized; SNS over real TLS with a self-signed certificate."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.model import DeliveryEvent, EventType
from bot.sources.espsettings import EspSettings
from bot.sources.ingest import ingest_lines
from bot.sources.store import Store
from bot.sources.verify import Refused
from bot.sources.verify import mailgun as mailgun_sig
from bot.sources.verify import sendgrid as sendgrid_sig
from bot.sources.webhooks import WebhookReceiver
from testkit.servers import serve
from tests.fakeesp import SendGridSigner, SnsSigner, mailgun_body

TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-events"
MAILGUN_KEY = "key-mailgun-signing"
DATA = Path(__file__).resolve().parent / "data" / "esp"

# sendgrid-python's unit-test vector (esp.md §4.5): the exact bytes, CRLF included.
SG_VECTOR_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+"
    "2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
)
SG_VECTOR_TS = "1600112502"
SG_VECTOR_SIG = (
    "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEA"
    "yBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM="
)
SG_VECTOR_BODY = (
    b'[{"email":"hello@world.com","event":"dropped","reason":"Bounced Address","sg_event_id":'
    b'"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA","sg_message_id":'
    b'"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0","smtp-id":'
    b'"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>","timestamp":1600112492}]\r\n'
)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def mg_event(event_id: str = "ev-1", when: float = 1715693600.0, **extra: Any) -> dict[str, Any]:
    return {
        "event": "delivered",
        "id": event_id,
        "timestamp": when,
        "recipient": "jane@example.com",
        "user-variables": {"dispatch_id": "d-1", "tenant": "acme"},
        "message": {"headers": {"message-id": "m1@mg.example"}},
        "delivery-status": {"code": 250, "message": "OK", "mx-host": "mx.example.com"},
        **extra,
    }


@pytest.fixture
def sg() -> SendGridSigner:
    return SendGridSigner()


@pytest.fixture
async def sns_signer(tmp_path: Path) -> AsyncIterator[SnsSigner]:
    signer = SnsSigner(tmp_path)
    async with serve(signer.app(), certfile=signer.certfile, keyfile=signer.keyfile) as url:
        signer.base_url = url
        yield signer


def esp_settings(sg: SendGridSigner, **overrides: Any) -> EspSettings:
    values: dict[str, Any] = {
        "postmark_webhook_user": "pm",
        "postmark_webhook_password": "pm-secret",
        "mailgun_webhook_signing_key": MAILGUN_KEY,
        "sendgrid_webhook_public_key": sg.public_key,
        "ses_sns_topic_arns": (TOPIC,),
        "ses_sns_cert_hosts": ("127.0.0.1",),
        "brevo_webhook_token": "brevo-token",
        "webhook_max_bytes": 100_000,
    }
    values.update(overrides)
    return EspSettings.from_values(values)


@pytest.fixture
async def receiver(
    store: Store, sg: SendGridSigner, sns_signer: SnsSigner
) -> AsyncIterator[WebhookReceiver]:
    async with httpx.AsyncClient(verify=sns_signer.client_ssl()) as http:
        r = WebhookReceiver(store, esp_settings(sg), http)
        yield r
        await r.aclose()


def body_of(response: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(response.body)
    return data


# ---------------------------------------------------------------- SendGrid


def test_sendgrid_official_test_vector_verifies() -> None:
    sendgrid_sig.verify(
        SG_VECTOR_KEY, SG_VECTOR_SIG, SG_VECTOR_TS, SG_VECTOR_BODY, now=None, window=0
    )


@pytest.mark.parametrize(
    ("ts", "body"),
    [("1600112503", SG_VECTOR_BODY), (SG_VECTOR_TS, SG_VECTOR_BODY.rstrip())],
)
def test_sendgrid_test_vector_fails_when_anything_changes(ts: str, body: bytes) -> None:
    with pytest.raises(Refused, match="bad signature"):
        sendgrid_sig.verify(SG_VECTOR_KEY, SG_VECTOR_SIG, ts, body, now=None, window=0)


async def test_sendgrid_vector_through_the_receiver(store: Store) -> None:
    settings = EspSettings.from_values({"sendgrid_webhook_public_key": SG_VECTOR_KEY})
    r = WebhookReceiver(store, settings, clock=lambda: 1600112510.0)
    headers = {
        "X-Twilio-Email-Event-Webhook-Signature": SG_VECTOR_SIG,
        "X-Twilio-Email-Event-Webhook-Timestamp": SG_VECTOR_TS,
    }
    response = await r.receive("sendgrid", headers, SG_VECTOR_BODY)
    assert response.status == 200, response.body
    (event,) = await store.events_for_recipient("hello@world.com")
    assert (event.event_type, event.suppressed) == (EventType.REJECTED, True)
    await r.aclose()


async def test_json_nested_too_deep_is_a_400_on_every_webhook(
    receiver: WebhookReceiver, sg: SendGridSigner
) -> None:
    """Unreadable, not a crash: a 500 would log a traceback and tell the ESP to retry."""
    deep = b"[" * 10_000 + b"]" * 10_000
    credentials = {
        "postmark": {"Authorization": basic("pm", "pm-secret")},
        "mailgun": {},  # Mailgun's signature is inside the body, so it is read first
        "sendgrid": sg.headers(deep),
        "ses": {},  # so is SNS's
        "brevo": {"Authorization": "Bearer brevo-token"},
    }
    for provider, headers in credentials.items():
        response = await receiver.receive(provider, headers, deep)
        assert response.status == 400, (provider, response.status, response.body)


async def test_sendgrid_signed_forged_stale(
    receiver: WebhookReceiver, store: Store, sg: SendGridSigner
) -> None:
    body = (DATA / "sendgrid.jsonl").read_text().splitlines()
    batch = ("[" + ",".join(body[:2]) + "]\r\n").encode()
    ok = await receiver.receive("sendgrid", sg.headers(batch), batch)
    assert ok.status == 200, ok.body
    assert body_of(ok)["events"] == 2
    forged = batch.replace(b"bounce", b"delivered")
    refused = await receiver.receive("sendgrid", sg.headers(batch), forged)
    assert refused.status == 401
    assert b"bad signature" in refused.body
    stale = await receiver.receive("sendgrid", sg.headers(batch, time.time() - 90_000), batch)
    assert stale.status == 401
    assert b"replay window" in stale.body
    other = SendGridSigner()
    assert (await receiver.receive("sendgrid", other.headers(batch), batch)).status == 401
    unsigned = await receiver.receive("sendgrid", {}, batch)
    assert unsigned.status == 401
    assert len(await store.events_for_recipient("jane@example.com")) == 2


# ---------------------------------------------------------------- Mailgun


async def test_mailgun_signed_duplicate_forged_stale(
    receiver: WebhookReceiver, store: Store
) -> None:
    body = mailgun_body(MAILGUN_KEY, mg_event())
    first = await receiver.receive("mailgun", {"Content-Type": "application/json"}, body)
    assert first.status == 200, first.body
    assert body_of(first)["new"] == 1
    again = await receiver.receive("mailgun", {}, body)
    assert again.status == 200
    assert body_of(again)["new"] == 0
    retry = mailgun_body(MAILGUN_KEY, mg_event(), token="u" * 50)  # a retry, freshly signed
    assert (await receiver.receive("mailgun", {}, retry)).status == 200
    (event,) = await store.events_for_recipient("jane@example.com")
    assert (event.dispatch_id, event.tenant) == ("d-1", "acme")

    forged = json.loads(body)
    forged["event-data"]["recipient"] = "mallory@example.com"
    forged["signature"]["signature"] = "0" * 64
    response = await receiver.receive("mailgun", {}, json.dumps(forged).encode())
    assert response.status == 401
    stale = mailgun_body(MAILGUN_KEY, mg_event("ev-2"), when=time.time() - 100_000)
    response = await receiver.receive("mailgun", {}, stale)
    assert response.status == 401
    assert b"replay window" in response.body
    future = mailgun_body(MAILGUN_KEY, mg_event("ev-3"), when=time.time() + 3600)
    assert (await receiver.receive("mailgun", {}, future)).status == 401
    assert await store.events_for_recipient("mallory@example.com") == []


async def test_a_signed_timestamp_that_is_not_a_number_is_refused(
    receiver: WebhookReceiver, store: Store
) -> None:
    """NaN passes every comparison with the window: signed so, a delivery would never go stale."""
    for when in ("nan", "inf"):
        payload = json.loads(mailgun_body(MAILGUN_KEY, mg_event()))
        token = payload["signature"]["token"]
        signature = mailgun_sig.sign(MAILGUN_KEY, when, token)
        payload["signature"] |= {"timestamp": when, "signature": signature}
        response = await receiver.receive("mailgun", {}, json.dumps(payload).encode())
        assert response.status == 401, (when, response.body)
    assert await store.events_for_recipient("jane@example.com") == []


async def test_a_mailgun_token_cannot_carry_another_body(
    receiver: WebhookReceiver, store: Store
) -> None:
    """Mailgun signs the timestamp and token, not the body: a signature seen once must not
    carry a forged event, while the same delivery sent again is still welcome."""
    body = mailgun_body(MAILGUN_KEY, mg_event())
    assert (await receiver.receive("mailgun", {}, body)).status == 200
    assert (await receiver.receive("mailgun", {}, body)).status == 200  # a plain redelivery
    forged = json.loads(body)
    forged["event-data"] |= {"id": "ev-forged", "recipient": "mallory@example.com"}
    forged["event-data"]["user-variables"] = {"tenant": "other"}
    refused = await receiver.receive("mailgun", {}, json.dumps(forged).encode())
    assert refused.status == 401
    assert b"already used" in refused.body
    assert await store.events_for_recipient("mallory@example.com") == []
    # refused by every instance that shares the store, not only the one that saw it first
    other = WebhookReceiver(
        store, EspSettings.from_values({"mailgun_webhook_signing_key": MAILGUN_KEY})
    )
    assert (await other.receive("mailgun", {}, json.dumps(forged).encode())).status == 401
    await other.aclose()


async def test_mailgun_replay_window_is_configurable(store: Store, sg: SendGridSigner) -> None:
    r = WebhookReceiver(store, esp_settings(sg, webhook_replay_window=60.0))
    body = mailgun_body(MAILGUN_KEY, mg_event(), when=time.time() - 120)
    assert (await r.receive("mailgun", {}, body)).status == 401
    body = mailgun_body(MAILGUN_KEY, mg_event(), when=time.time() - 30)
    assert (await r.receive("mailgun", {}, body)).status == 200
    await r.aclose()


async def test_mailgun_temporary_failure_is_deferred(
    receiver: WebhookReceiver, store: Store
) -> None:
    event = mg_event(
        event="failed",
        severity="temporary",
        **{"delivery-status": {"code": 452, "message": "4.2.2 Mailbox full"}},
    )
    assert (await receiver.receive("mailgun", {}, mailgun_body(MAILGUN_KEY, event))).status == 200
    (stored,) = await store.events_for_recipient("jane@example.com")
    assert (stored.event_type, stored.smtp_code, stored.hard) == (EventType.DEFERRED, 452, False)


# ---------------------------------------------------------------- Postmark and Brevo


POSTMARK_BOUNCE = {
    "RecordType": "Bounce",
    "ID": 4323372036854775807,
    "Type": "HardBounce",
    "TypeCode": 1,
    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
    "Metadata": {"dispatch_id": "d_9f2c", "tenant": "acme"},
    "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
    "Email": "jane@example.com",
    "BouncedAt": "2024-05-14T13:32:15.3963933Z",
    "Inactive": True,
    "CanActivate": True,
}


async def test_postmark_basic_auth_and_one_row_per_bounce(
    receiver: WebhookReceiver, store: Store
) -> None:
    body = json.dumps(POSTMARK_BOUNCE).encode()
    missing = await receiver.receive("postmark", {}, body)
    assert missing.status == 401
    assert missing.headers["WWW-Authenticate"].startswith("Basic")
    wrong = await receiver.receive("postmark", {"Authorization": basic("pm", "nope")}, body)
    assert wrong.status == 401
    good = {"Authorization": basic("pm", "pm-secret"), "X-PM-Webhook-Trace-Id": "trace-1"}
    assert (await receiver.receive("postmark", good, body)).status == 200
    # Redelivered with another trace id, then with none, then saved and ingested: one bounce.
    retraced = {**good, "X-PM-Webhook-Trace-Id": "trace-2"}
    assert body_of(await receiver.receive("postmark", retraced, body))["new"] == 0
    untraced = {"Authorization": basic("pm", "pm-secret")}
    assert body_of(await receiver.receive("postmark", untraced, body))["new"] == 0
    assert (await ingest_lines(store, "postmark", [body.decode()])).events_new == 0
    (event,) = await store.events_for_recipient("jane@example.com")
    assert event.dedupe_key == f"postmark:Bounce:{POSTMARK_BOUNCE['ID']}"
    assert (event.dispatch_id, event.hard) == ("d_9f2c", True)


async def test_brevo_bearer_batched(receiver: WebhookReceiver, store: Store) -> None:
    items = [json.loads(line) for line in (DATA / "brevo.jsonl").read_text().splitlines()]
    body = json.dumps(items).encode()
    assert (await receiver.receive("brevo", {}, body)).status == 401
    bad = await receiver.receive("brevo", {"Authorization": "Bearer nope"}, body)
    assert bad.status == 401
    good = {"Authorization": "Bearer brevo-token"}
    assert body_of(await receiver.receive("brevo", good, body))["new"] == 3
    assert body_of(await receiver.receive("brevo", good, body))["new"] == 0
    assert len(await store.events_for_recipient("jane@example.com")) == 2


async def test_unset_secrets_refuse_every_provider(store: Store) -> None:
    r = WebhookReceiver(store, EspSettings())
    bodies = {
        "postmark": json.dumps(POSTMARK_BOUNCE).encode(),
        "mailgun": mailgun_body("any", mg_event()),
        "sendgrid": b"[]",
        "ses": json.dumps({"Type": "Notification", "TopicArn": TOPIC}).encode(),
        "brevo": b"{}",
    }
    for provider, body in bodies.items():
        response = await r.receive(provider, {"Authorization": basic("a", "b")}, body)
        assert response.status == 401, (provider, response.body)
        assert b"not set" in response.body or b"not configured" in response.body
    await r.aclose()


# ---------------------------------------------------------------- SES through SNS


def ses_bounce(recipients: Sequence[str]) -> dict[str, Any]:
    return {
        "eventType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [
                {"emailAddress": r, "status": "5.1.1", "diagnosticCode": "smtp; 550 5.1.1 unknown"}
                for r in recipients
            ],
            "timestamp": "2024-05-14T13:40:18.669Z",
        },
        "mail": {
            "timestamp": "2024-05-14T13:40:02.012Z",
            "messageId": "ses-msg-1",
            "destination": list(recipients),
            "tags": {"dispatch_id": ["d-ses"], "tenant": ["acme"]},
        },
    }


@pytest.mark.parametrize("version", ["1", "2"])
async def test_ses_signature_versions_and_fan_out(
    receiver: WebhookReceiver, store: Store, sns_signer: SnsSigner, version: str
) -> None:
    message = sns_signer.notification(
        ses_bounce(["a@example.com", "b@example.com"]), TOPIC, version=version
    )
    headers = {"x-amz-sns-message-type": "Notification", "Content-Type": "text/plain"}
    response = await receiver.receive("ses", headers, json.dumps(message).encode())
    assert response.status == 200, response.body
    assert body_of(response)["events"] == 2
    for address in ("a@example.com", "b@example.com"):
        (event,) = await store.events_for_recipient(address)
        assert (event.event_type, event.dispatch_id, event.tenant) == (
            EventType.BOUNCED,
            "d-ses",
            "acme",
        )
    again = await receiver.receive("ses", headers, json.dumps(message).encode())
    assert body_of(again)["new"] == 0
    assert sns_signer.cert_fetches == 1  # cached


async def test_ses_forged_wrong_topic_wrong_host_stale(
    receiver: WebhookReceiver, store: Store, sns_signer: SnsSigner
) -> None:
    message = sns_signer.notification(ses_bounce(["a@example.com"]), TOPIC)
    forged = dict(message, Message=json.dumps(ses_bounce(["evil@example.com"])))
    response = await receiver.receive("ses", {}, json.dumps(forged).encode())
    assert response.status == 401
    assert b"bad signature" in response.body
    other_topic = sns_signer.notification(ses_bounce(["a@example.com"]), TOPIC + "-other")
    response = await receiver.receive("ses", {}, json.dumps(other_topic).encode())
    assert response.status == 401
    evil_host = dict(message, SigningCertURL="https://evil.example.com/cert.pem")
    response = await receiver.receive("ses", {}, json.dumps(evil_host).encode())
    assert response.status == 401
    assert b"not an allowed" in response.body
    plain_http = dict(message, SigningCertURL=message["SigningCertURL"].replace("https", "http"))
    assert (await receiver.receive("ses", {}, json.dumps(plain_http).encode())).status == 401
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    stale = sns_signer.notification(ses_bounce(["a@example.com"]), TOPIC, when=old)
    response = await receiver.receive("ses", {}, json.dumps(stale).encode())
    assert response.status == 401
    assert b"replay window" in response.body
    mismatch = {"x-amz-sns-message-type": "SubscriptionConfirmation"}
    assert (await receiver.receive("ses", mismatch, json.dumps(message).encode())).status == 400
    assert await store.events_for_recipient("evil@example.com") == []
    assert await store.events_for_recipient("a@example.com") == []


async def test_ses_subscription_confirmation_and_validation_message(
    receiver: WebhookReceiver, store: Store, sns_signer: SnsSigner
) -> None:
    confirm = sns_signer.subscription(TOPIC, token="tok-42")
    response = await receiver.receive("ses", {}, json.dumps(confirm).encode())
    assert response.status == 200, response.body
    assert sns_signer.subscribed == ["tok-42"]
    hello = sns_signer.notification(
        "Successfully validated SNS topic for Amazon SES event publishing.", TOPIC
    )
    response = await receiver.receive("ses", {}, json.dumps(hello).encode())
    assert response.status == 200
    assert body_of(response)["ok"] is True


async def test_ses_certificate_download_failure_asks_for_a_retry(
    store: Store, sg: SendGridSigner, sns_signer: SnsSigner
) -> None:
    message = sns_signer.notification(ses_bounce(["a@example.com"]), TOPIC)
    async with httpx.AsyncClient() as untrusting:  # does not trust the self-signed cert
        r = WebhookReceiver(store, esp_settings(sg), untrusting)
        response = await r.receive("ses", {}, json.dumps(message).encode())
        assert response.status == 503
        await r.aclose()


# ---------------------------------------------------------------- shapes, sizes, ordering


async def test_malformed_oversized_unknown(receiver: WebhookReceiver) -> None:
    auth = {"Authorization": basic("pm", "pm-secret")}
    response = await receiver.receive("postmark", auth, b"{not json")
    assert response.status == 400
    assert b"not JSON" in response.body
    response = await receiver.receive("postmark", auth, b'{"RecordType": "Inbound"}')
    assert response.status == 400
    assert b"RecordType" in response.body
    response = await receiver.receive("postmark", auth, b"x" * 100_001)
    assert response.status == 413
    assert (await receiver.receive("sparkpost", {}, b"{}")).status == 404
    no_data = mailgun_body(MAILGUN_KEY, {}).replace(b'"event-data": {}', b'"x": 1')
    assert (await receiver.receive("mailgun", {}, no_data)).status == 400


async def test_out_of_order_deliveries_keep_the_true_order(
    receiver: WebhookReceiver, store: Store
) -> None:
    delivered = mg_event("ev-d", when=1715693700.0)
    deferred = mg_event(
        "ev-t",
        when=1715693600.0,
        event="failed",
        severity="temporary",
        **{"delivery-status": {"code": 421, "message": "421 try later"}},
    )
    for event in (delivered, deferred):  # the later event arrives first
        body = mailgun_body(MAILGUN_KEY, event)
        assert (await receiver.receive("mailgun", {}, body)).status == 200
    events = await store.events_for_recipient("jane@example.com")
    assert [e.event_type for e in events] == [EventType.DEFERRED, EventType.DELIVERED]


async def test_concurrent_deliveries_share_commits(receiver: WebhookReceiver, store: Store) -> None:
    bodies = [mailgun_body(MAILGUN_KEY, mg_event(f"ev-{i}", 1715693600.0 + i)) for i in range(300)]
    bodies += bodies[:50]  # duplicates, concurrently
    responses = await asyncio.gather(*(receiver.receive("mailgun", {}, b) for b in bodies))
    assert {r.status for r in responses} == {200}
    assert len(await store.events_for_recipient("jane@example.com", limit=1000)) == 300
    assert receiver.writer.stats.batches < 100


class BrokenStore:
    def __init__(self, ledger_works: bool = True) -> None:
        self.ledger_works = ledger_works

    async def add_events(self, events: Sequence[DeliveryEvent]) -> int:
        raise OSError("disk full")

    async def claim_token(self, scope: str, token: str, fingerprint: str, expires: Any) -> bool:
        if not self.ledger_works:
            raise OSError("disk full")
        return True


@pytest.mark.parametrize("ledger_works", [True, False])
async def test_store_failure_is_503_so_the_esp_retries(
    sg: SendGridSigner, ledger_works: bool
) -> None:
    r = WebhookReceiver(BrokenStore(ledger_works), esp_settings(sg))  # type: ignore[arg-type]
    response = await r.receive("mailgun", {}, mailgun_body(MAILGUN_KEY, mg_event()))
    assert response.status == 503
    await r.aclose()


async def test_deliveries_are_counted_by_provider_and_outcome(receiver: WebhookReceiver) -> None:
    from prometheus_client import REGISTRY

    def count(outcome: str) -> float:
        value = REGISTRY.get_sample_value(
            "whymail_webhook_deliveries_total", {"provider": "mailgun", "outcome": outcome}
        )
        return value or 0.0

    before = {o: count(o) for o in ("stored", "duplicate", "unauthorized", "invalid")}
    body = mailgun_body(MAILGUN_KEY, mg_event("metrics-1"))
    await receiver.receive("mailgun", {}, body)
    await receiver.receive("mailgun", {}, body)
    await receiver.receive("mailgun", {}, mailgun_body("wrong", mg_event("metrics-2")))
    await receiver.receive("mailgun", {}, b"nope")
    assert {o: count(o) - before[o] for o in before} == {
        "stored": 1,
        "duplicate": 1,
        "unauthorized": 1,
        "invalid": 1,
    }
