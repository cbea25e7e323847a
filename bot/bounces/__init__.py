"""Bounce intelligence: why a remote server refused a message, and bounce-email parsing.

`classify` reads one remote reply (text, enhanced status, reply code, MX host, SMTP phase) and
returns a reason in Sisimai's vocabulary plus hard/soft; `parse_bounce` reads a whole bounce
email (its first `MAX_BYTES`) and classifies each failed recipient, and `parse_bounce_report`
adds a `ParseNote` for each cut (size, parts, nesting, recipients) that may hide some, so that
an answer can say so. The rules are data in `_rules.py`; which verdict a reason leads to is
the knowledge trees' business (knowledge/trees/bounced.yml), not this package's. `REASONS`
lists every reason the two can return, so the trees can be checked against it.
"""

from bot.bounces._classify import REASONS, Classification, classify
from bot.bounces._dsn import (
    MAX_BYTES,
    BouncedRecipient,
    BounceReport,
    Cut,
    ParseNote,
    parse_bounce,
    parse_bounce_report,
)

__all__ = [
    "MAX_BYTES",
    "REASONS",
    "BounceReport",
    "BouncedRecipient",
    "Classification",
    "Cut",
    "ParseNote",
    "classify",
    "parse_bounce",
    "parse_bounce_report",
]
