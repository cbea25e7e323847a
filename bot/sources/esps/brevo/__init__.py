"""Brevo: bearer-token webhooks (one event, or a batch), the events API, blocked contacts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from bot.model import DeliveryEvent
from bot.sources.esps.brevo import events
from bot.sources.esps.brevo.api import BrevoClient
from bot.sources.payload import body_json
from bot.sources.provider import Provider, WebhookContext, WebhookHandler
from bot.sources.verify import secrets


@dataclass(frozen=True, slots=True)
class BrevoSettings:
    brevo_api_key: str | None = None
    brevo_webhook_token: str | None = None
    brevo_api_url: str = "https://api.brevo.com"


def _webhook(settings: BrevoSettings, _: WebhookContext) -> WebhookHandler:
    async def receive(headers: Mapping[str, str], body: bytes) -> list[DeliveryEvent]:
        secrets.check_bearer(headers.get("authorization"), settings.brevo_webhook_token)
        return events.normalize_batch(body_json(body))

    return receive


def _client(settings: BrevoSettings, http: httpx.AsyncClient) -> BrevoClient | None:
    if not settings.brevo_api_key:
        return None
    return BrevoClient(settings.brevo_api_key, http, settings.brevo_api_url)


ESP = Provider(
    name=events.PROVIDER,
    display="Brevo",
    settings=BrevoSettings,
    normalize=events.normalize,
    envelope=events.envelope,
    webhook=_webhook,
    client=_client,
    challenge='Bearer realm="whymail brevo webhook"',
    marks=("ts_epoch", "X-Mailin-custom", "message-id"),
)
