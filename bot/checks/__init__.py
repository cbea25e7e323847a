"""What DNS can tell about a recipient's domain (and later the sender's), never guessing."""

from bot.checks.dns import DNSClient, Lookup, Outcome
from bot.checks.recipient import DomainFacts, check_recipient_domain

__all__ = ["DNSClient", "DomainFacts", "Lookup", "Outcome", "check_recipient_domain"]
