"""Shared-secret checks for ESPs that do not sign (Postmark: Basic auth; Brevo: Bearer token)."""

from __future__ import annotations

import base64
import binascii
import hmac

from bot.sources.verify import Refused


def check_basic(authorization: str | None, user: str | None, password: str | None) -> None:
    if not user or not password:
        raise Refused("webhook credentials are not configured; refusing unauthenticated events")
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise Refused("missing Basic credentials")
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise Refused("malformed Basic credentials") from None
    expected = f"{user}:{password}".encode()
    if not hmac.compare_digest(given, expected):
        raise Refused("wrong credentials")


def check_bearer(authorization: str | None, token: str | None) -> None:
    if not token:
        raise Refused("webhook token is not configured; refusing unauthenticated events")
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise Refused("missing Bearer token")
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise Refused("wrong token")
