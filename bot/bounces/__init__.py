"""Bounce intelligence: why a remote server refused a message, and bounce-email parsing.

`classify` reads one remote reply (text, enhanced status, reply code, MX host, SMTP phase) and
returns a reason in Sisimai's vocabulary plus hard/soft; `parse_bounce` reads a whole bounce
email and classifies each failed recipient. The rules are data in `_rules.py`; which verdict a
reason leads to is the knowledge trees' business (knowledge/trees/bounced.yml), not this
package's. `REASONS` lists every reason the two can return, so the trees can be checked
against it.
"""

from bot.bounces._classify import REASONS, Classification, classify
from bot.bounces._dsn import BouncedRecipient, parse_bounce

__all__ = [
    "REASONS",
    "BouncedRecipient",
    "Classification",
    "classify",
    "parse_bounce",
]
