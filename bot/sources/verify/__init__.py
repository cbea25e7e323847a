"""Webhook authenticity, one small module per scheme; pure functions over bytes and strings.

Every check raises `Refused` with a message fit for the HTTP response: the ESP's operator reads
it in their webhook log when a secret is wrong or a clock is off.
"""

from __future__ import annotations

import math


class Refused(Exception):
    """The request is not from the provider (or no secret is configured to tell)."""


class Unavailable(Exception):
    """The check could not be made now (a certificate download failed): the ESP should retry."""


class Acknowledged(Exception):
    """Answered 200 with nothing to store (an SNS subscription confirmation); says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Stale(Refused):
    """Authentic, maybe, but signed outside the replay window."""


#: Seconds a signed timestamp may lie in the future: the two clocks may disagree that much.
CLOCK_SKEW = 300.0


def check_fresh(signed_at: float, now: float, window: float, skew: float = CLOCK_SKEW) -> None:
    """Refuse timestamps older than `window` seconds, or more than `skew` in the future.

    NaN compares false with everything, so it would pass both tests and never go stale.
    """
    if not math.isfinite(signed_at):
        raise Stale("the signed timestamp is not a number")
    if signed_at < now - window:
        raise Stale(f"signed {now - signed_at:.0f} s ago, outside the {window:g} s replay window")
    if signed_at > now + skew:
        raise Stale(f"signed {signed_at - now:.0f} s in the future")
