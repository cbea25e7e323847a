"""Postmark: Basic-auth webhooks (one event a request), the message and bounce APIs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

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
        found = events.normalize(body_object(body))
        trace = headers.get("x-pm-webhook-trace-id", "").strip()
        if trace:
            # Postmark's own idempotency key, the same across its retries of one delivery.
            found = [replace(e, dedupe_key=f"postmark:trace:{trace[:200]}") for e in found]
        return found

    return receive


def _client(settings: PostmarkSettings, http: httpx.AsyncClient) -> PostmarkClient | None:
    if not settings.postmark_server_token:
        return None
    return PostmarkClient(settings.postmark_server_token, http, settings.postmark_api_url)


def _can_reactivate(event: DeliveryEvent) -> bool:
    """Postmark says per bounce whether it can be reactivated (spam complaints cannot)."""
    return event.raw.get("CanActivate") is not False


ESP = Provider(
    name="postmark",
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
