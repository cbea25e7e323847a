"""A fake Slack on loopback: the Web API, `response_url`s and file downloads, recording all.

slack_sdk talks aiohttp to a real socket, so the fake is a real server: a Starlette app to run
with `testkit.servers.serve`. Every request is recorded with its parsed body (form or JSON, both
occur); callers poll the record, because the bot answers after it has acknowledged. Knobs make
Slack slow, rate limited or failing for one method at a time. The signing helpers build what
Slack sends. The end-to-end tests (tests/fakeslack.py) and bench/slack.py both drive the bot
through this one fake.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

HOME_TEAM = "T_HOME"
BOT_USER = "UBOT"


@dataclass
class Call:
    path: str
    method: str  # the Web API method, "response_url" or "file"
    headers: dict[str, str]
    body: dict[str, Any]
    at: float
    #: What the fake answered (a posted message's `ts`, for instance).
    answer: dict[str, Any] = field(default_factory=dict)


@dataclass
class FakeSlack:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, tuple[dict[str, Any], bytes]] = field(default_factory=dict)
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    #: method → seconds to wait before answering
    slow: dict[str, float] = field(default_factory=dict)
    #: method → how many 429s to answer before a success
    rate_limited: dict[str, int] = field(default_factory=dict)
    #: The Retry-After (seconds) those 429s carry.
    retry_after: int = 0
    #: method → how many HTTP 500s to answer before a success
    server_errors: dict[str, int] = field(default_factory=dict)
    #: channel → the error every post to it gets (`channel_not_found`, `not_in_channel`)
    refused_channels: dict[str, str] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    #: Messages posted so far; numbers their ts.
    messages_posted: int = 0
    url: str = ""
    #: What apps.connections.open hands out (a Socket Mode WebSocket the test serves).
    socket_url: str = ""

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/{method}", self._api, methods=["POST", "GET"]),
                Route("/response_url/{rid}", self._response_url, methods=["POST"]),
                Route("/files/{fid}", self._download, methods=["GET"]),
            ]
        )

    # -- what tests read ---------------------------------------------------------------------

    def called(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(
        self,
        method: str,
        count: int = 1,
        *,
        within: float = 3.0,
        where: Callable[[Call], bool] | None = None,
    ) -> list[Call]:
        """Poll until `count` matching calls arrived (the bot answers after its ack)."""
        deadline = time.monotonic() + within
        while True:
            found = [c for c in self.called(method) if where is None or where(c)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.02)

    def response_url(self, rid: str) -> str:
        return f"{self.url}/response_url/{rid}"

    def add_file(
        self, fid: str, name: str, content: bytes, mimetype: str = "message/rfc822"
    ) -> None:
        info = {
            "id": fid,
            "name": name,
            "mimetype": mimetype,
            "filetype": "email",
            "size": len(content),
            "url_private_download": f"{self.url}/files/{fid}",
        }
        self.files[fid] = (info, content)

    # -- the fake ----------------------------------------------------------------------------

    async def _record(self, request: Request, method: str) -> Call:
        raw = await request.body()
        if request.headers.get("content-type", "").startswith("application/json"):
            body = json.loads(raw or b"{}")
        else:
            body = dict(parse_qsl(raw.decode()))
            body.update(request.query_params)
        call = Call(request.url.path, method, dict(request.headers), body, time.monotonic())
        self.calls.append(call)
        return call

    async def _api(self, request: Request) -> Response:
        method = request.path_params["method"]
        call = await self._record(request, method)
        if self.rate_limited.get(method, 0) > 0:
            self.rate_limited[method] -= 1
            return JSONResponse(
                {"ok": False, "error": "ratelimited"},
                429,
                headers={"Retry-After": str(self.retry_after)},
            )
        if self.server_errors.get(method, 0) > 0:
            self.server_errors[method] -= 1
            return Response("upstream failure", 500)
        if method in self.slow:
            await asyncio.sleep(self.slow[method])
        token = call.headers.get("authorization", "")
        if method == "apps.connections.open":
            if not token.startswith("Bearer xapp-") or not self.socket_url:
                return JSONResponse({"ok": False, "error": "invalid_auth"})
            return JSONResponse({"ok": True, "url": self.socket_url})
        if not token.startswith("Bearer xoxb-"):
            return JSONResponse({"ok": False, "error": "not_authed"})
        call.answer = self._answer(method, call.body)
        return JSONResponse(call.answer)

    def _answer(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True,
                "team_id": HOME_TEAM,
                "user_id": BOT_USER,
                "bot_id": "BBOT",
                "team": "Home",
            }
        if method == "users.info":
            user = self.users.get(str(body.get("user")))
            return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}
        if method == "conversations.info":
            channel = self.channels.get(str(body.get("channel")))
            return (
                {"ok": True, "channel": channel}
                if channel
                else {"ok": False, "error": "channel_not_found"}
            )
        if method == "files.info":
            found = self.files.get(str(body.get("file")))
            return (
                {"ok": True, "file": found[0]}
                if found
                else {"ok": False, "error": "file_not_found"}
            )
        if method == "usergroups.users.list":
            return {"ok": True, "users": self.usergroups.get(str(body.get("usergroup")), [])}
        if method in ("chat.postMessage", "chat.postEphemeral", "chat.update"):
            refused = self.refused_channels.get(str(body.get("channel")))
            if refused:
                return {"ok": False, "error": refused}
            ts = body.get("ts") if method == "chat.update" else None
            return {"ok": True, "channel": body.get("channel"), "ts": ts or self._next_ts()}
        if method in ("views.open", "views.update", "views.push", "views.publish"):
            return {"ok": True, "view": {"id": body.get("view_id") or "V_FAKE"}}
        return {"ok": True}

    def _next_ts(self) -> str:
        """A message ts unique within this fake, as Slack's are within a channel."""
        self.messages_posted += 1
        return f"{int(time.time())}.{self.messages_posted:06d}"

    async def _response_url(self, request: Request) -> Response:
        await self._record(request, "response_url")
        return Response("ok")

    async def _download(self, request: Request) -> Response:
        await self._record(request, "file")
        found = self.files.get(request.path_params["fid"])
        if found is None or request.headers.get("authorization") != "Bearer xoxb-test":
            return Response("no", 404)
        return Response(found[1], media_type="message/rfc822")


def signed_headers(
    secret: str, body: bytes, *, timestamp: int | None = None, **extra: str
) -> dict[str, str]:
    """Slack's request signature (v0), computed as Slack documents it."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + ts.encode() + b":" + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}
    headers.update({k.replace("_", "-"): v for k, v in extra.items()})
    return headers


def form(fields: dict[str, Any]) -> bytes:
    return urlencode(fields).encode()


def interaction(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


# -- the workspace the fake serves ------------------------------------------------------------

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
AGENT, CUSTOMER, GRID = "U_AGENT", "U_CUST", "U_GRID"
INTERNAL, ACME, UNMAPPED, DM = "C_INTERNAL", "C_ACME", "C_UNMAPPED", "D_AGENT"


def default_users() -> dict[str, dict[str, Any]]:
    return {
        AGENT: {"id": AGENT, "team_id": HOME_TEAM, "name": "agent", "locale": "en-US"},
        CUSTOMER: {
            "id": CUSTOMER,
            "team_id": "T_CUSTOMER",
            "name": "kunde",
            "is_stranger": True,
            "locale": "nb-NO",
        },
    }


def default_channels() -> dict[str, dict[str, Any]]:
    return {
        INTERNAL: {"id": INTERNAL, "is_channel": True, "is_shared": False},
        ACME: {"id": ACME, "is_channel": True, "is_shared": True, "is_ext_shared": True},
        UNMAPPED: {"id": UNMAPPED, "is_channel": True, "is_shared": True, "is_ext_shared": True},
        DM: {"id": DM, "is_im": True},
    }
