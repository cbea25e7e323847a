"""ESP lookup clients against fake ESPs on loopback: documented shapes, auth, paging, 429 +
Retry-After, outages, reactivation with an audit trail, and SigV4 against known vectors."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from bot.model import EventType, Unanswered
from bot.sources.api.base import EspApiError
from bot.sources.esp import EspSources, build_clients
from bot.sources.esps.brevo.api import BrevoClient
from bot.sources.esps.mailgun.api import MailgunClient
from bot.sources.esps.postmark.api import PostmarkClient
from bot.sources.esps.sendgrid.api import SendGridClient
from bot.sources.esps.ses.api import SesClient
from bot.sources.esps.ses.sigv4 import sign
from bot.sources.espsettings import EspSettings
from tests import fakeesp
from tests.fakeesp import FakeESP, fake_esp

JANE = "jane@example.com"


@pytest.fixture
async def fake() -> AsyncIterator[FakeESP]:
    async with fake_esp() as f:
        yield f


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def settings_for(fake: FakeESP, **overrides: Any) -> EspSettings:
    return EspSettings.from_values({**fake.credentials(), **fake.urls(), **overrides})


# ---------------------------------------------------------------- SigV4


def test_sigv4_matches_the_aws_test_suite_get_vanilla() -> None:
    headers = sign(
        "GET",
        "https://example.amazonaws.com/",
        {},
        b"",
        access_key="AKIDEXAMPLE",
        secret_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        region="us-east-1",
        service="service",
        now=datetime(2015, 8, 30, 12, 36, tzinfo=UTC),
    )
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    )


def test_sigv4_matches_botocore_on_an_encoded_ses_path() -> None:
    # Signature computed by botocore 1.43.11's SigV4Auth for the same request and time.
    url = (
        "https://email.eu-west-1.amazonaws.com/v2/email/suppression/addresses/"
        "jane%2Bx%40example.com?Reason=BOUNCE&PageSize=10"
    )
    headers = sign(
        "GET",
        url,
        {"Accept": "application/json"},
        b"",
        access_key="AK",
        secret_key="SK",
        region="eu-west-1",
        service="ses",
        now=datetime(2024, 5, 14, 13, 40, tzinfo=UTC),
        session_token="TOK",
    )
    assert headers["Authorization"].endswith(
        "Signature=f016e83c913ad943b89e3be33f7223f74c88b2bc2ed07c0862649facfb6fe579"
    )
    assert headers["x-amz-security-token"] == "TOK"


# ---------------------------------------------------------------- Postmark


def pm_message(n: int, recipient: str = JANE) -> dict[str, Any]:
    return {
        "MessageID": f"msg-{n}",
        "Recipients": [recipient],
        "To": [{"Email": recipient, "Name": None}],
        "ReceivedAt": f"2024-05-14T09:{n % 60:02d}:11.3962093-04:00",
        "Status": "Sent",
        "Subject": "Invoice",
        "Metadata": {"dispatch_id": f"d-{n}", "tenant": "acme"},
    }


def pm_bounce(bounce_id: int, **extra: Any) -> dict[str, Any]:
    return {
        "ID": bounce_id,
        "Type": "HardBounce",
        "TypeCode": 1,
        "MessageID": "msg-0",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": JANE,
        "BouncedAt": "2024-05-14T13:34:09.1336752-04:00",
        "Inactive": True,
        "CanActivate": True,
        "MessageStream": "outbound",
        **extra,
    }


async def test_postmark_search_timeline_and_bounces(fake: FakeESP, http: httpx.AsyncClient) -> None:
    s = fake.state
    s.pm_messages = [pm_message(n) for n in range(60)] + [pm_message(99, "other@example.com")]
    s.pm_details["msg-0"] = {
        "MessageID": "msg-0",
        "MessageEvents": [
            {
                "Recipient": JANE,
                "Type": "Transient",
                "ReceivedAt": "2024-05-14T09:00:14.0000000-04:00",
                "Details": {"Summary": "421 4.7.0 try again later"},
            },
            {
                "Recipient": JANE,
                "Type": "Bounced",
                "ReceivedAt": "2024-05-14T13:34:09.0000000-04:00",
                "Details": {"BounceID": "943247350", "Summary": "action: failed"},
            },
        ],
    }
    s.pm_bounces = [pm_bounce(943247350), pm_bounce(1, Email="xjane@example.com")]
    client = PostmarkClient(fakeesp.POSTMARK_TOKEN, http, fake.urls()["postmark_api_url"])
    events = await client.events_for_recipient("Jane@Example.com")
    assert s.count("postmark", "GET", "/messages/outbound") >= 2  # two pages of 50
    kinds = [e.event_type for e in events]
    assert EventType.DEFERRED in kinds
    assert kinds.count(EventType.BOUNCED) == 1  # the timeline's bounce is the bounce list's
    bounce = next(e for e in events if e.event_type is EventType.BOUNCED)
    assert (bounce.dedupe_key, bounce.smtp_code, bounce.hard) == (
        "postmark:Bounce:943247350",
        550,
        True,
    )
    assert all(e.recipient == JANE for e in events)
    sent = [e for e in events if e.event_type is EventType.SENT]
    assert len(sent) == 10  # timelines of the newest ten messages
    assert sent[0].tenant == "acme"


async def test_postmark_suppression_and_reactivation(
    fake: FakeESP, http: httpx.AsyncClient
) -> None:
    fake.state.pm_bounces = [pm_bounce(7)]
    client = PostmarkClient(fakeesp.POSTMARK_TOKEN, http, fake.urls()["postmark_api_url"])
    found = await client.suppression(JANE)
    assert found is not None
    assert (found.lists, found.reason, found.can_reactivate) == (
        ("inactive bounce",),
        "HardBounce",
        True,
    )
    result = await client.reactivate(JANE, "agent:U123")
    assert (result.ok, result.removed_from) == (True, ("bounce 7",))
    assert await client.suppression(JANE) is None


async def test_postmark_spam_complaints_cannot_be_reactivated(
    fake: FakeESP, http: httpx.AsyncClient
) -> None:
    fake.state.pm_suppressions = [
        {
            "EmailAddress": JANE,
            "SuppressionReason": "SpamComplaint",
            "Origin": "Recipient",
            "CreatedAt": "2024-05-14T13:34:09Z",
        }
    ]
    client = PostmarkClient(fakeesp.POSTMARK_TOKEN, http, fake.urls()["postmark_api_url"])
    found = await client.suppression(JANE)
    assert found is not None
    assert found.can_reactivate is False
    result = await client.reactivate(JANE, "agent:U123")
    assert result.ok is False
    assert "spam-complaint" in result.message


async def test_postmark_bad_token_is_an_error_not_an_empty_answer(
    fake: FakeESP, http: httpx.AsyncClient
) -> None:
    client = PostmarkClient("wrong", http, fake.urls()["postmark_api_url"])
    with pytest.raises(EspApiError, match="HTTP 401: Bad or missing Server API token"):
        await client.events_for_recipient(JANE)


# ---------------------------------------------------------------- Mailgun


def mg_item(n: int, event: str = "delivered") -> dict[str, Any]:
    return {
        "event": event,
        "id": f"ev{n}",
        "timestamp": 1715693569.0 + n,
        "recipient": JANE,
        "user-variables": {"dispatch_id": "d-mg", "tenant": "acme"},
        "message": {"headers": {"message-id": f"{n}@mg.acme.example"}},
        "delivery-status": {"code": 250, "message": "OK"},
    }


async def test_mailgun_logs_api_pages(fake: FakeESP, http: httpx.AsyncClient) -> None:
    fake.state.mg_events = [mg_item(n) for n in range(150)]
    client = MailgunClient(
        fakeesp.MAILGUN_KEY, fakeesp.MAILGUN_DOMAIN, http, fake.urls()["mailgun_api_url"]
    )
    events = await client.events_for_recipient(JANE)
    assert len(events) == 150
    assert fake.state.count("mailgun", "POST", "/v1/analytics/logs") == 2
    assert {(e.dispatch_id, e.tenant) for e in events} == {("d-mg", "acme")}


async def test_mailgun_falls_back_to_the_events_api(fake: FakeESP, http: httpx.AsyncClient) -> None:
    fake.state.mg_logs_api = False
    fake.state.mg_events = [mg_item(n) for n in range(350)]
    client = MailgunClient(
        fakeesp.MAILGUN_KEY, fakeesp.MAILGUN_DOMAIN, http, fake.urls()["mailgun_api_url"]
    )
    events = await client.events_for_recipient(JANE)
    assert len(events) == 350
    assert fake.state.count("mailgun", "GET", "/events") == 3  # 300, 50, then an empty page


async def test_mailgun_suppressions_and_reactivation(
    fake: FakeESP, http: httpx.AsyncClient
) -> None:
    fake.state.mg_lists["bounces"][JANE] = {
        "address": JANE,
        "code": "550",
        "error": "No such mailbox",
        "created_at": "Thu, 11 Dec 2025 01:49:40 UTC",
    }
    client = MailgunClient(
        fakeesp.MAILGUN_KEY, fakeesp.MAILGUN_DOMAIN, http, fake.urls()["mailgun_api_url"]
    )
    found = await client.suppression(JANE)
    assert found is not None
    assert (found.lists, found.detail) == (("bounces",), "No such mailbox")
    assert found.since == datetime(2025, 12, 11, 1, 49, 40, tzinfo=UTC)
    result = await client.reactivate(JANE, "agent:U1")
    assert result.removed_from == ("bounces",)
    assert await client.suppression(JANE) is None
    bad = MailgunClient("nope", fakeesp.MAILGUN_DOMAIN, http, fake.urls()["mailgun_api_url"])
    with pytest.raises(EspApiError, match="Invalid private key"):
        await bad.suppression(JANE)


# ---------------------------------------------------------------- SendGrid


def sg_setup(fake: FakeESP) -> None:
    fake.state.sg_messages = [
        {
            "sg_message_id": "LRz.1",
            "to_email": JANE,
            "status": "bounced",
            "sg_message_id_created_at": "2024-05-14T13:32:11Z",
        }
    ]
    fake.state.sg_details["LRz.1"] = {
        "sg_message_id": "LRz.1",
        "to_email": JANE,
        "custom_args": {"dispatch_id": "d-sg", "tenant": "acme"},
        "events": [
            {
                "event": "processed",
                "email": JANE,
                "sg_message_id": "LRz.1",
                "sg_event_id": "p1",
                "timestamp": 1715693531,
            },
            {
                "event": "bounce",
                "email": JANE,
                "sg_message_id": "LRz.1",
                "sg_event_id": "b1",
                "timestamp": 1715694018,
                "type": "bounce",
                "status": "5.1.1",
                "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
            },
        ],
    }


async def test_sendgrid_logs_and_retry_after(fake: FakeESP, http: httpx.AsyncClient) -> None:
    sg_setup(fake)
    fake.state.throttle["sendgrid"] = (1, "1")
    client = SendGridClient(fakeesp.SENDGRID_KEY, http, fake.urls()["sendgrid_api_url"])
    started = time.monotonic()
    events = await client.events_for_recipient(JANE)
    assert time.monotonic() - started >= 0.9  # waited as Retry-After asked
    assert [e.dedupe_key for e in events] == ["sendgrid:p1", "sendgrid:b1"]
    assert events[1].dispatch_id == "d-sg"
    assert events[1].hard is True


async def test_sendgrid_gives_up_when_asked_to_wait_too_long(
    fake: FakeESP, http: httpx.AsyncClient
) -> None:
    fake.state.throttle["sendgrid"] = (5, "3600")
    client = SendGridClient(fakeesp.SENDGRID_KEY, http, fake.urls()["sendgrid_api_url"])
    started = time.monotonic()
    with pytest.raises(EspApiError, match="HTTP 429: too many requests; asked to wait 3600 s"):
        await client.events_for_recipient(JANE)
    assert time.monotonic() - started < 2


async def test_sendgrid_suppressions_and_reactivation(
    fake: FakeESP, http: httpx.AsyncClient
) -> None:
    fake.state.sg_lists["bounces"][JANE] = {
        "created": 1443651125,
        "email": JANE,
        "reason": "550 5.1.1 no such user",
        "status": "5.1.1",
    }
    fake.state.sg_lists["global"][JANE] = {}
    client = SendGridClient(fakeesp.SENDGRID_KEY, http, fake.urls()["sendgrid_api_url"])
    found = await client.suppression(JANE)
    assert found is not None
    assert found.lists == ("bounces", "global_unsubscribes")
    result = await client.reactivate(JANE, "agent:U9")
    assert result.removed_from == ("bounces", "global_unsubscribes")
    assert await client.suppression(JANE) is None


# ---------------------------------------------------------------- SES and Brevo


async def test_ses_suppression_signed_lookup_and_delete(
    fake: FakeESP, http: httpx.AsyncClient
) -> None:
    address = "jane+x@example.com"
    fake.state.ses_suppressed[address] = {
        "EmailAddress": address,
        "Reason": "BOUNCE",
        "LastUpdateTime": 1715693534.123,
        "Attributes": {"MessageId": "m", "FeedbackId": "f"},
    }
    client = SesClient(
        fakeesp.AWS_KEY, fakeesp.AWS_SECRET, fakeesp.AWS_REGION, http, fake.urls()["ses_api_url"]
    )
    found = await client.suppression(address)
    assert found is not None
    assert (found.reason, found.since) == (
        "BOUNCE",
        datetime.fromtimestamp(1715693534.123, UTC),
    )
    assert await client.events_for_recipient(address) == []
    assert (await client.reactivate(address, "agent:U1")).removed_from == (
        "account suppression list",
    )
    assert await client.suppression(address) is None
    unsigned = SesClient("OTHER", "x", fakeesp.AWS_REGION, http, fake.urls()["ses_api_url"])
    with pytest.raises(EspApiError, match="HTTP 403"):
        await unsigned.suppression(address)


async def test_brevo_events_blocked_pages_and_rate_limit(
    fake: FakeESP, http: httpx.AsyncClient
) -> None:
    fake.state.brevo_events = [
        {
            "email": JANE,
            "date": "2024-05-14T15:32:14.000+02:00",
            "messageId": "<m1@smtp-relay.mailin.fr>",
            "event": "hardBounces",
            "reason": "RecipientError: 550 5.1.1 no such user",
        }
    ]
    fake.state.brevo_blocked = [
        {
            "email": f"x{n}@example.com",
            "senderEmail": "b@acme.example",
            "reason": {"code": "hardBounce", "message": "Hard bounce"},
            "blockedAt": "2024-05-14T15:32:15.000+02:00",
        }
        for n in range(150)
    ]
    fake.state.brevo_blocked.append(
        {
            "email": JANE,
            "reason": {"code": "contactFlaggedAsSpam", "message": "Spam"},
            "blockedAt": "2024-05-14T15:32:15.000+02:00",
        }
    )
    fake.state.throttle["brevo"] = (1, "")
    client = BrevoClient(fakeesp.BREVO_KEY, http, fake.urls()["brevo_api_url"])
    (event,) = await client.events_for_recipient(JANE)
    assert (event.event_type, event.smtp_code) == (EventType.BOUNCED, 550)
    found = await client.suppression(JANE)
    assert found is not None
    assert found.reason == "contactFlaggedAsSpam"
    assert fake.state.count("brevo", "GET", "/blockedContacts") == 2
    assert (await client.reactivate(JANE, "agent:U1")).removed_from == ("blocked contacts",)
    assert await client.suppression(JANE) is None


# ---------------------------------------------------------------- together


async def test_lookup_with_one_provider_down_names_what_is_missing(fake: FakeESP) -> None:
    fake.state.mg_events = [mg_item(1)]
    fake.state.pm_bounces = [pm_bounce(5)]
    fake.state.down["sendgrid"] = "error"
    fake.state.down["brevo"] = "hang"
    async with httpx.AsyncClient() as http:
        sources = EspSources(build_clients(settings_for(fake), http), deadline=1.5)
        started = time.monotonic()
        found = await sources.lookup(JANE)
    assert time.monotonic() - started < 3
    assert set(found.consulted) == {"postmark", "mailgun", "ses"}
    assert set(found.missing) == {"sendgrid", "brevo"}
    assert set(found.notes) == {
        Unanswered("SendGrid", "HTTP 503: service unavailable (after 3 attempts)"),
        Unanswered("Brevo", "no answer within the 1.5 s deadline"),
    }
    assert {e.provider for e in found.events} == {"postmark", "mailgun"}
    assert [s.provider for s in found.suppressions] == ["postmark"]


async def test_reactivation_is_audited(fake: FakeESP, caplog: pytest.LogCaptureFixture) -> None:
    fake.state.mg_lists["complaints"][JANE] = {"address": JANE, "created_at": "x"}
    async with httpx.AsyncClient() as http:
        sources = EspSources(build_clients(settings_for(fake), http))
        with caplog.at_level(logging.INFO, logger="whymail.audit"):
            result = await sources.reactivate("mailgun", JANE, "slack:U42 (Kari)")
            refused = await sources.reactivate("sparkpost", JANE, "slack:U42 (Kari)")
    assert result.ok
    assert result.removed_from == ("complaints",)
    assert not refused.ok
    logged = [r.getMessage() for r in caplog.records if r.name == "whymail.audit"]
    assert any("slack:U42 (Kari)" in m and "mailgun" in m and "complaints" in m for m in logged)
    assert any("refused" in m and "sparkpost" in m for m in logged)


def test_only_configured_providers_get_clients() -> None:
    http = httpx.AsyncClient()
    assert build_clients(EspSettings(), http) == {}
    clients = build_clients(
        EspSettings.from_values({"postmark_server_token": "t", "mailgun_api_key": "k"}), http
    )
    assert set(clients) == {"postmark"}  # Mailgun also needs MAILGUN_DOMAIN


async def test_complete_lookups_are_cached_partial_ones_are_not(fake: FakeESP) -> None:
    fake.state.mg_events = [mg_item(1)]
    async with httpx.AsyncClient() as http:
        sources = EspSources(build_clients(settings_for(fake), http), deadline=3)
        first = await sources.lookup(JANE)
        calls = len(fake.state.calls)
        assert await sources.lookup(JANE) == first
        assert len(fake.state.calls) == calls
        fake.state.down["sendgrid"] = "error"
        partial = await sources.lookup("bob@example.com")
        assert "sendgrid" in partial.missing
        fake.state.down.clear()
        again = await sources.lookup("bob@example.com")
        assert not again.missing
