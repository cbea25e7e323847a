"""State that outlives one request: signed button state, and the events already handled.

Any instance must be able to finish what another started, so a button carries everything its
press needs (the question, locale, audience, tenant, channel, answers so far) in its `value`,
signed with a key derived from the signing secret: Slack echoes the value back, nobody can
alter it, and no instance needs a shared session table. Values are versioned, time-limited and
size-bounded (a button value holds 2,000 characters, `private_metadata` 3,000).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

VERSION = "1"
MAX_VALUE_CHARS = 2000
#: Long enough for a message someone scrolls back to; short enough that old grants lapse.
MAX_AGE_SECONDS = 7 * 24 * 3600
_MAC_BYTES = 16


class BadState(ValueError):
    """A value that was not signed by us, was altered, or has expired."""


class Signer:
    def __init__(self, secret: str, *, purpose: str = "whymail-state") -> None:
        # A derived key: a leaked button value never helps forge a Slack request signature.
        self._key = hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()

    def sign(self, data: Mapping[str, Any], *, limit: int = MAX_VALUE_CHARS) -> str:
        payload = dict(data)
        payload["t"] = int(time.time())
        raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        body = _b64(raw)
        value = f"{VERSION}.{body}.{_b64(self._mac(body))}"
        if len(value) > limit:
            raise ValueError(f"state of {len(value)} chars exceeds {limit}")
        return value

    def verify(self, value: str, *, max_age: float = MAX_AGE_SECONDS) -> dict[str, Any]:
        try:
            version, body, mac = value.split(".")
        except (AttributeError, ValueError):
            raise BadState("malformed") from None
        if version != VERSION or not hmac.compare_digest(_b64(self._mac(body)), mac):
            raise BadState("bad signature")
        try:
            data = json.loads(_unb64(body))
        except ValueError:
            raise BadState("malformed") from None
        if not isinstance(data, dict) or not isinstance(data.get("t"), int):
            raise BadState("malformed")
        if abs(time.time() - data["t"]) > max_age:
            raise BadState("expired")
        return data

    def _mac(self, body: str) -> bytes:
        return hmac.new(self._key, body.encode(), hashlib.sha256).digest()[:_MAC_BYTES]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SeenEvents:
    """Event ids this process has handled, so a redelivery of the same event does no work twice.

    Across instances no shared table is needed (see `bot.slack.app` on retries); this catches
    what the retry headers cannot show, such as Socket Mode redeliveries.
    """

    def __init__(self, size: int = 5000) -> None:
        self._size = size
        self._seen: OrderedDict[str, None] = OrderedDict()

    def first_time(self, key: str) -> bool:
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        while len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return True
