"""The gate only saves work: every rule, run with and without it, gives the same answer.

`bot.bounces._gate` picks, from a text's words, the few patterns worth running. That is sound
only if every match contains one of its pattern's trigger words as a whole word, which is why
patterns are held to whole words at both ends. These tests hold it to that over every text the
classifier sees while reading the corpora (the in-repo copy, and the shared corpus when it is
there), and over the same texts with their words glued or stretched, where edges go wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.bounces import _classify, _dsn, classify, parse_bounce
from bot.bounces._gate import Gate, compile_rule, search, words

DATA = Path(__file__).parent / "data" / "bounces"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "bounces"

GATES: dict[str, Gate] = {
    "strong": _classify._STRONG,
    "weak": _classify._WEAK,
    "overrides": _classify._OVERRIDES,
    "phase": _classify._PHASE_GATE,
    **{"+".join(sorted(entry.ids)): gate for entry, gate in _classify._PROVIDERS},
}

# What a pattern promises: its regex, starting and ending at word edges.
_EDGE = r"(?:(?<!\w)|(?!\w))"


def _declared(pattern: str) -> re.Pattern[str]:
    return re.compile(f"{_EDGE}(?:{pattern}){_EDGE}")


def _patterns(gate: Gate) -> list[tuple[re.Pattern[str], re.Pattern[str]]]:
    """Each entry's pattern as `_rules` declares it, beside the gate's compiled form."""
    tail = f"){_EDGE}"
    out = []
    for _name, rx in gate.patterns():
        assert rx.pattern.startswith("(?:")
        assert rx.pattern.endswith(tail)
        out.append((_declared(rx.pattern[3 : -len(tail)]), rx))
    return out


PATTERNS = {name: _patterns(gate) for name, gate in GATES.items()}


def _texts_seen(folder: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts the gates are asked about while the corpus is classified and parsed."""
    seen: list[str] = []

    def recording(real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(text: str | None, *args: Any, **kwargs: Any) -> Any:
            seen.append(kwargs.get("norm") or text or "")
            return real(text, *args, **kwargs)

        return wrapper

    for name in ("classify_reported", "find_phase"):
        monkeypatch.setattr(_dsn, name, recording(getattr(_classify, name)))
    for line in (folder / "labels.jsonl").read_text("utf-8").splitlines():
        row = json.loads(line)
        seen.append(row.get("diagnostic") or "")
        classify(row.get("diagnostic"), status=row.get("status") or None)
    for eml in sorted(folder.glob("*.eml")) + sorted(folder.glob("eml/*.eml")):
        parse_bounce(eml.read_bytes())
    return sorted({_classify.normalise(t) for t in seen if t})


def _variants(text: str, every: bool) -> Iterator[str]:
    """The text, and the text with its words glued to their neighbours or to extra letters.

    `every` False keeps a larger corpus to one gluing (the one that breaks the most edges), so
    that the test stays a few seconds long.
    """
    yield text
    parts = text.split(" ")
    if len(text) <= 600:
        yield "".join(parts)
        if every:
            yield " ".join(p + "s" for p in parts)
            yield " ".join("x" + p for p in parts)
            yield "_".join(parts)


def _ungated_agrees(texts: list[str], every: bool) -> None:
    for base in texts:
        for text in _variants(base, every):
            tokens = words(text)
            for name, gate in GATES.items():
                candidates = set(gate.candidates(tokens))
                for i, (promised, rx) in enumerate(PATTERNS[name]):
                    declared = promised.search(text) is not None
                    assert search(rx, text) is declared, (name, promised.pattern, text)
                    assert not declared or i in candidates, (name, promised.pattern, text)
                assert gate.best(text, tokens) == gate.best(text, tokens, gated=False), (
                    name,
                    text,
                )


# The in-repo copy always; the shared corpus too where it is (a development checkout), since it
# is ten times larger. Not a skip when it is absent: a clean clone has nothing missing.
CORPORA = [("copy", DATA, 50, True)] + (
    [("shared", SHARED, 500, False)] if (SHARED / "labels.jsonl").is_file() else []
)


@pytest.mark.parametrize(
    ("folder", "least", "every"), [c[1:] for c in CORPORA], ids=[c[0] for c in CORPORA]
)
def test_gate_changes_nothing_on_the_corpora(
    folder: Path, least: int, every: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = _texts_seen(folder, monkeypatch)
    assert len(texts) > least
    _ungated_agrees(texts, every=every)


@pytest.mark.parametrize(
    ("pattern", "text", "hit"),
    [
        (r"phish", "phishing attempt", False),
        (r"phish\w*", "phishing attempt", True),
        (r"\bphish\w*", "antiphishing", False),
        (r"user unknown", "superuser unknown", False),
        (r"user unknown", "user unknowns", False),
        (r"user unknown", "550 user unknown.", True),
        (r"unknown (?:user|recipient)", "unknown users", False),
        (r"feedback-type=", "x-feedback-type=abuse", True),
        (r"\[ts01\]", "421 4.7.0[ts01] messages", True),
        (r"^pipe to \|", "pipe to |/usr/bin/procmail", True),
        (r"^pipe to \|", "a pipe to |/usr/bin/procmail", False),
    ],
)
def test_patterns_match_whole_words_at_their_ends(pattern: str, text: str, hit: bool) -> None:
    gate = Gate({"reason": (pattern,)})
    assert search(compile_rule(pattern), text) is hit
    assert (gate.best(text, words(text)) == "reason") is hit
    assert (gate.best(text, words(text), gated=False) == "reason") is hit


def test_most_patterns_are_gated() -> None:
    # The gate is worth its keep only while nearly every pattern has a trigger.
    assert _classify._STRONG.ungated <= 0.05 * _classify._STRONG.size


def test_the_kept_trigger_index_follows_every_edit_of_the_rules(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The index is kept between runs under the rule set's reason names; an edited pattern
    # (same names, other words) must be read afresh, never served from the old entry.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    before = Gate({"blocked": (r"spamhaus",)}, ("blocked",))
    assert before.candidates(words("listed at spamhaus")) == [0]
    assert list((tmp_path / "whymail" / "bounces").iterdir())
    after = Gate({"blocked": (r"sorbs",)}, ("blocked",))
    assert after.candidates(words("listed at sorbs")) == [0]
    assert after.candidates(words("listed at spamhaus")) == []
    # a damaged entry is read afresh too
    for entry in (tmp_path / "whymail" / "bounces").iterdir():
        entry.write_bytes(b"not a pickle")
    again = Gate({"blocked": (r"sorbs",)}, ("blocked",))
    assert again.candidates(words("listed at sorbs")) == [0]
