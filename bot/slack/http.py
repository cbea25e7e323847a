"""How Slack reaches the app: an ASGI endpoint for HTTP mode, a WebSocket for Socket Mode.

Both hand Slack's requests to the same `AsyncApp`; only HTTP mode verifies signatures (Socket
Mode's connection is authenticated by the app-level token instead).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from starlette.requests import Request
from starlette.responses import Response

from bot.slack.app import WhymailSlack


def slack_endpoint(bot: WhymailSlack) -> Callable[[Request], Awaitable[Response]]:
    handler = AsyncSlackRequestHandler(bot.app)

    async def slack_events(request: Request) -> Response:
        acknowledged = bot.inflight.acking()
        try:
            return await handler.handle(request)
        finally:
            acknowledged()

    return slack_events


async def run_socket_mode(bot: WhymailSlack, app_token: str, stop: asyncio.Event) -> None:
    """Serve Slack over Socket Mode until `stop` is set (development: no public URL needed)."""
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    handler = AsyncSocketModeHandler(bot.app, app_token)
    await handler.connect_async()  # type: ignore[no-untyped-call]
    try:
        await stop.wait()
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
