"""SendGrid Signed Event Webhook: ECDSA P-256 / SHA-256 over `timestamp + raw body`."""

from __future__ import annotations

import base64
import binascii
import functools

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bot.sources.verify import Refused, check_fresh

SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"


@functools.lru_cache(maxsize=8)
def load_public_key(encoded: str) -> ec.EllipticCurvePublicKey:
    """The base64 (DER, SubjectPublicKeyInfo) key SendGrid shows; parsed once per key."""
    try:
        key = serialization.load_der_public_key(base64.b64decode(encoded))
    except (binascii.Error, ValueError) as exc:
        raise Refused(f"SENDGRID_WEBHOOK_PUBLIC_KEY is not a valid key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise Refused("SENDGRID_WEBHOOK_PUBLIC_KEY is not an elliptic-curve key")
    return key


def verify(
    public_key: str | None,
    signature: str | None,
    timestamp: str | None,
    body: bytes,
    *,
    now: float | None,
    window: float,
) -> None:
    """`now=None` skips the freshness check (only for fixed test vectors)."""
    if not public_key:
        raise Refused("SENDGRID_WEBHOOK_PUBLIC_KEY is not set; refusing unsigned events")
    if not signature or not timestamp:
        raise Refused("missing X-Twilio-Email-Event-Webhook-Signature or -Timestamp header")
    try:
        der = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise Refused("the signature header is not base64") from None
    try:
        load_public_key(public_key).verify(
            der, timestamp.encode() + body, ec.ECDSA(hashes.SHA256())
        )
    except (InvalidSignature, ValueError):
        raise Refused("bad signature") from None
    if now is not None:
        try:
            signed_at = float(timestamp)
        except ValueError:
            raise Refused("the timestamp header is not a number") from None
        check_fresh(signed_at, now, window)
