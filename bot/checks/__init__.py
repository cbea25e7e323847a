"""What DNS can tell about a recipient's domain, our sending domain and our sending IPs, never
guessing: every finding is an answer, or inconclusive with its cause."""

from bot.checks.address import (
    Address,
    InvalidAddress,
    check_address,
    parse_address,
)
from bot.checks.dns import DNSClient, Lookup, Outcome
from bot.checks.recipient import DomainFacts, check_recipient_domain
from bot.checks.run import CheckRun, Findings, run_checks
from bot.checks.sender import SenderFacts, sender_domain
from bot.checks.settings import ChecksConfig

__all__ = [
    "Address",
    "CheckRun",
    "ChecksConfig",
    "DNSClient",
    "DomainFacts",
    "Findings",
    "InvalidAddress",
    "Lookup",
    "Outcome",
    "SenderFacts",
    "check_address",
    "check_recipient_domain",
    "parse_address",
    "run_checks",
    "sender_domain",
]
