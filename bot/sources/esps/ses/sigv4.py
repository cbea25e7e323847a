"""AWS Signature Version 4 for the few SES v2 calls whymail makes (hmac + hashlib).

botocore's signer would do, but it brings 14 MB of service models for three URLs; its real
value, the credential chain (SSO, IMDS, profiles), is out of scope: whymail reads static keys
from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN. Verified against AWS's
published test suite vector (tests/test_esp_api.py).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Generator, Mapping
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, urlsplit

import httpx


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    access_key: str,
    secret_key: str,
    region: str,
    service: str,
    now: datetime,
    session_token: str | None = None,
) -> dict[str, str]:
    """The headers to add (X-Amz-Date, Authorization, and the token if any).

    `url`'s path must already be URI-encoded as it goes on the wire; query parameters are
    sorted and encoded here.
    """
    parts = urlsplit(url)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    extra = {"x-amz-date": amz_date}
    if session_token:
        extra["x-amz-security-token"] = session_token
    signed = {k.lower(): " ".join(v.strip().split()) for k, v in headers.items()}
    signed.update(extra)
    signed.setdefault("host", parts.netloc)
    names = sorted(signed)
    query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(_pairs(parts.query))
    )
    canonical = "\n".join(
        [
            method.upper(),
            # Every service but S3 encodes the (already encoded) path a second time.
            quote(parts.path or "/", safe="/~"),
            query,
            "".join(f"{n}:{signed[n]}\n" for n in names),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(f"AWS4{secret_key}".encode(), day)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    result = dict(extra)
    result["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return {("X-Amz-Date" if k == "x-amz-date" else k): v for k, v in result.items()}


def _pairs(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)


class SigV4Auth(httpx.Auth):
    """Signs each request as it leaves (so retries get a fresh date), over host and body."""

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        region: str,
        service: str,
        session_token: str | None = None,
    ) -> None:
        self._args = (access_key, secret_key, region, service, session_token)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        access_key, secret_key, region, service, token = self._args
        signed = {"host": request.headers["host"]}
        if "content-type" in request.headers:
            signed["content-type"] = request.headers["content-type"]
        request.headers.update(
            sign(
                request.method,
                str(request.url),
                signed,
                request.content,
                access_key=access_key,
                secret_key=secret_key,
                region=region,
                service=service,
                now=datetime.now(UTC),
                session_token=token,
            )
        )
        yield request
