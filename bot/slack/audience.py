"""Who is asking, and so what they may see: the rules from DESIGN.md, failing closed.

A person is an agent only when Slack positively says they belong to the vendor: their team is
an agent team (by default the team that installed the app), they are no stranger, and, when
agent user groups are configured, they are in one. Everyone else is a customer, who sees only
the tenant mapped to the channel they asked in. Any error on the way (a Slack API failure, a
missing field) makes the answer a customer's; an unmapped shared channel gets no lookup at all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.conversation.asker import AGENT, CUSTOMER, Asker
from bot.slack.settings import SlackSettings
from bot.trees import choose_locale

__all__ = ["AGENT", "CUSTOMER", "Asker", "Classifier", "Where", "choose_locale"]

log = logging.getLogger(__name__)

CACHE_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class Where:
    """Where a request came from, as far as its payload tells."""

    user: str
    channel: str | None
    team: str | None = None
    #: The event's `is_ext_shared_channel`: a free, early "yes"; its absence proves nothing.
    ext_shared_hint: bool = False
    is_im: bool = False


class _TTLCache:
    """Minutes-long memory of Slack lookups; concurrent misses for one key share one call."""

    def __init__(self, seconds: float = CACHE_SECONDS, size: int = 5000) -> None:
        self._seconds, self._size = seconds, size
        self._items: dict[str, tuple[float, asyncio.Future[Any]]] = {}

    async def get(self, key: str, fetch: Callable[[], Awaitable[Any]]) -> Any:
        hit = self._items.get(key)
        now = time.monotonic()
        if hit is None or now - hit[0] >= self._seconds:
            if len(self._items) >= self._size:
                self._items.clear()
            hit = (now, asyncio.ensure_future(fetch()))
            self._items[key] = hit
        try:
            value = await asyncio.shield(hit[1])
        except Exception:
            self._items.pop(key, None)
            raise
        if value is None and self._items.get(key) is hit:
            del self._items[key]  # a failed lookup fails closed now, and is asked again next time
        return value


class Classifier:
    """Decides an `Asker` from a `Where`, with Slack lookups cached for a few minutes."""

    def __init__(self, settings: SlackSettings) -> None:
        self._settings = settings
        self._users = _TTLCache()
        self._channels = _TTLCache()
        self._groups = _TTLCache()
        self.home_team: str | None = None
        self.home_enterprise: str | None = None

    def learn_home(self, team: str | None, enterprise: str | None) -> None:
        """The installing team from `auth.test` (Bolt's authorize result)."""
        if team and not self.home_team:
            self.home_team, self.home_enterprise = team, enterprise

    async def classify(
        self, client: AsyncWebClient, where: Where, *, visible_to_channel: bool
    ) -> Asker:
        user = await self._users.get(where.user, lambda: _user(client, where.user))
        locale = user.get("locale") if user else None
        external_user, why = self._external_user(user)
        external_channel = False
        if where.channel and not where.is_im:
            if where.ext_shared_hint:
                external_channel = True
            else:
                name = where.channel
                channel = await self._channels.get(name, lambda: _channel(client, name))
                external_channel = _external_channel(channel)
        agent = not external_user and not (visible_to_channel and external_channel)
        if agent and self._settings.agent_usergroups:
            agent = await self._in_agent_group(client, where.user)
            why = why if agent else "not in an agent user group"
        elif not agent and not external_user:
            why = "the answer is visible in a channel shared with customers"
        mapping = self._settings.channels.get(where.channel or "")
        if agent:
            return Asker(where.user, AGENT, None, True, locale, external_channel, why)
        tenant = mapping.tenant if mapping and not where.is_im else None
        if not tenant:
            why += "; this conversation is not mapped to a tenant"
        return Asker(where.user, CUSTOMER, tenant, bool(tenant), locale, external_channel, why)

    def channel_locale(self, channel: str | None) -> str | None:
        mapping = self._settings.channels.get(channel or "")
        return (mapping.locale if mapping else None) or self._settings.default_locale

    def channel_tenant(self, channel: str | None) -> str | None:
        mapping = self._settings.channels.get(channel or "")
        return mapping.tenant if mapping else None

    async def channel_external(self, client: AsyncWebClient, channel: str) -> bool:
        """Checked afresh before anything is posted where customers may read it."""
        return _external_channel(await _channel(client, channel))

    def _external_user(self, user: Mapping[str, Any] | None) -> tuple[bool, str]:
        if user is None:
            return True, "users.info failed (fail closed)"
        if user.get("is_stranger"):
            return True, "a stranger from another organisation"
        agent_teams = self._settings.agent_teams or ((self.home_team,) if self.home_team else ())
        if not agent_teams:
            return True, "the app's own team is unknown (fail closed)"
        if user.get("team_id") in agent_teams:
            return False, "a member of an agent team"
        enterprise = (user.get("enterprise_user") or {}).get("enterprise_id")
        if (
            self.home_enterprise
            and enterprise == self.home_enterprise
            and not self._settings.agent_teams
        ):
            return False, "a member of the same Enterprise Grid organisation"
        return True, "from another team"

    async def _in_agent_group(self, client: AsyncWebClient, user: str) -> bool:
        for group in self._settings.agent_usergroups:
            members = await self._groups.get(group, _group_fetch(client, group))
            if user in members:
                return True
        return False


def _external_channel(channel: Mapping[str, Any] | None) -> bool:
    if channel is None:
        return True
    if channel.get("is_im"):
        return False
    return bool(
        channel.get("is_ext_shared")
        or channel.get("is_pending_ext_shared")
        or (channel.get("is_shared") and not channel.get("is_org_shared"))
    )


async def _user(client: AsyncWebClient, user: str) -> dict[str, Any] | None:
    return await _info(
        "users.info", user, "user", client.users_info(user=user, include_locale=True)
    )


async def _channel(client: AsyncWebClient, channel: str) -> dict[str, Any] | None:
    return await _info(
        "conversations.info", channel, "channel", client.conversations_info(channel=channel)
    )


async def _info(
    method: str, name: str, key: str, call: Awaitable[AsyncSlackResponse]
) -> dict[str, Any] | None:
    """`call`'s `key` object, or None when Slack cannot tell: callers then fail closed."""
    try:
        response = await call
    except SlackApiError as exc:
        log.warning("%s %s failed: %s", method, name, exc.response.get("error"))
        return None
    except Exception as exc:  # a network failure is a failure to tell: fail closed
        log.warning("%s %s failed: %r", method, name, exc)
        return None
    found = response.get(key)
    return found if isinstance(found, dict) else None


def _group_fetch(client: AsyncWebClient, group: str) -> Callable[[], Awaitable[frozenset[str]]]:
    return lambda: _group(client, group)


async def _group(client: AsyncWebClient, group: str) -> frozenset[str]:
    try:
        response = await client.usergroups_users_list(usergroup=group)
    except SlackApiError as exc:
        log.warning("usergroups.users.list %s failed: %s", group, exc.response.get("error"))
        return frozenset()
    return frozenset(str(u) for u in response.get("users") or ())
