"""One DNS question, four honest outcomes.

dnspython reports SERVFAIL, REFUSED and timeouts as exceptions that look like "nothing there" to
careless callers (the top complaint against other checkers). Here every lookup ends as an answer,
NODATA, NXDOMAIN, or INCONCLUSIVE with its cause, and a timeout can never become "no record".
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver

from bot.metrics import DNS_TIMEOUTS

#: How many lookups the current task has waited on in a row: a dependent chain's length.
_chain: contextvars.ContextVar[int] = contextvars.ContextVar("whymail_dns_chain", default=0)


def chain_start() -> contextvars.Context:
    """A copy of the current context in which the next lookup is the first link of a chain.

    Checks started as tasks use it, so lookups awaited earlier by whoever started them do not
    lengthen the chains the benchmark reports.
    """
    context = contextvars.copy_context()
    context.run(_chain.set, 0)
    return context


class Outcome(StrEnum):
    ANSWER = "answer"
    NODATA = "nodata"
    NXDOMAIN = "nxdomain"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True, slots=True)
class Lookup:
    name: str
    rdtype: str
    outcome: Outcome
    records: tuple[str, ...] = ()
    cause: str | None = None

    @property
    def conclusive(self) -> bool:
        return self.outcome is not Outcome.INCONCLUSIVE


def parse_nameservers(spec: str) -> list[tuple[str, int]]:
    """`ip[:port]` items, comma-separated; IPv6 as `[::1]:5353` or a bare `::1`."""
    servers = []
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        if item.startswith("["):
            host, _, port = item[1:].partition("]")
            port = port.removeprefix(":")
        elif item.count(":") == 1:
            host, _, port = item.partition(":")
        else:
            host, port = item, ""
        try:
            servers.append((host, int(port) if port else 53))
        except ValueError:
            raise ValueError(f"bad nameserver {item!r}: expected ip or ip:port") from None
    return servers


class DNSClient:
    """An async resolver with a per-query timeout, a hard per-query deadline and a TTL cache."""

    def __init__(
        self,
        nameservers: Sequence[tuple[str, int]] | None = None,
        *,
        timeout: float = 2.0,
        cache: bool = True,
    ) -> None:
        if nameservers:
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = [dns.nameserver.Do53Nameserver(h, p) for h, p in nameservers]
        else:
            try:
                resolver = dns.asyncresolver.Resolver()
            except dns.resolver.NoResolverConfiguration:
                resolver = dns.asyncresolver.Resolver(configure=False)
                resolver.nameservers = ["127.0.0.1"]
        resolver.timeout = min(1.0, timeout)
        resolver.lifetime = timeout
        resolver.cache = dns.resolver.LRUCache(50_000) if cache else None
        self._resolver = resolver
        self.timeout = timeout
        #: Lookups asked for, and the longest chain of lookups that waited on one another. The
        #: benchmark compares the stage's wall time with the chain, which is the floor.
        self.lookups = 0
        self.longest_chain = 0

    def reset_stats(self) -> None:
        self.lookups = 0
        self.longest_chain = 0

    async def lookup(self, name: str, rdtype: str) -> Lookup:
        """Never raises for DNS trouble: the outcome says what happened.

        A lookup awaited after another in the same task counts as the next link of a chain
        (tasks started by gather inherit the chain so far), which is what the benchmark reports.
        """
        self.lookups += 1
        link = _chain.get() + 1
        result = await self._lookup(name, rdtype)
        _chain.set(link)
        self.longest_chain = max(self.longest_chain, link)
        return result

    async def _lookup(self, name: str, rdtype: str) -> Lookup:
        try:
            async with asyncio.timeout(self.timeout + 0.25):
                answer = await self._resolver.resolve(name, rdtype, search=False)
        except dns.resolver.NXDOMAIN:
            return Lookup(name, rdtype, Outcome.NXDOMAIN)
        except dns.resolver.NoAnswer:
            return Lookup(name, rdtype, Outcome.NODATA)
        except dns.resolver.NoNameservers as exc:
            return Lookup(name, rdtype, Outcome.INCONCLUSIVE, cause=_rcode_cause(exc))
        except (dns.exception.Timeout, TimeoutError):
            DNS_TIMEOUTS.inc()
            return Lookup(
                name, rdtype, Outcome.INCONCLUSIVE, cause=f"timeout after {self.timeout:g} s"
            )
        except dns.exception.DNSException as exc:
            return Lookup(name, rdtype, Outcome.INCONCLUSIVE, cause=type(exc).__name__)
        records = tuple(_text(rdata, rdtype) for rdata in answer)
        return Lookup(name, rdtype, Outcome.ANSWER, records)


def _text(rdata: object, rdtype: str) -> str:
    if rdtype == "TXT":
        strings = getattr(rdata, "strings", ())
        return b"".join(strings).decode("utf-8", "replace")
    return str(rdata)


def _rcode_cause(exc: dns.resolver.NoNameservers) -> str:
    errors = exc.kwargs.get("errors") or []
    for error in errors:
        detail = error[3] if len(error) > 3 else None
        if detail is not None:
            text = str(detail)
            for rcode in ("SERVFAIL", "REFUSED", "FORMERR", "NOTIMP"):
                if rcode in text:
                    return rcode
            return text[:120]
    return "no nameserver answered"
