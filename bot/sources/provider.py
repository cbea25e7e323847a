"""One record per ESP: everything whymail does with a provider, declared in one place.

Every registry is derived from the list of records in `bot.sources.esps`: the webhook routes,
`whymail ingest --provider`, the API clients, the names agents read, the settings keys and the
hints that tell one provider's payload from another's. Adding an ESP is one package under
`bot/sources/esps/` and one line in that list (opsdroid's one record per plug-in).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

import httpx

from bot.model import DeliveryEvent
from bot.sources.api.base import ESPClient
from bot.sources.payload import Envelope

S = TypeVar("S")

#: A webhook body's verification and reading: headers (lower-cased names) and raw body in, the
#: events out; raises `verify.Refused`, `verify.Unavailable`, `verify.Acknowledged` or
#: `payload.PayloadError`, which the receiver turns into the HTTP answer.
WebhookHandler = Callable[[Mapping[str, str], bytes], Awaitable[list[DeliveryEvent]]]


class SettingsError(ValueError):
    """A provider setting that cannot be used; the message names the environment variable."""


class TokenLedger(Protocol):
    """Signature tokens seen within the replay window, shared by every instance (the store)."""

    async def claim_token(
        self, scope: str, token: str, fingerprint: str, expires: datetime
    ) -> bool:
        """True when `token` is new in `scope` (or its claim has expired), or was claimed with
        this same `fingerprint`; False when it came before with another body."""
        ...


@dataclass(frozen=True, slots=True)
class WebhookContext:
    """What every provider's webhook handler may use, shared by all of them."""

    http: httpx.AsyncClient
    clock: Callable[[], float]
    #: Seconds a signed timestamp may be old (and, for skew, 5 minutes in the future).
    replay_window: float
    tokens: TokenLedger


@dataclass(frozen=True, slots=True)
class Provider(Generic[S]):
    """An ESP. `S` is its own settings (credentials, webhook secrets, API endpoint)."""

    name: str
    #: As an agent reads it in a note: "Amazon SES API did not answer".
    display: str
    #: Its settings, a frozen dataclass: a field's name is the key in the config file and,
    #: upper-cased, the environment variable; its default says its type (see `read_settings`).
    settings: type[S]
    #: One event object as the ESP sends it (an element of a batch) → events.
    normalize: Callable[[Mapping[str, Any]], list[DeliveryEvent]]
    #: The subject and sender a stored payload tells of, where it tells them.
    envelope: Callable[[Mapping[str, Any]], Envelope]
    #: Built once per receiver, so a handler can keep state (SNS signing certificates).
    webhook: Callable[[S, WebhookContext], WebhookHandler]
    #: The API client when the settings hold its credentials, else None.
    client: Callable[[S, httpx.AsyncClient], ESPClient | None]
    #: `WWW-Authenticate` for a refused webhook, for providers that authenticate with it.
    challenge: str | None = None
    #: Top-level keys only this provider's payloads carry, to name the owner of a stray line.
    marks: tuple[str, ...] = ()
    #: Whether the provider lets an agent lift the suppression this event speaks of.
    can_reactivate: Callable[[DeliveryEvent], bool] = lambda _: True
    #: Rules of the provider's own that its settings must meet, after they are read; raises
    #: SettingsError naming the variable.
    checked: Callable[[S], S] = lambda settings: settings

    @property
    def env(self) -> dict[str, str]:
        """Settings field → environment variable."""
        fields = dataclasses.fields(self.settings)  # type: ignore[arg-type]
        return {spec.name: spec.name.upper() for spec in fields}

    def read(self, values: Mapping[str, Any]) -> S:
        """Its settings from config values (field names; empty values count as unset)."""
        return self.checked(read_settings(self.settings, self.env, values))


class Providers(Mapping[str, "Provider[Any]"]):
    """The registered providers by name, in registration order."""

    def __init__(self, providers: Iterable[Provider[Any]]) -> None:
        self._by_name: dict[str, Provider[Any]] = {}
        for provider in providers:
            if provider.name in self._by_name:
                raise ValueError(f"provider {provider.name!r} is registered twice")
            self._by_name[provider.name] = provider

    def __getitem__(self, name: str) -> Provider[Any]:
        return self._by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def with_(self, *more: Provider[Any]) -> Providers:
        """These and `more`: how a deployment or a test adds an ESP of its own."""
        return Providers([*self._by_name.values(), *more])

    def display(self, name: str) -> str:
        provider = self._by_name.get(name)
        return provider.display if provider else name

    def owner(self, payload: Mapping[str, Any]) -> str | None:
        """The provider whose payloads carry one of `payload`'s top-level keys, if any."""
        for provider in self._by_name.values():
            if any(mark in payload for mark in provider.marks):
                return provider.name
        return None


def read_settings(cls: type[S], env: Mapping[str, str], values: Mapping[str, Any]) -> S:
    """A provider's settings dataclass from config values, typed by each field's default: a
    tuple default takes a comma-separated list, a number default a positive number, anything
    else text. Providers with rules of their own check them after this."""
    kwargs: dict[str, Any] = {}
    for spec in dataclasses.fields(cls):  # type: ignore[arg-type]
        value = values.get(spec.name)
        if value in (None, "") or spec.name not in env:
            continue
        default = spec.default
        if isinstance(default, tuple):
            items = value if isinstance(value, list | tuple) else str(value).split(",")
            kwargs[spec.name] = tuple(str(i).strip() for i in items if str(i).strip())
        elif isinstance(default, int | float) and not isinstance(default, bool):
            kwargs[spec.name] = positive(env[spec.name], value, type(default))
        else:
            kwargs[spec.name] = str(value)
    return cls(**kwargs)


def positive(name: str, value: Any, kind: type[float] | type[int]) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{name} must be a number") from None
    if number <= 0:
        raise SettingsError(f"{name} must be positive")
    return number
