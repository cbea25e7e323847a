"""Mailgun: HMAC-signed JSON webhooks, the Logs/Events API, suppressions; US or EU region."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import httpx

from bot.model import DeliveryEvent
from bot.sources.esps.mailgun import events
from bot.sources.esps.mailgun.api import MailgunClient
from bot.sources.payload import PayloadError, body_object
from bot.sources.provider import (
    Provider,
    SettingsError,
    WebhookContext,
    WebhookHandler,
)
from bot.sources.verify import CLOCK_SKEW, Refused, Unavailable
from bot.sources.verify import mailgun as signature

_REGIONS = {"us": "https://api.mailgun.net", "eu": "https://api.eu.mailgun.net"}


@dataclass(frozen=True, slots=True)
class MailgunSettings:
    mailgun_api_key: str | None = None
    mailgun_domain: str | None = None
    mailgun_region: str = "us"
    mailgun_webhook_signing_key: str | None = None
    mailgun_api_url: str | None = None

    @property
    def base_url(self) -> str:
        if self.mailgun_api_url:
            return self.mailgun_api_url.rstrip("/")
        return _REGIONS[self.mailgun_region]


def _checked(settings: MailgunSettings) -> MailgunSettings:
    region = settings.mailgun_region.lower()
    if region not in _REGIONS:
        raise SettingsError("MAILGUN_REGION must be us or eu")
    return replace(settings, mailgun_region=region)


def _webhook(settings: MailgunSettings, context: WebhookContext) -> WebhookHandler:
    async def receive(headers: Mapping[str, str], body: bytes) -> list[DeliveryEvent]:
        if headers.get("content-type", "").startswith(("application/x-www-form", "multipart/")):
            raise PayloadError("legacy form-encoded webhooks are not supported; use JSON webhooks")
        payload = body_object(body)
        signed = payload.get("signature")
        signed = signed if isinstance(signed, Mapping) else {}
        signed_at = signature.verify(
            settings.mailgun_webhook_signing_key,
            signed,
            now=context.clock(),
            window=context.replay_window,
        )
        data = payload.get("event-data")
        if not isinstance(data, Mapping):
            raise PayloadError("missing object 'event-data'")
        # The same token may come again only with the same event (a retry of this delivery).
        fingerprint = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
        until = datetime.fromtimestamp(signed_at + context.replay_window + CLOCK_SKEW, UTC)
        try:
            fresh = await context.tokens.claim_token(
                events.PROVIDER, str(signed["token"]), fingerprint, until
            )
        except Exception as exc:  # the store is down: neither accept nor refuse; Mailgun retries
            raise Unavailable(
                f"cannot check the signature token now: {type(exc).__name__}"
            ) from exc
        if not fresh:
            raise Refused("signature token already used with another body")
        return events.normalize(payload)

    return receive


def _client(settings: MailgunSettings, http: httpx.AsyncClient) -> MailgunClient | None:
    if not (settings.mailgun_api_key and settings.mailgun_domain):
        return None
    return MailgunClient(settings.mailgun_api_key, settings.mailgun_domain, http, settings.base_url)


ESP = Provider(
    name=events.PROVIDER,
    display="Mailgun",
    settings=MailgunSettings,
    checked=_checked,
    normalize=events.normalize,
    envelope=events.envelope,
    webhook=_webhook,
    client=_client,
    marks=("event-data",),
)
