"""Small per-person memory every surface shares: the language someone chose, and their recent
lookups (Slack shows them on App Home). Kept in the store when it can hold small shared values,
so every instance sees the same; in this process's memory otherwise.

The stored scopes keep the names they were first written under (`slack-locale`,
`slack-recent`), so preferences survive upgrades.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Lookup:
    """One line of a user's history on App Home."""

    text: str
    verdict: str
    at: float


@runtime_checkable
class KeyValueStore(Protocol):
    """What a store offers when it can keep small shared values for every instance."""

    async def kv_get(self, scope: str, key: str) -> str | None: ...

    async def kv_put(self, scope: str, key: str, value: str) -> None: ...


class Prefs(Protocol):
    async def locale(self, user: str) -> str | None: ...

    async def set_locale(self, user: str, locale: str) -> None: ...

    async def recent(self, user: str) -> list[Lookup]: ...

    async def remember(self, user: str, lookup: Lookup) -> None: ...


RECENT = 10


@dataclass
class MemoryPrefs:
    """In this process only: right for Socket Mode (one instance) and tests.

    Several HTTP instances share `StorePrefs` instead (both shipped stores offer the `kv` table).
    """

    max_users: int = 10_000
    _locales: OrderedDict[str, str] = field(default_factory=OrderedDict)
    _recent: OrderedDict[str, list[Lookup]] = field(default_factory=OrderedDict)

    async def locale(self, user: str) -> str | None:
        return self._locales.get(user)

    async def set_locale(self, user: str, locale: str) -> None:
        _bounded_put(self._locales, user, locale, self.max_users)

    async def recent(self, user: str) -> list[Lookup]:
        return list(self._recent.get(user, ()))

    async def remember(self, user: str, lookup: Lookup) -> None:
        lookups = [lookup, *self._recent.get(user, ())][:RECENT]
        _bounded_put(self._recent, user, lookups, self.max_users)


class StorePrefs:
    """Kept in the shared store, so every instance sees the same preferences and history."""

    def __init__(self, store: KeyValueStore) -> None:
        self._store = store

    async def locale(self, user: str) -> str | None:
        return await self._store.kv_get("slack-locale", user)

    async def set_locale(self, user: str, locale: str) -> None:
        await self._store.kv_put("slack-locale", user, locale)

    async def recent(self, user: str) -> list[Lookup]:
        raw = await self._store.kv_get("slack-recent", user)
        try:
            return [
                Lookup(str(i["text"]), str(i["verdict"]), float(i["at"]))
                for i in json.loads(raw or "[]")
            ]
        except (ValueError, KeyError, TypeError):
            return []

    async def remember(self, user: str, lookup: Lookup) -> None:
        lookups = [lookup, *await self.recent(user)][:RECENT]
        value = json.dumps([{"text": i.text, "verdict": i.verdict, "at": i.at} for i in lookups])
        await self._store.kv_put("slack-recent", user, value)


def prefs_for(store: KeyValueStore) -> Prefs:
    """Preferences every instance shares, kept in the store (every store has the kv table)."""
    return StorePrefs(store)


def _bounded_put(table: OrderedDict[str, Any], key: str, value: Any, size: int) -> None:
    table[key] = value
    table.move_to_end(key)
    while len(table) > size:
        table.popitem(last=False)
