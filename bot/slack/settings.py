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
}
#: Config-file-only keys: a mapping is what environment variables express badly.
FILE_KEYS = ("slack_channels",)

DEFAULT_API_URL = "https://slack.com/api/"


class SlackConfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    """A customer channel: whose data may be shown there, and the language to answer in."""

    tenant: str | None = None
    locale: str | None = None


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
        )


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
            unknown = set(entry) - {"tenant", "locale"}
            if unknown:
                raise SlackConfigError(
                    f"slack_channels.{channel}: unknown keys {', '.join(sorted(unknown))}"
                )
            tenant, locale = entry.get("tenant"), entry.get("locale")
            channels[str(channel)] = ChannelConfig(
                tenant=str(tenant) if tenant else None, locale=str(locale) if locale else None
            )
        else:
            raise SlackConfigError(f"slack_channels.{channel}: give a tenant or a mapping")
    return channels
