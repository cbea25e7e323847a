"""Which alert a chat message is: so a reply in an alert's thread, on any instance, is answered
about that alert's subject. Kept in the store's small `kv` table that every instance shares."""

from __future__ import annotations

import json

from bot.alerts.alerter import Subject
from bot.conversation.prefs import KeyValueStore

SCOPE = "alert-thread"


class AlertThreads:
    def __init__(self, store: KeyValueStore) -> None:
        self._store = store

    async def remember(self, channel: str, ref: str, subject: Subject) -> None:
        value = {"r": subject.recipient, "d": subject.dispatch_id, "t": subject.tenant}
        await self._store.kv_put(SCOPE, f"{channel}:{ref}", json.dumps(value))

    async def subject_of(self, channel: str, ref: str) -> Subject | None:
        raw = await self._store.kv_get(SCOPE, f"{channel}:{ref}")
        if raw is None:
            return None
        try:
            value = json.loads(raw)
            return Subject(value.get("d"), str(value["r"]), value.get("t"))
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
