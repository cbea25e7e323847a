"""How Slack reaches the app: an ASGI endpoint for HTTP mode, a WebSocket for Socket Mode.

Both hand Slack's requests to the same `AsyncApp`; only HTTP mode verifies signatures (Socket
Mode's connection is authenticated by the app-level token instead).

Over HTTP anyone can post, so the body is read with a cap and its signature checked before
Bolt parses anything: Bolt's own adapter reads a body of any size and parses it before it
verifies, which let an unsigned 256 MiB post grow the process by 800 MiB and a 10-byte
invalid one end in a 500 and a traceback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from slack_bolt.adapter.starlette.async_handler import to_async_bolt_request, to_starlette_response
from slack_sdk.signature import SignatureVerifier
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from bot.asgi import capped_body
from bot.slack.app import WhymailSlack

#: Slack's requests are a few KiB (a modal's submission a few tens); nothing it sends comes near.
MAX_BODY_BYTES = 1_048_576


def slack_endpoint(bot: WhymailSlack) -> Callable[[Request], Awaitable[Response]]:
    secret = bot.settings.signing_secret
    verifier = SignatureVerifier(secret) if secret else None

    async def slack_events(request: Request) -> Response:
        acknowledged = bot.inflight.acking()
        try:
            body = await capped_body(request, MAX_BODY_BYTES)
            if body is None:
                return PlainTextResponse(f"body larger than {MAX_BODY_BYTES} bytes", 413)
            if verifier is not None and not _signed(verifier, body, request):
                return PlainTextResponse("invalid or missing Slack signature", 401)
            try:
                bolt_request = to_async_bolt_request(request, body)
            except ValueError:  # not UTF-8, or JSON Slack would never send
                return PlainTextResponse("unreadable body", 400)
            return to_starlette_response(await bot.app.async_dispatch(bolt_request))
        finally:
            acknowledged()

    return slack_events


def _signed(verifier: SignatureVerifier, body: bytes, request: Request) -> bool:
    timestamp = request.headers.get("x-slack-request-timestamp", "")
    signature = request.headers.get("x-slack-signature", "")
    try:
        return verifier.is_valid(body, timestamp, signature)
    except ValueError:  # a timestamp that is not a number
        return False


async def run_socket_mode(bot: WhymailSlack, app_token: str, stop: asyncio.Event) -> None:
    """Serve Slack over Socket Mode until `stop` is set (development: no public URL needed)."""
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    handler = AsyncSocketModeHandler(bot.app, app_token)
    await handler.connect_async()  # type: ignore[no-untyped-call]
    try:
        await stop.wait()
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
