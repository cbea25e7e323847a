"""`POST /webhooks/{provider}`: check it is the ESP, normalize, store, and only then say 2xx.

The web layer hands over the raw body and headers; this module owns everything after that, so
the same checks run under any server and in tests without one. Statuses are chosen for the
ESPs' retry rules: 2xx once stored (duplicates too: they are already stored), 401 when the
credentials or signature are missing, wrong or stale, 400 for payloads we cannot read (a retry
would not help), 413 for oversized bodies, and 503 when storing failed or a signing certificate
could not be fetched (a retry will help, and every ESP retries 5xx).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import httpx

from bot import metrics
from bot.model import DeliveryEvent
from bot.sources.esps import PROVIDERS
from bot.sources.espsettings import EspSettings
from bot.sources.payload import PayloadError
from bot.sources.provider import Providers, WebhookContext, WebhookHandler
from bot.sources.store import Store
from bot.sources.verify import Acknowledged, Refused, Unavailable
from bot.sources.writer import GroupCommitWriter, OnCommit

log = logging.getLogger(__name__)

#: How long an HTTP call a webhook makes (confirming an SNS subscription) may take.
HTTP_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class WebhookResponse:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _metrics(provider: str, outcome: str) -> None:
    """One count per request. Answers that store nothing new (duplicates, SNS subscription
    confirmations, SES's "validated" notice) count as `duplicate`."""
    metrics.webhook_delivery(provider, outcome)


class WebhookReceiver:
    """One per process: it owns the group-commit writer that all webhook requests share."""

    def __init__(
        self,
        store: Store,
        esp: EspSettings,
        http: httpx.AsyncClient | None = None,
        *,
        clock: Callable[[], float] = time.time,
        providers: Providers = PROVIDERS,
        on_commit: OnCommit | None = None,
    ) -> None:
        """`on_commit` hears of committed events after their requests are answered: alerts
        start there, so they never delay or fail a webhook's reply."""
        self._esp = esp
        self._providers = providers
        self._writer = GroupCommitWriter(store, on_commit=on_commit)
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=HTTP_TIMEOUT)
        context = WebhookContext(self._http, clock, esp.webhook_replay_window, tokens=store)
        self._handlers: dict[str, WebhookHandler] = {
            name: provider.webhook(esp.of(provider), context)
            for name, provider in providers.items()
        }

    @property
    def max_body_bytes(self) -> int:
        """The web layer may stop reading a body past this and answer 413 itself."""
        return self._esp.webhook_max_bytes

    @property
    def writer(self) -> GroupCommitWriter:
        return self._writer

    async def aclose(self) -> None:
        await self._writer.close()
        if self._owns_http:
            await self._http.aclose()

    async def receive(
        self, provider: str, headers: Mapping[str, str], body: bytes
    ) -> WebhookResponse:
        handler = self._handlers.get(provider)
        if handler is None:
            known = ", ".join(self._handlers)
            return _answer(404, f"no webhook for provider {provider!r}; use one of: {known}")
        if len(body) > self._esp.webhook_max_bytes:
            _metrics(provider, "invalid")
            return _answer(413, f"body larger than {self._esp.webhook_max_bytes} bytes")
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            events: Sequence[DeliveryEvent] = await handler(lowered, body)
        except Refused as exc:
            log.warning("refused a %s webhook: %s", provider, exc)
            _metrics(provider, "unauthorized")
            challenge = self._providers[provider].challenge
            return _answer(401, str(exc), {"WWW-Authenticate": challenge} if challenge else {})
        except Unavailable as exc:
            log.warning("cannot check a %s webhook now: %s", provider, exc)
            _metrics(provider, "error")
            return _answer(503, str(exc), {"Retry-After": "60"})
        except PayloadError as exc:
            _metrics(provider, "invalid")
            return _answer(400, f"unreadable {provider} payload: {exc}")
        except Acknowledged as done:
            _metrics(provider, "duplicate")
            return _answer(200, done.message, ok=True)
        except Exception:
            # Our bug, not the ESP's: 500 makes it retry (a 4xx would make Postmark drop it).
            log.exception("reading a %s webhook failed", provider)
            _metrics(provider, "error")
            return _answer(500, "internal error while reading the payload; it will be retried")
        try:
            fresh = await self._writer.write(events)
        except Exception as exc:
            _metrics(provider, "error")
            return _answer(503, f"could not store the events, retry later: {type(exc).__name__}")
        _metrics(provider, "stored" if fresh or not events else "duplicate")
        body = b'{"ok": true, "events": %d, "new": %d}' % (len(events), fresh)
        return WebhookResponse(200, body, {"Content-Type": "application/json"})


def _answer(
    status: int, message: str, headers: dict[str, str] | None = None, *, ok: bool = False
) -> WebhookResponse:
    key = "message" if ok else "error"
    return WebhookResponse(
        status,
        json.dumps({"ok": ok, key: message}).encode(),
        {"Content-Type": "application/json", **(headers or {})},
    )
