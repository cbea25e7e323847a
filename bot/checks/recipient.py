"""Can the recipient's domain receive mail at all? (RFC 5321 §5.1 and RFC 7505)

The order matters: MX first; a null MX means "accepts no mail"; only when there is no MX at all
do A/AAAA act as an implicit MX. Anything inconclusive along the way makes the whole finding
inconclusive, because "no mail server" is a serious thing to tell a customer.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from bot.checks.dns import DNSClient, Lookup, Outcome


@dataclass(frozen=True, slots=True)
class DomainFacts:
    domain: str
    exists: bool | None
    accepts_mail: bool | None
    mx: tuple[tuple[int, str], ...] = ()
    null_mx: bool = False
    implicit_mx: bool = False
    inconclusive: bool = False
    cause: str | None = None

    def as_facts(self) -> dict[str, Any]:
        return {
            "name": self.domain,
            "exists": self.exists,
            "accepts_mail": self.accepts_mail,
            "mx": [host for _, host in self.mx],
            "null_mx": self.null_mx,
            "implicit_mx": self.implicit_mx,
            "inconclusive": self.inconclusive,
            "cause": self.cause,
        }


def _inconclusive(domain: str, *lookups: Lookup) -> DomainFacts:
    causes = "; ".join(f"{lk.rdtype} {lk.cause}" for lk in lookups if not lk.conclusive)
    return DomainFacts(domain, None, None, inconclusive=True, cause=causes)


async def check_recipient_domain(client: DNSClient, domain: str) -> DomainFacts:
    mx = await client.lookup(domain, "MX")
    if mx.outcome is Outcome.INCONCLUSIVE:
        return _inconclusive(domain, mx)
    if mx.outcome is Outcome.NXDOMAIN:
        return DomainFacts(domain, exists=False, accepts_mail=False)
    if mx.outcome is Outcome.ANSWER:
        hosts = sorted(_mx(record) for record in mx.records)
        if len(hosts) == 1 and hosts[0][1] in ("", "."):
            return DomainFacts(domain, True, False, null_mx=True)
        return DomainFacts(domain, True, True, mx=tuple((p, h) for p, h in hosts if h))
    a, aaaa = await asyncio.gather(client.lookup(domain, "A"), client.lookup(domain, "AAAA"))
    if Outcome.ANSWER in (a.outcome, aaaa.outcome):
        return DomainFacts(domain, True, True, implicit_mx=True)
    if not (a.conclusive and aaaa.conclusive):
        return _inconclusive(domain, a, aaaa)
    return DomainFacts(domain, exists=True, accepts_mail=False)


def _mx(record: str) -> tuple[int, str]:
    preference, _, host = record.partition(" ")
    return int(preference), host.rstrip(".").lower()
