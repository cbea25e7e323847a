"""Fast multi-pattern matching: run only the rules whose trigger word occurs in the text.

A rule set of hundreds of phrasings compiled into one alternation makes the regex engine try
every branch at every position, which is far too slow for the pipeline's hot path. Instead each
pattern gets a trigger: a whole word the pattern cannot match without (derived from the
pattern's literal text), and a diagnostic's words select the few patterns worth running.
Patterns with no safe trigger are run every time, so a trigger can only save work, never
change a result.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Final

_WORD: Final = re.compile(r"\w+")


def _skip_group(pattern: str, i: int) -> int:
    """Index just past the group or character class opening at `i`."""
    if pattern[i] == "[":
        j = i + 1
        if j < len(pattern) and pattern[j] == "]":
            j += 1
        while j < len(pattern) and pattern[j] != "]":
            j += 2 if pattern[j] == "\\" else 1
        return j + 1
    depth = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            i = _skip_group(pattern, i)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def _branches(pattern: str) -> list[str]:
    """`pattern` split at its top-level `|`."""
    out: list[str] = []
    start = i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c in "([":
            i = _skip_group(pattern, i)
            continue
        if c == "|":
            out.append(pattern[start:i])
            start = i + 1
        i += 1
    out.append(pattern[start:])
    return out


def _optional_after(pattern: str, j: int) -> bool:
    return j < len(pattern) and (
        pattern[j] in "?*" or pattern.startswith("{0", j) or pattern.startswith("{,", j)
    )


def _bounded_after(pattern: str, j: int) -> bool:
    if j >= len(pattern) or pattern.startswith("\\b", j):
        return True
    if pattern[j] == "\\":
        return j + 1 < len(pattern) and not pattern[j + 1].isalnum()
    return not (pattern[j].isalnum() or pattern[j] in "([.?*+{_")


# Words that occur in most bounces: a pattern triggered by one of them would run nearly always.
_COMMON: Final = frozenset(
    "the not user users message mail email e mailbox account address recipient recipients"
    " unknown domain host server your you is was has been for from delivery delivered smtp"
    " error failed rejected to of in by this that".split()
)


def _key(words: frozenset[str]) -> tuple[bool, bool, int, int]:
    shortest = min(len(w) for w in words)
    return (any(w in _COMMON for w in words), shortest < 4, len(words), -shortest)


def _better(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if _key(a) <= _key(b) else b


def triggers(pattern: str, left: bool = True, right: bool = True) -> frozenset[str] | None:
    """Words of which every match of `pattern` contains at least one, or None.

    Matches are taken to start and end at word edges: a trigger is a whole word of the text.
    """
    branches = _branches(pattern)
    if len(branches) > 1:
        union: set[str] = set()
        for branch in branches:
            sub = triggers(branch, left, right)
            if sub is None:
                return None
            union |= sub
        return frozenset(union)
    best: frozenset[str] | None = None
    buf: list[str] = []
    buf_left = left

    def flush(right_edge: bool) -> None:
        nonlocal best
        text = "".join(buf)
        buf.clear()
        for m in _WORD.finditer(text):
            if (m.start() > 0 or buf_left) and (m.end() < len(text) or right_edge):
                best = _better(best, frozenset((m.group(0),)))

    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            n = pattern[i + 1]
            i += 2
            if n == "b":
                flush(True)
                buf_left = True
            elif n.isalnum():
                flush(False)
                buf_left = False
            else:
                buf.append(n)
            continue
        if c in "([":
            j = _skip_group(pattern, i)
            inner_left = (not buf and buf_left) or (bool(buf) and not buf[-1].isalnum())
            flush(False)
            inner = pattern[i + 1 : j - 1] if c == "(" else ""
            if inner.startswith("?:"):
                inner = inner[2:]
            if inner and not inner.startswith("?") and not _optional_after(pattern, j):
                best = _better(best, triggers(inner, inner_left, _bounded_after(pattern, j)))
            # after "(?:is )?" the next word still starts at a word edge
            buf_left = bool(inner) and inner_left and all(b.endswith(" ") for b in _branches(inner))
            i = j
            if i < len(pattern) and pattern[i] in "?*":
                i += 1
            continue
        if c in "?*{":
            if buf:
                buf.pop()
            flush(False)
            buf_left = False
            i = (pattern.find("}", i) + 1 or len(pattern)) if c == "{" else i + 1
            continue
        if c in "+.":
            flush(False)
            buf_left = False
        elif c in "^$":
            flush(True)
            buf_left = True
        else:
            buf.append(c)
        i += 1
    flush(right)
    return best


class Gate:
    """A rule set (name -> patterns) that reports which names match a text.

    Each pattern is compiled on its own with any leading `\\b` moved out of the regex and
    checked by hand: a regex that starts with a literal lets the engine jump straight to
    candidate positions, roughly thirty times faster than trying a word boundary everywhere.
    """

    def __init__(self, rules: dict[str, tuple[str, ...]], order: tuple[str, ...] = ()) -> None:
        self._entries: list[tuple[str, re.Pattern[str], bool]] = []
        index: dict[str, list[int]] = defaultdict(list)
        always: list[int] = []
        rank = {name: i for i, name in enumerate(order)}
        # Entries are numbered in priority order, so that `best` can stop at the first hit.
        ordered = sorted(rules.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0]))
        for name, patterns in ordered:
            for p in patterns:
                bounded = p.startswith("\\b")
                self._entries.append((name, re.compile(p[2:] if bounded else p), bounded))
                found = triggers(p)
                for word in found or ():
                    index[word].append(len(self._entries) - 1)
                if not found:
                    always.append(len(self._entries) - 1)
        self._index = {word: tuple(ids) for word, ids in index.items()}
        self._words = frozenset(self._index)
        self._always = tuple(always)
        self._ranks = tuple(rank.get(name, len(rank)) for name, _rx, _bnd in self._entries)
        self.ungated = len(always)

    def _hit(self, text: str, entry: tuple[str, re.Pattern[str], bool]) -> bool:
        _name, rx, bounded = entry
        m = rx.search(text)
        while m is not None:
            start = m.start()
            before = text[start - 1] if start else " "
            if not bounded or not (before.isalnum() or before == "_"):
                return True
            m = rx.search(text, start + 1)
        return False

    def _candidates(self, words: set[str]) -> list[int]:
        """Entry numbers worth running for a text with these words, in priority order."""
        present = self._words.intersection(words)
        if not present:
            return list(self._always)
        index = self._index
        ids: set[int] = set(self._always)
        for word in present:
            ids.update(index[word])
        return sorted(ids)

    def matches(self, text: str, words: set[str]) -> set[str]:
        """Names with at least one pattern matching `text` (whose words are `words`)."""
        hits: set[str] = set()
        entries = self._entries
        for i in self._candidates(words):
            entry = entries[i]
            if entry[0] not in hits and self._hit(text, entry):
                hits.add(entry[0])
        return hits

    def best(self, text: str, words: set[str], below: int | None = None) -> str | None:
        """The first name in priority order with a matching pattern, or None.

        The search stops at rank `below`: a caller that already holds a reason of that rank
        need not learn about lower-priority ones.
        """
        entries = self._entries
        ranks = self._ranks
        for i in self._candidates(words):
            if below is not None and ranks[i] >= below:
                return None
            entry = entries[i]
            if self._hit(text, entry):
                return entry[0]
        return None


def words(text: str) -> set[str]:
    """The whole words of a normalised text, for `Gate.matches`."""
    return set(_WORD.findall(text))
