"""ESP credentials, webhook secrets and API endpoints, as typed settings.

Kept apart from `bot.config` so the list of ESP keys lives beside the code that reads them;
`bot.config.Settings.esp` holds one of these. Every key is an environment variable (DESIGN.md)
that the WHYMAIL_CONFIG file may also set in lower case.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: field name → environment variable
ENV_KEYS: dict[str, str] = {
    "postmark_server_token": "POSTMARK_SERVER_TOKEN",
    "postmark_webhook_user": "POSTMARK_WEBHOOK_USER",
    "postmark_webhook_password": "POSTMARK_WEBHOOK_PASSWORD",
    "postmark_api_url": "POSTMARK_API_URL",
    "mailgun_api_key": "MAILGUN_API_KEY",
    "mailgun_domain": "MAILGUN_DOMAIN",
    "mailgun_region": "MAILGUN_REGION",
    "mailgun_webhook_signing_key": "MAILGUN_WEBHOOK_SIGNING_KEY",
    "mailgun_api_url": "MAILGUN_API_URL",
    "sendgrid_api_key": "SENDGRID_API_KEY",
    "sendgrid_webhook_public_key": "SENDGRID_WEBHOOK_PUBLIC_KEY",
    "sendgrid_api_url": "SENDGRID_API_URL",
    "aws_access_key_id": "AWS_ACCESS_KEY_ID",
    "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "aws_session_token": "AWS_SESSION_TOKEN",
    "aws_region": "AWS_REGION",
    "ses_api_url": "SES_API_URL",
    "ses_sns_topic_arns": "SES_SNS_TOPIC_ARNS",
    "ses_sns_cert_hosts": "SES_SNS_CERT_HOSTS",
    "brevo_api_key": "BREVO_API_KEY",
    "brevo_webhook_token": "BREVO_WEBHOOK_TOKEN",
    "brevo_api_url": "BREVO_API_URL",
    "webhook_replay_window": "WHYMAIL_WEBHOOK_REPLAY_WINDOW",
    "webhook_max_bytes": "WHYMAIL_WEBHOOK_MAX_BYTES",
    "esp_deadline": "WHYMAIL_ESP_DEADLINE",
}

#: Amazon's SNS endpoints; `*` stands for exactly one DNS label (the region).
DEFAULT_SNS_CERT_HOSTS = ("sns.*.amazonaws.com", "sns.*.amazonaws.com.cn")

_MAILGUN_REGIONS = {"us": "https://api.mailgun.net", "eu": "https://api.eu.mailgun.net"}


class EspConfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class EspSettings:
    postmark_server_token: str | None = None
    postmark_webhook_user: str | None = None
    postmark_webhook_password: str | None = None
    postmark_api_url: str = "https://api.postmarkapp.com"
    mailgun_api_key: str | None = None
    mailgun_domain: str | None = None
    mailgun_region: str = "us"
    mailgun_webhook_signing_key: str | None = None
    mailgun_api_url: str | None = None
    sendgrid_api_key: str | None = None
    sendgrid_webhook_public_key: str | None = None
    sendgrid_api_url: str = "https://api.sendgrid.com"
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None
    aws_region: str | None = None
    ses_api_url: str | None = None
    ses_sns_topic_arns: tuple[str, ...] = ()
    ses_sns_cert_hosts: tuple[str, ...] = DEFAULT_SNS_CERT_HOSTS
    brevo_api_key: str | None = None
    brevo_webhook_token: str | None = None
    brevo_api_url: str = "https://api.brevo.com"
    #: Seconds a signed webhook timestamp may be old (SendGrid retries for up to 24 h, Mailgun
    #: for 8 h, and neither documents re-signing retries), or in the future (clock skew: 5 min).
    webhook_replay_window: float = 86_400.0
    webhook_max_bytes: int = 1_048_576
    #: The whole ESP API stage's budget in a diagnosis.
    esp_deadline: float = 8.0

    @property
    def mailgun_base_url(self) -> str:
        if self.mailgun_api_url:
            return self.mailgun_api_url.rstrip("/")
        return _MAILGUN_REGIONS[self.mailgun_region]

    @property
    def ses_base_url(self) -> str:
        if self.ses_api_url:
            return self.ses_api_url.rstrip("/")
        return f"https://email.{self.aws_region or 'us-east-1'}.amazonaws.com"

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> EspSettings:
        """Build from config keys (field names); empty strings count as unset."""
        raw = {k: values[k] for k in ENV_KEYS if values.get(k) not in (None, "")}
        kwargs: dict[str, Any] = {}
        for key, value in raw.items():
            if key in ("ses_sns_topic_arns", "ses_sns_cert_hosts"):
                items = value if isinstance(value, list | tuple) else str(value).split(",")
                kwargs[key] = tuple(str(i).strip() for i in items if str(i).strip())
            elif key in ("webhook_replay_window", "esp_deadline"):
                kwargs[key] = _number(key, value, float)
            elif key == "webhook_max_bytes":
                kwargs[key] = _number(key, value, int)
            else:
                kwargs[key] = str(value)
        region = str(kwargs.get("mailgun_region", "us")).lower()
        if region not in _MAILGUN_REGIONS:
            raise EspConfigError("MAILGUN_REGION must be us or eu")
        kwargs["mailgun_region"] = region
        return cls(**kwargs)


def _number(key: str, value: Any, kind: type[float] | type[int]) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise EspConfigError(f"{ENV_KEYS[key]} must be a number") from None
    if number <= 0:
        raise EspConfigError(f"{ENV_KEYS[key]} must be positive")
    return number
