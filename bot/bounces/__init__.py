"""Bounce intelligence: why a remote server refused a message, and bounce-email parsing.

`classify` reads one remote reply (text, enhanced status, reply code, MX host, SMTP phase) and
returns a reason in Sisimai's vocabulary plus hard/soft; `parse_bounce` reads a whole bounce
email and classifies each failed recipient. The rules are data in `_rules.py`.
"""

from bot.bounces._classify import Classification, classify
from bot.bounces._dsn import BouncedRecipient, parse_bounce
from bot.bounces._jsonl import classify_jsonl, parse_files_jsonl
from bot.bounces._verdicts import REASON_VERDICTS

__all__ = [
    "REASON_VERDICTS",
    "BouncedRecipient",
    "Classification",
    "classify",
    "classify_jsonl",
    "parse_bounce",
    "parse_files_jsonl",
]
