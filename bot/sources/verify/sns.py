"""Amazon SNS message signatures (SignatureVersion 1: SHA1, 2: SHA256, RSA PKCS#1 v1.5).

Only certificates from allowed hosts over https are fetched (else anyone could sign with a
certificate they host), and only topics on the allow-list are accepted (else anyone's SNS topic
could post to us, correctly signed by Amazon). Certificates are cached by URL, and both their
download time and size are bounded.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bot.model import parse_timestamp
from bot.sources.verify import Refused, Unavailable, check_fresh

_NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_SUBSCRIPTION_KEYS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}

MAX_CERT_BYTES = 16_384
CERT_TIMEOUT = 5.0


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """`Key\\nValue\\n` for the signed keys of this message type, in AWS's order."""
    keys = _NOTIFICATION_KEYS if message.get("Type") == "Notification" else _SUBSCRIPTION_KEYS
    parts = []
    for key in keys:
        value = message.get(key)
        if value is None:
            continue
        parts.append(f"{key}\n{value}\n")
    return "".join(parts).encode()


def host_allowed(url: str, patterns: Iterable[str]) -> bool:
    """https, and a host matching a pattern where `*` stands for one DNS label."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host:
        return False
    return any(_pattern(p).fullmatch(host) for p in patterns)


def _pattern(pattern: str) -> re.Pattern[str]:
    labels = [r"[a-z0-9-]+" if label == "*" else re.escape(label) for label in pattern.split(".")]
    return re.compile(r"\.".join(labels), re.IGNORECASE)


def check_topic(message: Mapping[str, Any], topics: Iterable[str]) -> None:
    allowed = tuple(topics)
    if not allowed:
        raise Refused("SES_SNS_TOPIC_ARNS is not set; refusing SNS messages from any topic")
    if message.get("TopicArn") not in allowed:
        raise Refused(f"topic {message.get('TopicArn')!r} is not in SES_SNS_TOPIC_ARNS")


def verify_signature(message: Mapping[str, Any], certificate: x509.Certificate) -> None:
    algorithm = _HASHES.get(str(message.get("SignatureVersion")))
    if algorithm is None:
        raise Refused(f"unsupported SignatureVersion {message.get('SignatureVersion')!r}")
    try:
        signature = base64.b64decode(str(message.get("Signature") or ""), validate=True)
    except (binascii.Error, ValueError):
        raise Refused("the Signature is not base64") from None
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise Refused("the signing certificate does not hold an RSA key")
    try:
        key.verify(signature, string_to_sign(message), padding.PKCS1v15(), algorithm())
    except (InvalidSignature, ValueError):
        raise Refused("bad signature") from None


def check_timestamp(message: Mapping[str, Any], now: float, window: float) -> None:
    try:
        signed_at = parse_timestamp(message.get("Timestamp")).timestamp()
    except (ValueError, OverflowError):
        raise Refused("the SNS Timestamp is missing or malformed") from None
    check_fresh(signed_at, now, window)


class CertificateCache:
    """Signing certificates by URL: fetched once, bounded in time and size, kept for a day."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        hosts: Iterable[str],
        *,
        max_entries: int = 32,
        ttl: float = 86_400.0,
    ) -> None:
        self._http = http
        self._hosts = tuple(hosts)
        self._max = max_entries
        self._ttl = ttl
        self._certs: OrderedDict[str, tuple[float, x509.Certificate]] = OrderedDict()
        self._lock = asyncio.Lock()

    async def get(self, url: str) -> x509.Certificate:
        if not host_allowed(url, self._hosts) or not urlsplit(url).path.endswith(".pem"):
            raise Refused(f"SigningCertURL {url!r} is not an allowed SNS certificate URL")
        cached = self._certs.get(url)
        if cached and cached[0] > time.monotonic():
            self._certs.move_to_end(url)
            return cached[1]
        async with self._lock:
            cached = self._certs.get(url)
            if cached and cached[0] > time.monotonic():
                return cached[1]
            certificate = await self._fetch(url)
            self._certs[url] = (time.monotonic() + self._ttl, certificate)
            while len(self._certs) > self._max:
                self._certs.popitem(last=False)
            return certificate

    async def _fetch(self, url: str) -> x509.Certificate:
        try:
            async with asyncio.timeout(CERT_TIMEOUT):
                async with self._http.stream("GET", url, follow_redirects=False) as response:
                    if response.status_code >= 500:
                        raise Unavailable(f"SigningCertURL answered HTTP {response.status_code}")
                    if response.status_code != 200:
                        raise Refused(f"SigningCertURL answered HTTP {response.status_code}")
                    body = b""
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > MAX_CERT_BYTES:
                            raise Refused(f"SigningCertURL sent more than {MAX_CERT_BYTES} bytes")
        except (TimeoutError, httpx.HTTPError) as exc:
            raise Unavailable(f"cannot fetch the signing certificate: {exc!r}") from None
        try:
            certificate = x509.load_pem_x509_certificate(body)
        except ValueError:
            raise Refused("SigningCertURL did not return a PEM certificate") from None
        now = time.time()
        if not (
            certificate.not_valid_before_utc.timestamp()
            <= now
            <= certificate.not_valid_after_utc.timestamp()
        ):
            raise Refused("the signing certificate is expired or not yet valid")
        return certificate
