"""The configured ESP accounts, asked together: evidence the store lacks, and reactivation.

The store answers first; `EspSources.lookup` fills gaps (mail sent before the webhooks existed,
a webhook that never came) and never holds a diagnosis up: every provider is asked at once,
under one deadline, and a provider that fails or is late becomes a note naming what is missing
rather than an error. Reactivation is logged on the `whymail.audit` logger, who and what.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from bot.model import DeliveryEvent, Unanswered
from bot.sources.api.base import EspApiError, ESPClient, ReactivationResult, Suppression
from bot.sources.esps import PROVIDERS
from bot.sources.espsettings import EspSettings
from bot.sources.provider import Providers

__all__ = [
    "ESPClient",
    "EspApiError",
    "EspLookup",
    "EspSources",
    "ReactivationResult",
    "Suppression",
    "build_clients",
]

audit = logging.getLogger("whymail.audit")


def build_clients(
    esp: EspSettings, http: httpx.AsyncClient, providers: Providers = PROVIDERS
) -> dict[str, ESPClient]:
    """A client for each provider whose API credentials are set."""
    clients: dict[str, ESPClient] = {}
    for provider in providers.values():
        client = provider.client(esp.of(provider), http)
        if client is not None:
            clients[provider.name] = client
    return clients


@dataclass(frozen=True, slots=True)
class EspLookup:
    events: tuple[DeliveryEvent, ...] = ()
    suppressions: tuple[Suppression, ...] = ()
    consulted: tuple[str, ...] = ()
    #: Providers that did not answer (in time), with why: the answer is partial without them.
    missing: Mapping[str, str] = field(default_factory=dict)

    @property
    def notes(self) -> tuple[Unanswered, ...]:
        return tuple(Unanswered(PROVIDERS.display(p), why) for p, why in self.missing.items())


class _OpenedOnFirstRequest(httpx.AsyncBaseTransport):
    """httpx's own transport, made when the first request is sent.

    Making it loads the CA bundle into a TLS context, a tenth of a second: a one-shot
    `whymail ask` that asks no ESP API (none configured, or the answer needs none) skips it.
    """

    def __init__(self) -> None:
        self._transport: httpx.AsyncHTTPTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._transport is None:
            self._transport = httpx.AsyncHTTPTransport()
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()


class EspSources:
    def __init__(
        self,
        clients: Mapping[str, ESPClient],
        *,
        deadline: float = 8.0,
        http: httpx.AsyncClient | None = None,
        cache_seconds: float = 300.0,
    ) -> None:
        self.clients = dict(clients)
        self._deadline = deadline
        self._http = http
        self._cache_seconds = cache_seconds
        #: address → (expires, lookup): agents ask again and again while they help someone,
        #: and Brevo's events endpoint allows 300 requests an hour.
        self._cache: OrderedDict[str, tuple[float, EspLookup]] = OrderedDict()

    @classmethod
    def from_settings(cls, esp: EspSettings, providers: Providers = PROVIDERS) -> EspSources:
        """Owns its HTTP client (close with `aclose`)."""
        http = httpx.AsyncClient(
            timeout=10.0, headers={"User-Agent": "whymail"}, transport=_OpenedOnFirstRequest()
        )
        return cls(build_clients(esp, http, providers), deadline=esp.esp_deadline, http=http)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    async def lookup(self, address: str) -> EspLookup:
        """Every configured provider's events and suppression for `address`, within the
        deadline; whatever is late or failed is named in `missing`."""
        if not self.clients:
            return EspLookup()
        cached = self._cache.get(address)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        tasks = {
            name: asyncio.ensure_future(self._ask(client, address))
            for name, client in self.clients.items()
        }
        await asyncio.wait(tasks.values(), timeout=self._deadline)
        events: list[DeliveryEvent] = []
        suppressions: list[Suppression] = []
        consulted: list[str] = []
        missing: dict[str, str] = {}
        for name, task in tasks.items():
            if not task.done():
                task.cancel()
                missing[name] = f"no answer within the {self._deadline:g} s deadline"
                continue
            error = task.exception()
            if isinstance(error, EspApiError):
                missing[name] = error.message
                continue
            if error is not None:
                missing[name] = f"{type(error).__name__}: {error}"
                continue
            found, suppression = task.result()
            consulted.append(name)
            events += found
            if suppression is not None:
                suppressions.append(suppression)
        events.sort(key=lambda e: e.timestamp)
        result = EspLookup(tuple(events), tuple(suppressions), tuple(consulted), missing)
        if not missing:  # a partial answer is not kept: the next question asks again
            self._cache[address] = (time.monotonic() + self._cache_seconds, result)
            while len(self._cache) > 1000:
                self._cache.popitem(last=False)
        return result

    @staticmethod
    async def _ask(
        client: ESPClient, address: str
    ) -> tuple[list[DeliveryEvent], Suppression | None]:
        events, suppression = await asyncio.gather(
            client.events_for_recipient(address), client.suppression(address)
        )
        return events, suppression

    async def reactivate(self, provider: str, address: str, actor: str) -> ReactivationResult:
        """Take `address` off `provider`'s suppression lists. Only for agents: the caller (the
        Slack layer) decides who may; this logs every attempt, who and what, and its outcome."""
        client = self.clients.get(provider)
        if client is None:
            audit.warning(
                "reactivation refused: actor=%r provider=%r address=%r: not configured",
                actor,
                provider,
                address,
            )
            return ReactivationResult(
                provider, address, False, (), f"{provider} API is not configured"
            )
        audit.info(
            "reactivation requested: actor=%r provider=%s address=%r", actor, provider, address
        )
        try:
            result = await client.reactivate(address, actor)
            self._cache.pop(address, None)
        except EspApiError as exc:
            audit.warning(
                "reactivation failed: actor=%r provider=%s address=%r: %s",
                actor,
                provider,
                address,
                exc.message,
            )
            return ReactivationResult(provider, address, False, (), exc.message)
        audit.info(
            "reactivation done: actor=%r provider=%s address=%r ok=%s removed_from=%s: %s",
            actor,
            provider,
            address,
            result.ok,
            ",".join(result.removed_from) or "-",
            result.message,
        )
        return result
