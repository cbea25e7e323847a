"""Did the person mean a popular mail domain? (gmial.com → gmail.com, uol.com.bf → uol.com.br)

A distance match alone is not evidence: mailw.com, comcast.com and mac.com are real domains one
or two keystrokes from a popular one, and "correcting" them is the top complaint against
mailcheck. So the candidate is only a candidate; recipient checks report it as the suggestion
only when DNS says the typed domain cannot receive mail (see bot.checks.recipient).
"""

from __future__ import annotations

from collections.abc import Sequence


def osa_distance(a: str, b: str, limit: int) -> int:
    """Edit distance counting a swap of neighbours as one edit (gmial → gmail).

    Stops early once every path exceeds `limit`, which keeps a scan of the list cheap.
    """
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            best = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                best = min(best, previous2[j - 2] + 1)
            current[j] = best
        # A swap reaches back two rows, so both must be out of reach before giving up.
        if min(current) > limit and (not previous or min(previous) >= limit):
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def _limit(domain: str) -> int:
    """Short names tolerate one slip; longer ones two (hotnail.con → hotmail.com)."""
    return 1 if len(domain) < 9 else 2


def typo_candidate(domain: str, popular: Sequence[str]) -> str | None:
    """The closest popular domain within the limit, earlier (more used) entries winning ties.

    A domain that is itself on the list is never "corrected": gmx.net, mail.com and live.nl
    are all one edit from another popular domain.
    """
    domain = domain.lower().rstrip(".")
    if not domain or domain in popular:
        return None
    limit = _limit(domain)
    best: str | None = None
    best_distance = limit + 1
    size = len(domain)
    for candidate in popular:
        if abs(len(candidate) - size) > limit:
            continue
        distance = osa_distance(domain, candidate, min(limit, best_distance - 1))
        if distance < best_distance:
            best, best_distance = candidate, distance
            if distance == 1:
                break
    return best
