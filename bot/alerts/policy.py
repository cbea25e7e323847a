"""Which verdicts alert, and where: the agents' channel and the customer channels that asked.

A customer channel hears only about its own tenant's dispatches, and only the verdicts listed
for it (none unless listed); the agents' channel hears about every tenant. This is the one
place that decides it, so the rule "nothing of another tenant" is checked here once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.conversation import AGENT, CUSTOMER

#: What the agents' channel hears about unless configured otherwise: the outcomes that need a
#: person (the address is wrong or dead, the recipient complained, the mail never left, the
#: sender's setup or the provider's filter stops it), never those that resolve themselves.
DEFAULT_VERDICTS: tuple[str, ...] = (
    "user_unknown",
    "domain_not_found",
    "no_mail_server",
    "spam_complaint",
    "suppressed",
    "internal_failure",
    "sender_auth_failed",
    "provider_antispam_challenge",
)


@dataclass(frozen=True, slots=True)
class Target:
    """A channel that hears alerts: for whom it speaks and in which language."""

    channel: str
    audience: str
    #: The only tenant a customer channel hears about; None for the agents' channel (all).
    tenant: str | None
    locale: str
    verdicts: frozenset[str]

    @property
    def agent(self) -> bool:
        return self.audience == AGENT

    def wants(self, tenant: str | None, verdict: str | None = None) -> bool:
        """Whether an alert about `tenant`'s dispatch (with `verdict`, when known) goes here."""
        if not self.agent and (tenant is None or tenant != self.tenant):
            return False
        return verdict is None or verdict in self.verdicts


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    targets: tuple[Target, ...] = ()
    #: Alerts per channel per minute before the rest of that minute becomes one digest.
    burst: int = 5
    _by_tenant: dict[str | None, tuple[Target, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def of(cls, targets: Iterable[Target], *, burst: int = 5) -> AlertPolicy:
        kept = tuple(t for t in targets if t.verdicts)
        if burst < 1:
            raise ValueError("WHYMAIL_ALERT_BURST must be at least 1")
        return cls(kept, burst)

    @staticmethod
    def agents(channel: str, verdicts: Iterable[str], locale: str) -> Target:
        return Target(channel, AGENT, None, locale, frozenset(verdicts))

    @staticmethod
    def customers(channel: str, tenant: str, verdicts: Iterable[str], locale: str) -> Target:
        return Target(channel, CUSTOMER, tenant, locale, frozenset(verdicts))

    @property
    def enabled(self) -> bool:
        return bool(self.targets)

    @property
    def verdicts(self) -> frozenset[str]:
        """Every verdict some channel asked for."""
        return frozenset().union(*(t.verdicts for t in self.targets))

    def targets_for(self, tenant: str | None, verdict: str | None = None) -> tuple[Target, ...]:
        """The channels an alert about `tenant`'s dispatch goes to (all that may hear about
        that tenant when the verdict is not known yet)."""
        return tuple(t for t in self.targets if t.wants(tenant, verdict))
