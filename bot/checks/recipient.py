"""Can the recipient's domain receive mail at all? (RFC 5321 §5.1 and RFC 7505)

The order matters: MX first; a null MX means "accepts no mail"; only when there is no MX at all
do A/AAAA act as an implicit MX. Anything inconclusive along the way makes the whole finding
inconclusive, because "no mail server" is a serious thing to tell a customer.

Once MX hosts are known, their addresses are looked up all at once (a dangling MX is a common
misconfiguration), and their names say who runs the mailbox or filters it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

from bot import facts as f
from bot.checks.dns import DNSClient, Lookup, Outcome
from bot.checks.providers import ProviderTable, identify
from bot.checks.typos import typo_candidate


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
    #: True: some MX host has an address; False: DNS said none has; None: not known or no MX.
    mx_resolves: bool | None = None
    mx_unresolved: tuple[str, ...] = ()
    provider: str | None = None
    provider_name: str | None = None
    gateway: str | None = None
    gateway_name: str | None = None
    #: The closest popular domain, whatever DNS says; `suggestion` only when DNS backs it.
    typo_candidate: str | None = None
    suggestion: str | None = None

    def as_facts(self) -> f.DomainFacts:
        return {
            "name": self.domain,
            "exists": self.exists,
            "accepts_mail": self.accepts_mail,
            "mx": [host for _, host in self.mx],
            "null_mx": self.null_mx,
            "implicit_mx": self.implicit_mx,
            "inconclusive": self.inconclusive,
            "cause": self.cause,
            "mx_resolves": self.mx_resolves,
            "mx_unresolved": list(self.mx_unresolved),
            "provider": self.provider,
            "provider_name": self.provider_name,
            "gateway": self.gateway,
            "gateway_name": self.gateway_name,
            "suggestion": self.suggestion,
            "typo_candidate": self.typo_candidate,
        }

    @property
    def cannot_receive(self) -> bool:
        """DNS conclusively says mail to this domain goes nowhere."""
        return (
            self.exists is False or self.accepts_mail is False or self.mx_resolves is False
        ) and not self.inconclusive


def _causes(*lookups: Lookup) -> str | None:
    text = "; ".join(f"{lk.rdtype} {lk.name}: {lk.cause}" for lk in lookups if not lk.conclusive)
    return text or None


def _inconclusive(domain: str, *lookups: Lookup) -> DomainFacts:
    return DomainFacts(domain, None, None, inconclusive=True, cause=_causes(*lookups))


async def check_recipient_domain(
    client: DNSClient, domain: str, table: ProviderTable | None = None
) -> DomainFacts:
    """The DNS facts, plus provider, gateway and typo facts when a provider table is given."""
    facts = await _mail_routing(client, domain)
    if table is None:
        return facts
    who = identify(table, domain, [host for _, host in facts.mx])
    candidate = typo_candidate(domain, table.popular_domains)
    return replace(
        facts,
        provider=who.provider.id if who.provider else None,
        provider_name=who.provider.name if who.provider else None,
        gateway=who.gateway.id if who.gateway else None,
        gateway_name=who.gateway.name if who.gateway else None,
        typo_candidate=candidate,
        suggestion=candidate if facts.cannot_receive else None,
    )


async def _mail_routing(client: DNSClient, domain: str) -> DomainFacts:
    mx = await client.lookup(domain, "MX")
    if mx.outcome is Outcome.INCONCLUSIVE:
        return _inconclusive(domain, mx)
    if mx.outcome is Outcome.NXDOMAIN:
        return DomainFacts(domain, exists=False, accepts_mail=False)
    if mx.outcome is Outcome.ANSWER:
        hosts = sorted(_mx(record) for record in mx.records)
        if len(hosts) == 1 and hosts[0][1] in ("", "."):
            return DomainFacts(domain, True, False, null_mx=True)
        usable = tuple((p, h) for p, h in hosts if h)
        return await _mx_addresses(client, DomainFacts(domain, True, True, mx=usable))
    a, aaaa = await asyncio.gather(client.lookup(domain, "A"), client.lookup(domain, "AAAA"))
    if Outcome.ANSWER in (a.outcome, aaaa.outcome):
        return DomainFacts(domain, True, True, implicit_mx=True, mx_resolves=True)
    if not (a.conclusive and aaaa.conclusive):
        return _inconclusive(domain, a, aaaa)
    return DomainFacts(domain, exists=True, accepts_mail=False)


async def _mx_addresses(client: DNSClient, facts: DomainFacts) -> DomainFacts:
    """Look up A and AAAA of every MX host at once; one host with an address is enough."""
    hosts = list(dict.fromkeys(host for _, host in facts.mx))
    lookups = await asyncio.gather(
        *(client.lookup(host, rdtype) for host in hosts for rdtype in ("A", "AAAA"))
    )
    unresolved: list[str] = []
    unknown: list[Lookup] = []
    for host, a, aaaa in zip(hosts, lookups[::2], lookups[1::2], strict=True):
        if Outcome.ANSWER in (a.outcome, aaaa.outcome):
            continue
        if a.conclusive and aaaa.conclusive:
            unresolved.append(host)
        else:
            unknown.extend(lk for lk in (a, aaaa) if not lk.conclusive)
    resolves: bool | None
    if len(unresolved) + len({lk.name for lk in unknown}) < len(hosts):
        resolves = True
    elif unknown:
        resolves = None
    else:
        resolves = False
    return replace(
        facts, mx_resolves=resolves, mx_unresolved=tuple(unresolved), cause=_causes(*unknown)
    )


def _mx(record: str) -> tuple[int, str]:
    preference, _, host = record.partition(" ")
    return int(preference), host.rstrip(".").lower()
