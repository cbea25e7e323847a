"""English left in a translated render: the phrases of the English render of the same answer
that show up again in the Norwegian, Dutch or Portuguese one.

A phrase is a run of words between punctuation. What is the same in every language by nature
is left out before comparing: addresses, domains and hosts, numbers, codes and dates, the
remote server's own words (after "server said", or in backticks), tree ids (verdicts, nodes),
and product and protocol names. What is left of the English render is words whymail wrote; each
of them found in the other render is a leak.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: Names that read the same in every language: products, providers, protocols, mail terms.
NAMES = frozenset(
    s.lower()
    for s in (
        "whymail postmark mailgun sendgrid brevo ses amazon uol bol terra gmail outlook hotmail "
        "live microsoft yahoo icloud gmx proofpoint mimecast barracuda google workspace "
        "dns mx spf dkim dmarc nxdomain servfail a aaaa ptr tls smtp mime antispam id kib "
        "utc cet cest brt slack eml spam null hard bounce soft cc bcc"
        # words these languages share with English ("mailbox" is Dutch too, "full" Norwegian)
        " via account letter for filter mailbox full"
        # a product's own UI label, quoted as users see it ("Não Receber", the opt-out box)
        " não receber"
    ).split()
)
_QUOTED = re.compile(r"```.*?```|`[^`]*`", re.S)
#: Slack shows an emoji for these, not the word
_EMOJI = re.compile(r":[a-z0-9_+-]+:")
_ADDRESS = re.compile(r"\S+@\S+")
_HOST = re.compile(r"[\w-]*(?:\.[\w-]+)+\b")
_ID = re.compile(r"\b\w*_\w*\b|\bd-\d+\b")
_SPLIT = re.compile(r"[^\w\s'-]+|\d+|\s-\s|\s{2,}")


def _clean(text: str, said: Iterable[str]) -> list[str]:
    """`text`'s lines without the remote server's words: quotations (which may run over
    wrapped lines) and whatever follows a "server said" label."""
    lines = []
    for line in _EMOJI.sub(" | ", _QUOTED.sub(" | ", text)).splitlines():
        for label in said:
            at = line.find(f"{label}:")
            if at >= 0:
                line = line[: at + len(label)]
        lines.append(line)
    return lines


def phrases(text: str, *, said: Iterable[str] = (), ids: Iterable[str] = ()) -> set[str]:
    """The phrases whymail wrote in `text`; `said` are the labels that introduce a server's
    reply (its words are dropped up to the line's end), `ids` the tree's node ids."""
    skip = NAMES | {i.lower() for i in ids}
    found: set[str] = set()
    for line in _clean(text, said):
        line = _ADDRESS.sub(" | ", line)
        line = _HOST.sub(" | ", line)
        line = _ID.sub(" | ", line)
        for chunk in _SPLIT.split(line):
            run: list[str] = []
            for word in [*chunk.split(), ""]:
                if word and word.strip("'-") and word.lower() not in skip:
                    run.append(word)
                    continue
                if any(len(w) >= 3 for w in run):
                    found.add(" ".join(run))
                run = []
    return found


def leaked(
    english: str, other: str, *, said: Iterable[str] = (), ids: Iterable[str] = ()
) -> list[str]:
    """The English phrases that appear, as whole words, in `other` (its server replies left
    out too)."""
    said = list(said)
    theirs = " ".join(" ".join(_clean(other, said)).split()).lower()
    return sorted(
        phrase
        for phrase in phrases(english, said=said, ids=ids)
        if re.search(rf"(?<![\w-]){re.escape(phrase.lower())}(?![\w-])", theirs)
    )
