"""What the HTTP surfaces (Slack events, ESP webhooks, the ask API) share about requests."""

from __future__ import annotations

from starlette.requests import Request


async def capped_body(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it grows past `limit`: the rest is never read, so no
    sender, signed or not, can make a request cost more memory than the limit."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)
