"""One HTTP path for every ESP client: rate limits, timeouts, and retries that honour the
provider's Retry-After (or its rate-limit reset header) on 429 and 5xx, within a cap."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from bot.sources.api.base import EspApiError

#: Statuses worth another try: rate limited, or the provider's own trouble.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class RateLimiter:
    """A token bucket: `rate` requests per second on average, `burst` at once."""

    def __init__(self, rate: float, burst: int = 1) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
                self._updated = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self._rate)


class ApiHttp:
    def __init__(
        self,
        provider: str,
        client: httpx.AsyncClient,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        limiter: RateLimiter | None = None,
        attempts: int = 3,
        max_wait: float = 5.0,
        timeout: float = 10.0,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self._client = client
        self._headers = {"Accept": "application/json", **(headers or {})}
        self._auth = auth
        self._limiter = limiter
        self._attempts = attempts
        self._max_wait = max_wait
        self._timeout = timeout

    def same_origin(self, url: str) -> bool:
        """Paging links are followed only back to the provider (never wherever they point)."""
        a, b = urlsplit(url), urlsplit(self.base_url)
        return (a.scheme, a.netloc) == (b.scheme, b.netloc)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        limiter: RateLimiter | None = None,
        accept: frozenset[int] = frozenset({200, 201, 202, 204, 404}),
    ) -> httpx.Response:
        """The response, once its status is in `accept`; else EspApiError, after retries."""
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        last = "no attempt made"
        for attempt in range(self._attempts):
            await (limiter or self._limiter or _NO_LIMIT).acquire()
            try:
                response = await self._client.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    headers={**self._headers, **(headers or {})},
                    auth=self._auth or httpx.USE_CLIENT_DEFAULT,
                    timeout=self._timeout,
                )
            except httpx.TimeoutException:
                last = f"no answer within {self._timeout:g} s"
                wait = _backoff(attempt)
            except httpx.TransportError as exc:
                last = f"cannot connect ({type(exc).__name__})"
                wait = _backoff(attempt)
            else:
                if response.status_code in accept:
                    return response
                last = f"HTTP {response.status_code}{_error_text(response)}"
                if response.status_code not in RETRY_STATUSES:
                    raise EspApiError(self.provider, last)
                wait = _retry_after(response, attempt)
                if wait > self._max_wait:
                    raise EspApiError(self.provider, f"{last}; asked to wait {wait:.0f} s")
            if attempt + 1 < self._attempts:
                await asyncio.sleep(wait)
        raise EspApiError(self.provider, f"{last} (after {self._attempts} attempts)")


class _NoLimit(RateLimiter):
    async def acquire(self) -> None:
        return None


_NO_LIMIT = _NoLimit(1.0)


def _backoff(attempt: int) -> float:
    return float(min(0.2 * 2**attempt, 2.0))


def _retry_after(response: httpx.Response, attempt: int) -> float:
    """Retry-After (seconds or an HTTP date); else a rate-limit reset header; else backoff."""
    value = response.headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                return max(0.0, when.timestamp() - time.time())
    reset = response.headers.get("x-ratelimit-reset")  # SendGrid: epoch seconds
    if reset and reset.isdigit():
        return max(0.0, int(reset) - time.time())
    reset = response.headers.get("x-sib-ratelimit-reset")  # Brevo: seconds to wait
    if reset:
        try:
            return max(0.0, float(reset))
        except ValueError:
            pass
    return _backoff(attempt)


def _error_text(response: httpx.Response) -> str:
    """The provider's own error message, briefly, when it sent one."""
    try:
        data = response.json()
    except ValueError:
        return ""
    message: Any = None
    if isinstance(data, dict):
        message = data.get("Message") or data.get("message")
        errors = data.get("errors")
        if not message and isinstance(errors, list) and errors and isinstance(errors[0], dict):
            message = errors[0].get("message")
    return f": {str(message)[:200]}" if message else ""
