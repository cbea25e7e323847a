"""Mailgun: hex HMAC-SHA256 of `timestamp + token`, keyed with the webhook signing key."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from bot.sources.verify import Refused, check_fresh


def sign(signing_key: str, timestamp: str, token: str) -> str:
    digest = hmac.new(signing_key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256)
    return digest.hexdigest()


def verify(
    signing_key: str | None,
    signature: Mapping[str, Any],
    *,
    now: float,
    window: float,
) -> float:
    """`signature` is the webhook body's `signature` object: timestamp, token, signature.
    Returns when it was signed.

    Mailgun signs the timestamp and token only, never the body: a signature seen once could
    carry any body until it goes stale, so the caller must also refuse a token that comes again
    with another body (`TokenLedger`), as Mailgun's documentation asks.
    """
    if not signing_key:
        raise Refused("MAILGUN_WEBHOOK_SIGNING_KEY is not set; refusing unsigned events")
    timestamp, token, given = (signature.get(k) for k in ("timestamp", "token", "signature"))
    if not all(isinstance(v, str | int) and str(v) for v in (timestamp, token, given)):
        raise Refused("missing signature.timestamp, signature.token or signature.signature")
    expected = sign(signing_key, str(timestamp), str(token))
    if not hmac.compare_digest(expected.encode(), str(given).lower().encode()):
        raise Refused("bad signature")
    try:
        signed_at = float(str(timestamp))
    except ValueError:
        raise Refused("signature.timestamp is not a number") from None
    check_fresh(signed_at, now, window)
    return signed_at
