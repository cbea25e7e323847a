"""Turn what a person typed into what to look up.

People paste anything: a bare address, Slack's `<mailto:…|…>` links, a sentence in Norwegian,
a dispatch id, a quoted address with mrkdwn in it. The parser never fails; it sorts the words into
addresses to check, address-like words that are not valid (with the validator's reason), and
candidate dispatch ids, and guesses the language from a few telltale words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.checks.address import InvalidAddress, check_address

__all__ = [
    "MAX_QUERY_CHARS",
    "MAX_SUBJECTS",
    "InvalidAddress",
    "Query",
    "parse",
]

#: Queries are untrusted and unbounded; nothing a person asks needs more than this.
MAX_QUERY_CHARS = 4000
MAX_SUBJECTS = 10

_MAILTO = re.compile(r"<mailto:([^|>]{1,320})(?:\|[^>]{0,320})?>", re.IGNORECASE)
_SLACK_LINK = re.compile(r"<(?:https?://)?([^|>]{1,320})\|([^>]{0,320})>")
# A word with an @ inside; a quoted local part may contain spaces and mrkdwn.
_ADDRESS_LIKE = re.compile(
    r"(\"[^\"]{0,64}\"|[^\s<>()\[\],;:\"']{1,64})@([^\s<>()\[\],;\"']{1,255})"
)
_UUID = re.compile(
    r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE
)
# Other id shapes products use: d_9f2c, INV-2024-0042, #1042, 8f3a-77b1. Must contain a digit.
_ID_LIKE = re.compile(r"(?<![\w@.-])#?([A-Za-z0-9][A-Za-z0-9_-]{2,63})(?![\w@-])")
_TRAILING = ".,;:!?)]}'\""

_LOCALE_WORDS: dict[str, frozenset[str]] = {
    "nb": frozenset(
        "hvorfor fikk ikke har mottatt faktura fakturaen kunden e-posten eposten kom aldri "
        "sendt purring hvor".split()
    ),
    "nl": frozenset(
        "waarom heeft niet ontvangen factuur klant komt nooit aan verzonden mijn de het".split()
    ),
    "pt-BR": frozenset(
        "por que porque não nao recebeu recebi chegou nota fiscal boleto cliente o a "
        "email e-mail meu minha".split()
    ),
    "en": frozenset(
        "why didn't did not get receive received never arrived invoice customer email "
        "the my".split()
    ),
}


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    addresses: tuple[str, ...]
    invalid: tuple[InvalidAddress, ...]
    dispatch_ids: tuple[str, ...]
    locale_hint: str | None
    truncated: bool

    @property
    def empty(self) -> bool:
        return not (self.addresses or self.invalid or self.dispatch_ids)


def _unwrap_slack(text: str) -> str:
    text = _MAILTO.sub(lambda m: f" {m.group(1)} ", text)
    return _SLACK_LINK.sub(lambda m: f" {m.group(2) or m.group(1)} ", text)


def _guess_locale(text: str) -> str | None:
    words = set(re.findall(r"[\wçãõéêáíóúà'-]+", text.lower()))
    scores = {loc: len(words & vocab) for loc, vocab in _LOCALE_WORDS.items()}
    best = max(scores, key=lambda loc: scores[loc])
    return best if scores[best] >= 2 else None


def parse(text: str) -> Query:
    """Sort the words of `text` into addresses, invalid address-like words and dispatch ids."""
    truncated = len(text) > MAX_QUERY_CHARS
    body = _unwrap_slack(text[:MAX_QUERY_CHARS])
    addresses: list[str] = []
    invalid: list[InvalidAddress] = []
    spans: list[tuple[int, int]] = []
    for match in _ADDRESS_LIKE.finditer(body):
        raw = (
            match.group(0).rstrip(_TRAILING) if not match.group(0).endswith('"') else match.group(0)
        )
        spans.append(match.span())
        if raw.lower().startswith("mailto:"):
            raw = raw[7:]
        checked = check_address(raw)
        if isinstance(checked, InvalidAddress):
            if checked not in invalid:
                invalid.append(checked)
        elif checked not in addresses:
            addresses.append(checked)

    ids: list[str] = []
    rest = _blank(body, spans)
    for match in _UUID.finditer(rest):
        ids.append(match.group(0).lower())
    rest = _UUID.sub(" ", rest)
    for match in _ID_LIKE.finditer(rest):
        token = match.group(1).rstrip("_-")
        if any(c.isdigit() for c in token) and token not in ids:
            ids.append(token)

    return Query(
        text=text[:MAX_QUERY_CHARS],
        addresses=tuple(addresses[:MAX_SUBJECTS]),
        invalid=tuple(invalid[:MAX_SUBJECTS]),
        dispatch_ids=tuple(ids[:MAX_SUBJECTS]),
        locale_hint=_guess_locale(body),
        truncated=truncated,
    )


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    """Erase the address spans so their digits are not mistaken for dispatch ids."""
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)
