"""When a channel gets too many alerts at once, the rest of the minute becomes one digest.

A burst is usually one cause (a bad list import, a provider blocking us), so twenty separate
messages would drown the channel and say less than one list. Per channel, the alerts of the
last minute are counted; past the limit, each further alert joins the channel's open digest,
one message that is edited in place as it grows. A digest stays open for a minute; after that
the next alert over the limit opens a new one. Counting is per process.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

WINDOW_SECONDS = 60.0


@dataclass(slots=True)
class Digest:
    """One channel's digest message: what it lists and the chat's id of it once posted."""

    opened_at: float
    items: list[object] = field(default_factory=list)
    ref: str | None = None
    #: When it was last posted or edited (the clock of `Burst`), so edits stay spaced out.
    shown_at: float | None = None


class Burst:
    def __init__(
        self,
        limit: int,
        *,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._recent: dict[str, deque[float]] = {}
        self._digests: dict[str, Digest] = {}

    def now(self) -> float:
        return self._clock()

    def admit(self, channel: str) -> bool:
        """Count one alert for `channel`: True when it may be posted on its own, False when
        the channel is over its limit this minute and the alert belongs in the digest."""
        now = self._clock()
        recent = self._recent.setdefault(channel, deque())
        while recent and recent[0] <= now - self._window:
            recent.popleft()
        recent.append(now)
        return len(recent) <= self._limit

    def digest(self, channel: str) -> Digest:
        """The channel's open digest, or a new one when there is none or it is a minute old."""
        now = self._clock()
        current = self._digests.get(channel)
        if current is None or now - current.opened_at >= self._window:
            current = Digest(now)
            self._digests[channel] = current
        return current
