"""Slack credentials and the rules that decide who is asking, as typed settings.

Kept beside the Slack code (as ESP settings are kept beside theirs) and free of Slack imports,
so `bot.config` can read them without loading slack_bolt. Tokens come from the environment; the
mappings (channel → tenant, agent teams) from the WHYMAIL_CONFIG file, where lists read well.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: field name → environment variable (the config file may set the field names in lower case)
ENV_KEYS: dict[str, str] = {
    "slack_bot_token": "SLACK_BOT_TOKEN",
    "slack_signing_secret": "SLACK_SIGNING_SECRET",
    "slack_app_token": "SLACK_APP_TOKEN",
    "slack_api_url": "SLACK_API_URL",
    "slack_agent_teams": "WHYMAIL_SLACK_AGENT_TEAMS",
    "slack_agent_usergroups": "WHYMAIL_SLACK_AGENT_USERGROUPS",
    "slack_fault_channel": "WHYMAIL_SLACK_FAULT_CHANNEL",
    "slack_default_locale": "WHYMAIL_SLACK_DEFAULT_LOCALE",
    "slack_alert_channel": "WHYMAIL_SLACK_ALERT_CHANNEL",
    "slack_alert_verdicts": "WHYMAIL_SLACK_ALERT_VERDICTS",
    "alert_burst": "WHYMAIL_ALERT_BURST",
}
#: Config-file-only keys: a mapping is what environment variables express badly.
FILE_KEYS = ("slack_channels",)

DEFAULT_API_URL = "https://slack.com/api/"


class SlackConfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    """A customer channel: whose data may be shown there, the language to answer in, and the
    verdicts of that tenant's dispatches it is told about unasked (none unless listed)."""

    tenant: str | None = None
    locale: str | None = None
    alerts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SlackSettings:
    bot_token: str | None = None
    signing_secret: str | None = None
    app_token: str | None = None
    api_url: str = DEFAULT_API_URL
    #: Channel id → tenant and locale. A shared channel missing here gets no lookups at all.
    channels: Mapping[str, ChannelConfig] = field(default_factory=dict)
    #: Teams whose members are agents; empty means the team that installed the app.
    agent_teams: tuple[str, ...] = ()
    #: When set, only members of these user groups (inside the agent teams) are agents.
    agent_usergroups: tuple[str, ...] = ()
    #: Where a refused knowledge edit is reported, so editors hear about it without logs.
    fault_channel: str | None = None
    default_locale: str | None = None
    #: The agents' channel for alerts about every tenant (the agent version, with buttons).
    alert_channel: str | None = None
    #: The verdicts the agents' channel is told about; empty means the default list
    #: (bot.alerts.DEFAULT_VERDICTS).
    alert_verdicts: tuple[str, ...] = ()
    #: Alerts per channel per minute before the rest of the minute becomes one digest.
    alert_burst: int = 5

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> SlackSettings:
        """Build from config keys; empty strings count as unset."""

        def text(key: str) -> str | None:
            value = values.get(key)
            return None if value in (None, "") else str(value).strip()

        api_url = text("slack_api_url") or DEFAULT_API_URL
        if not api_url.startswith(("https://", "http://")):
            raise SlackConfigError("SLACK_API_URL must be an http(s) URL")
        return cls(
            bot_token=text("slack_bot_token"),
            signing_secret=text("slack_signing_secret"),
            app_token=text("slack_app_token"),
            api_url=api_url if api_url.endswith("/") else api_url + "/",
            channels=_channels(values.get("slack_channels")),
            agent_teams=_ids(values.get("slack_agent_teams")),
            agent_usergroups=_ids(values.get("slack_agent_usergroups")),
            fault_channel=text("slack_fault_channel"),
            default_locale=text("slack_default_locale"),
            alert_channel=text("slack_alert_channel"),
            alert_verdicts=_ids(values.get("slack_alert_verdicts")),
            alert_burst=_burst(values.get("alert_burst")),
        )


def _burst(value: Any) -> int:
    if value in (None, ""):
        return 5
    try:
        burst = int(str(value).strip())
    except ValueError:
        raise SlackConfigError("WHYMAIL_ALERT_BURST must be a whole number") from None
    if burst < 1:
        raise SlackConfigError("WHYMAIL_ALERT_BURST must be at least 1")
    return burst


def _ids(value: Any) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    return tuple(str(i).strip() for i in items if str(i).strip())


def _channels(value: Any) -> dict[str, ChannelConfig]:
    """`{C123: acme}` or `{C123: {tenant: acme, locale: nb}}`."""
    if value in (None, ""):
        return {}
    if not isinstance(value, Mapping):
        raise SlackConfigError("slack_channels must map channel ids to a tenant")
    channels: dict[str, ChannelConfig] = {}
    for channel, entry in value.items():
        if isinstance(entry, str):
            channels[str(channel)] = ChannelConfig(tenant=entry)
        elif isinstance(entry, Mapping):
            unknown = set(entry) - {"tenant", "locale", "alerts"}
            if unknown:
                raise SlackConfigError(
                    f"slack_channels.{channel}: unknown keys {', '.join(sorted(unknown))}"
                )
            tenant, locale = entry.get("tenant"), entry.get("locale")
            alerts = entry.get("alerts")
            if alerts is not None and not isinstance(alerts, list | tuple):
                raise SlackConfigError(f"slack_channels.{channel}.alerts: give a list of verdicts")
            if alerts and not tenant:
                raise SlackConfigError(
                    f"slack_channels.{channel}: alerts need the channel's tenant"
                )
            channels[str(channel)] = ChannelConfig(
                tenant=str(tenant) if tenant else None,
                locale=str(locale) if locale else None,
                alerts=_ids(alerts),
            )
        else:
            raise SlackConfigError(f"slack_channels.{channel}: give a tenant or a mapping")
    return channels
