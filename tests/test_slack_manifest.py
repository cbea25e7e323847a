"""app-manifest.yml asks for exactly what the code uses, within Slack's manifest limits.

The code is read, not trusted to declare itself: every Web API call on a `client` in bot/slack,
every `app.event(...)`, `app.command(...)`, `app.action(...)` and `app.view(...)` is found in
the source, mapped to the scopes and events it needs, and compared with the manifest.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import yaml

from bot.slack.app import COMMAND, EVENTS

ROOT = Path(__file__).resolve().parent.parent
SLACK = ROOT / "bot" / "slack"

#: Web API method (slack_sdk's name) → the bot scopes it needs.
METHOD_SCOPES: dict[str, set[str]] = {
    "auth_test": set(),
    "chat_postMessage": {"chat:write"},
    "chat_update": {"chat:write"},
    "conversations_info": {"channels:read", "groups:read", "mpim:read"},
    "files_info": {"files:read"},
    "usergroups_users_list": {"usergroups:read"},
    "users_info": {"users:read"},
    "views_open": set(),
    "views_publish": set(),
    "views_update": set(),
}
#: Bolt event name → (manifest bot events, scopes). whymail listens to `message` in DMs, and in
#: channels for replies in the threads of its alerts.
EVENT_SUBSCRIPTIONS: dict[str, tuple[tuple[str, ...], set[str]]] = {
    "app_home_opened": (("app_home_opened",), set()),
    "app_mention": (("app_mention",), {"app_mentions:read"}),
    "message": (
        ("message.im", "message.channels", "message.groups"),
        {"im:history", "channels:history", "groups:history"},
    ),
}


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "app-manifest.yml").read_text("utf-8"))
    return data


def used_by_code() -> tuple[set[str], dict[str, set[str]]]:
    """Web API methods called on a client, and the listener kinds registered (kind → args)."""
    methods: set[str] = set()
    listeners: dict[str, set[str]] = {
        "event": set(),
        "command": set(),
        "action": set(),
        "view": set(),
    }
    for path in SLACK.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            owner = node.func.value
            owner_name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
            if owner_name == "client" and not node.func.attr.startswith("_"):
                methods.add(node.func.attr)
            if owner_name == "app" and node.func.attr in listeners and node.args:
                first = node.args[0]
                listeners[node.func.attr].add(ast.unparse(first))
    return methods, listeners


def test_scopes_events_and_commands_match_the_code() -> None:
    methods, listeners = used_by_code()
    unknown = methods - METHOD_SCOPES.keys()
    assert not unknown, f"add the scopes of {unknown} to METHOD_SCOPES (and the manifest)"
    events = {ast.literal_eval(e) for e in listeners["event"]}
    assert events == set(EVENTS)
    assert listeners["command"] == {"COMMAND"}  # the constant compared below
    needed = set().union(*(METHOD_SCOPES[m] for m in methods))
    needed |= set().union(*(EVENT_SUBSCRIPTIONS[e][1] for e in events))
    needed.add("commands")
    data = manifest()
    assert sorted(data["oauth_config"]["scopes"]["bot"]) == sorted(needed)
    assert "user" not in data["oauth_config"]["scopes"]
    subscribed = data["settings"]["event_subscriptions"]["bot_events"]
    assert sorted(subscribed) == sorted(n for e in events for n in EVENT_SUBSCRIPTIONS[e][0])
    (command,) = data["features"]["slash_commands"]
    assert command["command"] == COMMAND
    assert data["settings"]["interactivity"]["is_enabled"] is bool(
        listeners["action"] or listeners["view"]
    )
    assert data["features"]["app_home"]["home_tab_enabled"] is ("app_home_opened" in events)
    assert data["features"]["app_home"]["messages_tab_enabled"] is ("message" in events)


def test_http_mode_urls_all_point_at_the_one_endpoint() -> None:
    data = manifest()
    assert data["settings"]["socket_mode_enabled"] is False
    urls = [
        data["settings"]["event_subscriptions"]["request_url"],
        data["settings"]["interactivity"]["request_url"],
        *(c["url"] for c in data["features"]["slash_commands"]),
    ]
    assert all(re.fullmatch(r"https://[^/]+/slack/events", u) for u in urls), urls


def test_field_limits() -> None:
    """Slack's limits, as in @slack/web-api's Manifest type (see shared/reference/slack.md)."""
    data = manifest()
    assert data["_metadata"]["major_version"] in (1, 2)
    info = data["display_information"]
    assert 1 <= len(info["name"]) <= 35
    assert len(info.get("description", "")) <= 140
    assert 174 <= len(info["long_description"]) <= 4000
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", info["background_color"])
    bot = data["features"]["bot_user"]
    assert len(bot["display_name"]) <= 80
    assert re.fullmatch(r"[a-z0-9\-_.]+", bot["display_name"])
    for command in data["features"]["slash_commands"]:
        assert command["command"].startswith("/")
        assert len(command["command"]) <= 32
        assert len(command["description"]) <= 2000
        assert len(command.get("usage_hint", "")) <= 1000
        assert isinstance(command.get("should_escape", False), bool)
    assert len(data["features"].get("unfurl_domains", [])) <= 5
    known_settings = {
        "event_subscriptions",
        "interactivity",
        "org_deploy_enabled",
        "socket_mode_enabled",
        "token_rotation_enabled",
        "allowed_ip_address_ranges",
    }
    assert set(data["settings"]) <= known_settings
