"""A second surface beside Slack: `POST /api/ask` with a bearer token, answering as the CLI's
`whymail ask --json` does. It only translates: JSON in → a conversation request; the reply's
diagnoses → the same JSON objects, one per answer.

Body: `{"text": "...", "locale": "nb", "audience": "agent"|"customer", "tenant": "acme"}`
(only `text` is needed). A customer answer needs a tenant, as in Slack (fail closed). The
token is `WHYMAIL_API_TOKEN`; without one the endpoint refuses every request.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from typing import Any

from bot.conversation import AGENT, CUSTOMER, Asker, Conversation, Request

#: A question is a few hundred characters; nothing useful needs more.
MAX_BODY_BYTES = 65_536


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def authorize(header: str | None, token: str | None) -> None:
    if not token:
        raise ApiError(503, "the ask API is off: set WHYMAIL_API_TOKEN to turn it on")
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip(), token):
        raise ApiError(401, "a valid bearer token is required")


def read_request(body: bytes) -> Request:
    try:
        payload: Any = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "the body must be a JSON object") from None
    if not isinstance(payload, Mapping):
        raise ApiError(400, "the body must be a JSON object")
    text, locale, audience, tenant = (
        payload.get(k) for k in ("text", "locale", "audience", "tenant")
    )
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "`text` must be an address, a dispatch id or a question")
    if audience not in (None, AGENT, CUSTOMER):
        raise ApiError(400, "`audience` must be agent or customer")
    for name, value in (("locale", locale), ("tenant", tenant)):
        if value is not None and not isinstance(value, str):
            raise ApiError(400, f"`{name}` must be text")
    if audience == CUSTOMER and not tenant:
        raise ApiError(400, "a customer answer needs the customer's `tenant`")
    asker = Asker("api", audience or AGENT, tenant, True)
    return Request(text, asker, locale=locale)


async def ask(conversation: Conversation, request: Request) -> list[dict[str, Any]]:
    reply = await conversation.ask(request)
    if not reply.parts:
        raise ApiError(422, "nothing to look up: give an email address or a dispatch id")
    return [d.to_json() for d in reply.diagnoses]
