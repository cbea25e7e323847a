"""SendGrid: ECDSA-signed Event Webhook (a JSON array of events), Email Logs, suppressions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from bot.model import DeliveryEvent
from bot.sources.esps.sendgrid import events
from bot.sources.esps.sendgrid.api import SendGridClient
from bot.sources.payload import body_json
from bot.sources.provider import Provider, WebhookContext, WebhookHandler
from bot.sources.verify import sendgrid as signature


@dataclass(frozen=True, slots=True)
class SendGridSettings:
    sendgrid_api_key: str | None = None
    sendgrid_webhook_public_key: str | None = None
    sendgrid_api_url: str = "https://api.sendgrid.com"


def _webhook(settings: SendGridSettings, context: WebhookContext) -> WebhookHandler:
    async def receive(headers: Mapping[str, str], body: bytes) -> list[DeliveryEvent]:
        signature.verify(
            settings.sendgrid_webhook_public_key,
            headers.get(signature.SIGNATURE_HEADER),
            headers.get(signature.TIMESTAMP_HEADER),
            body,
            now=context.clock(),
            window=context.replay_window,
        )
        return events.normalize_batch(body_json(body))

    return receive


def _client(settings: SendGridSettings, http: httpx.AsyncClient) -> SendGridClient | None:
    if not settings.sendgrid_api_key:
        return None
    return SendGridClient(settings.sendgrid_api_key, http, settings.sendgrid_api_url)


ESP = Provider(
    name=events.PROVIDER,
    display="SendGrid",
    settings=SendGridSettings,
    normalize=events.normalize,
    envelope=events.envelope,
    webhook=_webhook,
    client=_client,
    marks=("sg_event_id", "sg_message_id"),
)
