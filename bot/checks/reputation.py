"""Is one of our sending IPs on a blocklist? (DNSBL, RFC 5782)

A blocklist answers 127.0.0.x for a listing and NXDOMAIN for "not listed"; but 127.255.255.x is
the list refusing to answer (a public resolver, too many queries), and many MTAs misread it as a
listing. That, an answer outside 127.0.0.0/8, a timeout, SERVFAIL or REFUSED all mean "could not
check", never "listed" and never "clean".
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot import facts as f
from bot.checks.dns import DNSClient, Outcome

_LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
_ERROR_CODES = ipaddress.ip_network("127.255.255.0/24")


def dnsbl_name(ip: str, zone: str) -> str:
    """192.0.2.99 → 99.2.0.192.<zone>; IPv6 as 32 reversed nibbles (as in ip6.arpa)."""
    address = ipaddress.ip_address(ip)
    if address.version == 4:
        return ".".join(reversed(str(address).split("."))) + "." + zone
    return ".".join(reversed(address.exploded.replace(":", ""))) + "." + zone


@dataclass(frozen=True, slots=True)
class DNSBLResult:
    ip: str
    zone: str
    listed: bool | None
    codes: tuple[str, ...] = ()
    cause: str | None = None


async def check_dnsbl(client: DNSClient, ip: str, zone: str) -> DNSBLResult:
    lookup = await client.lookup(dnsbl_name(ip, zone), "A")
    if lookup.outcome in (Outcome.NXDOMAIN, Outcome.NODATA):
        return DNSBLResult(ip, zone, False)
    if lookup.outcome is Outcome.INCONCLUSIVE:
        return DNSBLResult(ip, zone, None, cause=f"{zone}: {lookup.cause}")
    codes = tuple(sorted(lookup.records))
    addresses = [ipaddress.ip_address(code) for code in codes]
    listings = tuple(str(a) for a in addresses if a in _LOOPBACK and a not in _ERROR_CODES)
    if listings:
        return DNSBLResult(ip, zone, True, listings)
    if any(a in _ERROR_CODES for a in addresses):
        why = "the list refused the query (error code {}: public resolver or query limit)"
    else:
        why = "the answer {} is not a blocklist code"
    return DNSBLResult(ip, zone, None, codes, f"{zone}: " + why.format(", ".join(codes)))


@dataclass(frozen=True, slots=True)
class ReputationFacts:
    results: tuple[DNSBLResult, ...] = ()

    @property
    def listed(self) -> bool | None:
        if any(r.listed for r in self.results):
            return True
        if not self.results or any(r.listed is None for r in self.results):
            return None
        return False

    def as_facts(self) -> f.ReputationFacts:
        causes = [f"{r.ip} {r.cause}" for r in self.results if r.cause]
        return {
            "listed": self.listed,
            "listings": [
                {"ip": r.ip, "zone": r.zone, "codes": list(r.codes)}
                for r in self.results
                if r.listed
            ],
            "inconclusive": any(r.listed is None for r in self.results),
            "cause": "; ".join(causes) or None,
            "checked": [f"{r.ip} in {r.zone}" for r in self.results],
        }


def pairs(ips: Sequence[str], zones: Iterable[str]) -> list[tuple[str, str]]:
    return [(ip, zone) for zone in zones for ip in ips]


async def check_reputation(
    client: DNSClient, ips: Sequence[str], zones: Sequence[str]
) -> ReputationFacts:
    results = await asyncio.gather(*(check_dnsbl(client, ip, z) for ip, z in pairs(ips, zones)))
    return ReputationFacts(tuple(results))
