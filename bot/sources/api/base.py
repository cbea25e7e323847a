"""What every ESP client offers, whatever the provider calls it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.model import DeliveryEvent


class EspApiError(Exception):
    """An ESP API did not answer usefully; the message is fit to show an agent."""

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.message = message


@dataclass(frozen=True, slots=True)
class Suppression:
    """An address on one or more of a provider's do-not-send lists."""

    provider: str
    address: str
    lists: tuple[str, ...]
    reason: str | None = None
    since: datetime | None = None
    can_reactivate: bool = True
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class ReactivationResult:
    provider: str
    address: str
    ok: bool
    removed_from: tuple[str, ...] = ()
    message: str = ""


class ESPClient(Protocol):
    """One provider account. Methods raise EspApiError when the provider cannot be asked."""

    provider: str

    async def events_for_recipient(self, address: str) -> list[DeliveryEvent]:
        """What the provider still remembers sending to `address` (its retention), oldest first."""
        ...

    async def suppression(self, address: str) -> Suppression | None: ...

    async def reactivate(self, address: str, actor: str) -> ReactivationResult:
        """Take `address` off the provider's suppression lists, where the provider allows it."""
        ...
