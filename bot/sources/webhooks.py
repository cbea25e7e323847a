"""`POST /webhooks/{provider}`: check it is the ESP, normalize, store, and only then say 2xx.

The web layer hands over the raw body and headers; this module owns everything after that, so
the same checks run under any server and in tests without one. Statuses are chosen for the
ESPs' retry rules: 2xx once stored (duplicates too: they are already stored), 401 when the
credentials or signature are missing, wrong or stale, 400 for payloads we cannot read (a retry
would not help), 413 for oversized bodies, and 503 when storing failed or a signing certificate
could not be fetched (a retry will help, and every ESP retries 5xx).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from bot import metrics
from bot.config import Settings
from bot.model import DeliveryEvent
from bot.sources import brevo, mailgun, postmark, sendgrid, ses
from bot.sources.espsettings import EspSettings
from bot.sources.payload import PayloadError
from bot.sources.store import Store
from bot.sources.verify import Refused, Unavailable, secrets, sns
from bot.sources.verify import mailgun as mailgun_sig
from bot.sources.verify import sendgrid as sendgrid_sig
from bot.sources.writer import GroupCommitWriter

log = logging.getLogger(__name__)

PROVIDERS = ("postmark", "mailgun", "sendgrid", "ses", "brevo")

#: How long confirming an SNS subscription may take, and how much of its answer we read.
SUBSCRIBE_TIMEOUT = 5.0

_CHALLENGES = {
    "postmark": 'Basic realm="whymail postmark webhook"',
    "ses": 'Basic realm="whymail ses webhook"',
    "brevo": 'Bearer realm="whymail brevo webhook"',
}


@dataclass(frozen=True, slots=True)
class WebhookResponse:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class _Done(Exception):
    """A request answered without storing anything (an SNS subscription confirmation)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _metrics(provider: str, outcome: str) -> None:
    """One count per request. Answers that store nothing new (duplicates, SNS subscription
    confirmations, SES's "validated" notice) count as `duplicate`."""
    metrics.webhook_delivery(provider, outcome)


class WebhookReceiver:
    """One per process: it owns the group-commit writer that all webhook requests share."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        http: httpx.AsyncClient | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._esp: EspSettings = settings.esp
        self._writer = GroupCommitWriter(store)
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=SUBSCRIBE_TIMEOUT)
        self._certs = sns.CertificateCache(self._http, self._esp.ses_sns_cert_hosts)
        self._clock = clock
        self._handlers: dict[str, Callable[[Mapping[str, str], bytes], Awaitable[Any]]] = {
            "postmark": self._postmark,
            "mailgun": self._mailgun,
            "sendgrid": self._sendgrid,
            "ses": self._ses,
            "brevo": self._brevo,
        }

    @property
    def max_body_bytes(self) -> int:
        """The web layer may stop reading a body past this and answer 413 itself."""
        return self._esp.webhook_max_bytes

    @property
    def writer(self) -> GroupCommitWriter:
        return self._writer

    async def aclose(self) -> None:
        await self._writer.close()
        if self._owns_http:
            await self._http.aclose()

    async def receive(
        self, provider: str, headers: Mapping[str, str], body: bytes
    ) -> WebhookResponse:
        handler = self._handlers.get(provider)
        if handler is None:
            return _answer(404, f"no webhook for provider {provider!r}; use one of {PROVIDERS}")
        if len(body) > self._esp.webhook_max_bytes:
            _metrics(provider, "invalid")
            return _answer(413, f"body larger than {self._esp.webhook_max_bytes} bytes")
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            events: Sequence[DeliveryEvent] = await handler(lowered, body)
        except Refused as exc:
            log.warning("refused a %s webhook: %s", provider, exc)
            _metrics(provider, "unauthorized")
            challenge = _CHALLENGES.get(provider)
            return _answer(401, str(exc), {"WWW-Authenticate": challenge} if challenge else {})
        except Unavailable as exc:
            log.warning("cannot check a %s webhook now: %s", provider, exc)
            _metrics(provider, "error")
            return _answer(503, str(exc), {"Retry-After": "60"})
        except PayloadError as exc:
            _metrics(provider, "invalid")
            return _answer(400, f"unreadable {provider} payload: {exc}")
        except _Done as done:
            _metrics(provider, "duplicate")
            return _answer(200, done.message, ok=True)
        except Exception:
            # Our bug, not the ESP's: 500 makes it retry (a 4xx would make Postmark drop it).
            log.exception("reading a %s webhook failed", provider)
            _metrics(provider, "error")
            return _answer(500, "internal error while reading the payload; it will be retried")
        try:
            fresh = await self._writer.write(events)
        except Exception as exc:
            _metrics(provider, "error")
            return _answer(503, f"could not store the events, retry later: {type(exc).__name__}")
        _metrics(provider, "stored" if fresh or not events else "duplicate")
        body = b'{"ok": true, "events": %d, "new": %d}' % (len(events), fresh)
        return WebhookResponse(200, body, {"Content-Type": "application/json"})

    async def _postmark(self, headers: Mapping[str, str], body: bytes) -> list[DeliveryEvent]:
        secrets.check_basic(
            headers.get("authorization"),
            self._esp.postmark_webhook_user,
            self._esp.postmark_webhook_password,
        )
        events = postmark.normalize(_object(body))
        trace = headers.get("x-pm-webhook-trace-id", "").strip()
        if trace:
            # Postmark's own idempotency key, the same across its retries of one delivery.
            events = [replace(e, dedupe_key=f"postmark:trace:{trace[:200]}") for e in events]
        return events

    async def _mailgun(self, headers: Mapping[str, str], body: bytes) -> list[DeliveryEvent]:
        if headers.get("content-type", "").startswith(("application/x-www-form", "multipart/")):
            raise PayloadError("legacy form-encoded webhooks are not supported; use JSON webhooks")
        payload = _object(body)
        signature = payload.get("signature")
        mailgun_sig.verify(
            self._esp.mailgun_webhook_signing_key,
            signature if isinstance(signature, Mapping) else {},
            now=self._clock(),
            window=self._esp.webhook_replay_window,
        )
        if not isinstance(payload.get("event-data"), Mapping):
            raise PayloadError("missing object 'event-data'")
        return mailgun.normalize(payload)

    async def _sendgrid(self, headers: Mapping[str, str], body: bytes) -> list[DeliveryEvent]:
        sendgrid_sig.verify(
            self._esp.sendgrid_webhook_public_key,
            headers.get(sendgrid_sig.SIGNATURE_HEADER),
            headers.get(sendgrid_sig.TIMESTAMP_HEADER),
            body,
            now=self._clock(),
            window=self._esp.webhook_replay_window,
        )
        return sendgrid.normalize_batch(_json(body))

    async def _brevo(self, headers: Mapping[str, str], body: bytes) -> list[DeliveryEvent]:
        secrets.check_bearer(headers.get("authorization"), self._esp.brevo_webhook_token)
        return brevo.normalize_batch(_json(body))

    async def _ses(self, headers: Mapping[str, str], body: bytes) -> list[DeliveryEvent]:
        message = _object(body)
        kind = message.get("Type")
        declared = headers.get("x-amz-sns-message-type")
        if declared and declared != kind:
            raise PayloadError(f"header says {declared!r} but the body is {kind!r}")
        sns.check_topic(message, self._esp.ses_sns_topic_arns)
        certificate = await self._certs.get(str(message.get("SigningCertURL") or ""))
        sns.verify_signature(message, certificate)
        sns.check_timestamp(message, self._clock(), self._esp.webhook_replay_window)
        if kind == "SubscriptionConfirmation":
            await self._confirm(message)
            raise _Done(f"subscribed to {message.get('TopicArn')}")
        if kind == "UnsubscribeConfirmation":
            raise _Done("unsubscribe confirmation noted")
        if kind != "Notification":
            raise PayloadError(f"unknown SNS message type {kind!r}")
        try:
            inner = json.loads(str(message.get("Message")))
        except json.JSONDecodeError:
            inner = None
        if not isinstance(inner, Mapping):
            # e.g. "Successfully validated SNS topic for Amazon SES event publishing."
            raise _Done("notification without an SES event ignored")
        return ses.normalize(message)

    async def _confirm(self, message: Mapping[str, Any]) -> None:
        """GET the SubscribeURL, only on an allowed SNS host (it came in a signed message)."""
        url = str(message.get("SubscribeURL") or "")
        if not sns.host_allowed(url, self._esp.ses_sns_cert_hosts):
            raise Refused(f"SubscribeURL {url!r} is not on an allowed SNS host")
        try:
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
                response = await self._http.get(url, follow_redirects=False)
        except (TimeoutError, httpx.HTTPError) as exc:
            raise Unavailable(f"confirming the SNS subscription failed: {exc!r}") from None
        if response.status_code != 200:
            raise Unavailable(f"confirming the SNS subscription got HTTP {response.status_code}")
        log.info("confirmed SNS subscription to %s", message.get("TopicArn"))


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PayloadError(f"body is not JSON: {exc}") from None


def _object(body: bytes) -> dict[str, Any]:
    payload = _json(body)
    if not isinstance(payload, dict):
        raise PayloadError("body should be a JSON object")
    return payload


def _answer(
    status: int, message: str, headers: dict[str, str] | None = None, *, ok: bool = False
) -> WebhookResponse:
    key = "message" if ok else "error"
    return WebhookResponse(
        status,
        json.dumps({"ok": ok, key: message}).encode(),
        {"Content-Type": "application/json", **(headers or {})},
    )
