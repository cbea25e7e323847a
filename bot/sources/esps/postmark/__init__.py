"""Postmark: Basic-auth webhooks (one event a request), the message and bounce APIs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from bot.model import DeliveryEvent
from bot.sources.esps.postmark import events
from bot.sources.esps.postmark.api import PostmarkClient
from bot.sources.payload import body_object
from bot.sources.provider import Provider, WebhookContext, WebhookHandler
from bot.sources.verify import secrets


@dataclass(frozen=True, slots=True)
class PostmarkSettings:
    postmark_server_token: str | None = None
    postmark_webhook_user: str | None = None
    postmark_webhook_password: str | None = None
    postmark_api_url: str = "https://api.postmarkapp.com"


def _webhook(settings: PostmarkSettings, _: WebhookContext) -> WebhookHandler:
    async def receive(headers: Mapping[str, str], body: bytes) -> list[DeliveryEvent]:
        secrets.check_basic(
            headers.get("authorization"),
            settings.postmark_webhook_user,
            settings.postmark_webhook_password,
        )
        # Keyed by the record's own type and ID (or, without one, by its content), never by
        # X-PM-Webhook-Trace-Id: a redelivery may carry a new trace id, and the same body saved
        # and ingested later carries none, yet both are the one bounce already stored.
        return events.normalize(body_object(body))

    return receive


def _client(settings: PostmarkSettings, http: httpx.AsyncClient) -> PostmarkClient | None:
    if not settings.postmark_server_token:
        return None
    return PostmarkClient(settings.postmark_server_token, http, settings.postmark_api_url)


def _can_reactivate(event: DeliveryEvent) -> bool:
    """Postmark says per bounce whether it can be reactivated (spam complaints cannot)."""
    return event.raw.get("CanActivate") is not False


ESP = Provider(
    name=events.PROVIDER,
    display="Postmark",
    settings=PostmarkSettings,
    normalize=events.normalize,
    envelope=events.envelope,
    webhook=_webhook,
    client=_client,
    challenge='Basic realm="whymail postmark webhook"',
    marks=("RecordType",),
    can_reactivate=_can_reactivate,
)
