"""Amazon SES: events through SNS (signed, topic allow-list, subscription confirmation), and
the SES v2 account suppression list over SigV4."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from bot.model import DeliveryEvent
from bot.sources.esps.ses import events
from bot.sources.esps.ses.api import SesClient
from bot.sources.payload import PayloadError, body_object
from bot.sources.provider import Provider, WebhookContext, WebhookHandler
from bot.sources.verify import Acknowledged, Refused, Unavailable, sns

log = logging.getLogger(__name__)

#: Amazon's SNS endpoints; `*` stands for exactly one DNS label (the region).
DEFAULT_SNS_CERT_HOSTS = ("sns.*.amazonaws.com", "sns.*.amazonaws.com.cn")
#: How long confirming an SNS subscription may take.
SUBSCRIBE_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class SesSettings:
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None
    aws_region: str | None = None
    ses_api_url: str | None = None
    ses_sns_topic_arns: tuple[str, ...] = ()
    ses_sns_cert_hosts: tuple[str, ...] = DEFAULT_SNS_CERT_HOSTS

    @property
    def base_url(self) -> str:
        if self.ses_api_url:
            return self.ses_api_url.rstrip("/")
        return f"https://email.{self.aws_region or 'us-east-1'}.amazonaws.com"


def _webhook(settings: SesSettings, context: WebhookContext) -> WebhookHandler:
    certificates = sns.CertificateCache(context.http, settings.ses_sns_cert_hosts)

    async def receive(headers: Mapping[str, str], body: bytes) -> list[DeliveryEvent]:
        message = body_object(body)
        kind = message.get("Type")
        declared = headers.get("x-amz-sns-message-type")
        if declared and declared != kind:
            raise PayloadError(f"header says {declared!r} but the body is {kind!r}")
        sns.check_topic(message, settings.ses_sns_topic_arns)
        certificate = await certificates.get(str(message.get("SigningCertURL") or ""))
        sns.verify_signature(message, certificate)
        sns.check_timestamp(message, context.clock(), context.replay_window)
        if kind == "SubscriptionConfirmation":
            await _confirm(message, settings, context.http)
            raise Acknowledged(f"subscribed to {message.get('TopicArn')}")
        if kind == "UnsubscribeConfirmation":
            raise Acknowledged("unsubscribe confirmation noted")
        if kind != "Notification":
            raise PayloadError(f"unknown SNS message type {kind!r}")
        try:
            inner = json.loads(str(message.get("Message")))
        except (json.JSONDecodeError, RecursionError):
            inner = None
        if not isinstance(inner, Mapping):
            # e.g. "Successfully validated SNS topic for Amazon SES event publishing."
            raise Acknowledged("notification without an SES event ignored")
        return events.normalize(message)

    return receive


async def _confirm(
    message: Mapping[str, Any], settings: SesSettings, http: httpx.AsyncClient
) -> None:
    """GET the SubscribeURL, only on an allowed SNS host (it came in a signed message)."""
    url = str(message.get("SubscribeURL") or "")
    if not sns.host_allowed(url, settings.ses_sns_cert_hosts):
        raise Refused(f"SubscribeURL {url!r} is not on an allowed SNS host")
    try:
        async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
            response = await http.get(url, follow_redirects=False)
    except (TimeoutError, httpx.HTTPError) as exc:
        raise Unavailable(f"confirming the SNS subscription failed: {exc!r}") from None
    if response.status_code != 200:
        raise Unavailable(f"confirming the SNS subscription got HTTP {response.status_code}")
    log.info("confirmed SNS subscription to %s", message.get("TopicArn"))


def _client(settings: SesSettings, http: httpx.AsyncClient) -> SesClient | None:
    if not (settings.aws_access_key_id and settings.aws_secret_access_key and settings.aws_region):
        return None
    return SesClient(
        settings.aws_access_key_id,
        settings.aws_secret_access_key,
        settings.aws_region,
        http,
        settings.base_url,
        settings.aws_session_token,
    )


ESP = Provider(
    name=events.PROVIDER,
    display="Amazon SES",
    settings=SesSettings,
    normalize=events.normalize,
    envelope=events.envelope,
    webhook=_webhook,
    client=_client,
    challenge='Basic realm="whymail ses webhook"',
    marks=("TopicArn", "notificationType", "eventType"),
)
