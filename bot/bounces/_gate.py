"""Fast multi-pattern matching: run only the rules whose trigger word occurs in the text.

A rule set of hundreds of phrasings compiled into one alternation makes the regex engine try
every branch at every position, which is far too slow for the pipeline's hot path. Instead each
pattern gets a trigger: a set of whole words, one of which every match of the pattern contains
(derived from the pattern's literal text), and a diagnostic's words select the few patterns
worth running. Patterns with no safe trigger are run every time.

That only holds because a match may not begin or end inside a word of the text: were "phish"
allowed to match in "phishing", the word "phish" would not be among the text's words. So the
rules' contract is "each pattern matches whole words at both its ends", and `Gate` enforces it
for every pattern, gated or not (tests/test_bounces_gate.py runs every rule with and without
the gate over the corpora and demands the same answer).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Final

from bot import derived

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


def _bounded_after(pattern: str, j: int, right: bool) -> bool:
    """Whether position `j` of `pattern` is a word edge; its end is one when `right` says so."""
    if j >= len(pattern):
        return right
    if pattern.startswith("\\b", j):
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


def triggers(pattern: str, left: bool, right: bool) -> frozenset[str] | None:
    """Words of which every match of `pattern` contains at least one, or None.

    `left` and `right` say whether the pattern's own ends sit at word edges, as `Gate` makes
    every match do; inside the pattern, only `\\b`, `^`, `$` and non-word characters count.
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
                best = _better(best, triggers(inner, inner_left, _bounded_after(pattern, j, right)))
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
    """A rule set (name -> patterns) that tells the first name, in priority order, that matches.

    Every pattern is held to whole words at its ends: its right end by a lookaround compiled into
    it, its left end by hand. Checking the start by hand keeps a pattern that begins with a
    literal a literal to the regex engine, which then jumps straight to candidate positions,
    roughly thirty times faster than testing an assertion everywhere; a leading `\\b` is dropped
    for the same reason (before a word character it says nothing the left-end check does not).
    """

    def __init__(self, rules: dict[str, tuple[str, ...]], order: tuple[str, ...] = ()) -> None:
        self._rules = rules
        self._order = order

    @cached_property
    def _table(self) -> _Table:
        # Built on first use, not at import: a one-shot `whymail ask` that meets no bounce should
        # not pay for reading hundreds of patterns.
        return _Table(self._rules, self._order)

    @property
    def size(self) -> int:
        return len(self._table.names)

    @property
    def ungated(self) -> int:
        """Patterns with no trigger word, run for every text (a figure to keep small)."""
        return len(self._table.always)

    def candidates(self, words: set[str]) -> list[int]:
        """Numbers (in `patterns` order) of the patterns a text with these words must run."""
        return self._table.candidates(words)

    def entries(self) -> tuple[tuple[str, str], ...]:
        """Each (name, pattern source) in `candidates` numbering, without compiling any, so that
        a report can say which rule entry a candidate is."""
        table = self._table
        return tuple(zip(table.names, table.sources, strict=True))

    def regex(self, i: int) -> re.Pattern[str]:
        """Entry `i` (in `candidates` numbering) compiled, for `search`."""
        return self._table.regex(i)

    def patterns(self) -> Iterator[tuple[str, re.Pattern[str]]]:
        """Each (name, compiled pattern) in priority order, compiling them all."""
        table = self._table
        for i, name in enumerate(table.names):
            yield name, table.regex(i)

    def best(
        self, text: str, words: set[str], below: int | None = None, *, gated: bool = True
    ) -> str | None:
        """The first name in priority order with a matching pattern, or None.

        The search stops at rank `below`: a caller that already holds a reason of that rank
        need not learn about lower-priority ones. `gated=False` runs every pattern, so that a
        test can hold the gate to its promise.
        """
        table = self._table
        ranks = table.ranks
        for i in table.candidates(words) if gated else range(len(ranks)):
            if below is not None and ranks[i] >= below:
                return None
            if search(table.compiled[i] or table.regex(i), text):
                return table.names[i]
        return None

    def last(self, text: str, words: set[str]) -> str | None:
        """The name whose match starts furthest into `text`; at one position, the first in
        priority order. For markers that tell where in a dialogue a text stands, where the last
        one named is the one that counts."""
        table = self._table
        best: str | None = None
        at = -1
        for i in table.candidates(words):
            start = last_start(table.compiled[i] or table.regex(i), text)
            if start > at:
                best, at = table.names[i], start
        return best


def _all_triggers(sources: tuple[str, ...], names: tuple[str, ...]) -> list[frozenset[str] | None]:
    """Each pattern's triggers, kept between runs (`bot.derived`): reading hundreds of
    patterns for their words is most of what a one-shot answer's first bounce costs."""

    def derive() -> list[frozenset[str] | None]:
        return [triggers(pattern, left=True, right=True) for pattern in sources]

    folder = derived.cache_folder("bounces")
    if folder is None:
        return derive()
    name = "triggers " + " ".join(sorted(names))
    return derived.cached(folder, name, _CODE + "\0".join(sources).encode(), derive)


# The code that reads triggers: a change to it must not meet an old cache entry.
_CODE: Final = Path(__file__).read_bytes()


class _Table:
    """A gate's patterns numbered in priority order, with the trigger index over them.

    A pattern is compiled the first time a text's words select it: most texts select a few
    dozen of the hundreds, so the first answers cost little more than the later ones.
    """

    __slots__ = ("always", "compiled", "index", "names", "ranks", "sources", "words")

    def __init__(self, rules: dict[str, tuple[str, ...]], order: tuple[str, ...]) -> None:
        rank = {name: i for i, name in enumerate(order)}
        # Entries are numbered in priority order, so that `best` can stop at the first hit.
        ordered = sorted(rules.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0]))
        entries = [(name, p) for name, patterns in ordered for p in patterns]
        self.names = tuple(name for name, _p in entries)
        self.sources = tuple(p for _name, p in entries)
        self.ranks = tuple(rank.get(name, len(rank)) for name in self.names)
        self.compiled: list[re.Pattern[str] | None] = [None] * len(entries)
        index: dict[str, list[int]] = defaultdict(list)
        always: list[int] = []
        for i, found in enumerate(_all_triggers(self.sources, tuple(rules))):
            for word in found or ():
                index[word].append(i)
            if not found:
                always.append(i)
        self.index = {word: tuple(ids) for word, ids in index.items()}
        self.words = frozenset(self.index)
        self.always = tuple(always)

    def regex(self, i: int) -> re.Pattern[str]:
        rx = self.compiled[i]
        if rx is None:
            rx = self.compiled[i] = compile_rule(self.sources[i])
        return rx

    def candidates(self, words: set[str]) -> list[int]:
        """Entry numbers worth running for a text with these words, in priority order."""
        present = self.words.intersection(words)
        if not present:
            return list(self.always)
        index = self.index
        ids: set[int] = set(self.always)
        for word in present:
            ids.update(index[word])
        return sorted(ids)


# A match must not end between two word characters.
_RIGHT_EDGE: Final = r"(?:(?<!\w)|(?!\w))"


def compile_rule(pattern: str) -> re.Pattern[str]:
    """`pattern` held to a word edge at its right end; `search` checks the left end."""
    body = pattern[2:] if pattern.startswith("\\b") else pattern
    return re.compile(f"(?:{body}){_RIGHT_EDGE}")


def _word_char(c: str) -> bool:
    return c.isalnum() or c == "_"


def search(rx: re.Pattern[str], text: str) -> bool:
    """Whether `rx` (from `compile_rule`) matches `text` somewhere not starting inside a word."""
    m = rx.search(text)
    while m is not None:
        start = m.start()
        if (
            start == 0
            or start == len(text)
            or not (_word_char(text[start - 1]) and _word_char(text[start]))
        ):
            return True
        m = rx.search(text, start + 1)
    return False


def last_start(rx: re.Pattern[str], text: str) -> int:
    """Where the last match of `rx` (from `compile_rule`) not starting inside a word begins,
    or -1."""
    found = -1
    m = rx.search(text)
    while m is not None:
        start = m.start()
        if (
            start == 0
            or start == len(text)
            or not (_word_char(text[start - 1]) and _word_char(text[start]))
        ):
            found = start
        m = rx.search(text, start + 1)
    return found


def words(text: str) -> set[str]:
    """The whole words of a normalised text, for `Gate.best`."""
    return set(_WORD.findall(text))
