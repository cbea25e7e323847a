"""One diagnosis' DNS stage: every check at once, under one deadline, partial results kept.

Each check (a recipient domain; a sender's SPF, DKIM and DMARC separately; each sending IP on
each blocklist) is its own task, so a slow blocklist cannot hold the recipient's answer back and
a deadline turns only the unfinished checks inconclusive. Recipient checks start before the
store is asked for the dispatch; the dispatch's sender domain joins when it is known, still
under the deadline set at the start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot import facts as f
from bot.checks.dns import DNSClient, chain_start
from bot.checks.providers import ProviderTable, load_table
from bot.checks.recipient import DomainFacts, check_recipient_domain
from bot.checks.reputation import DNSBLResult, ReputationFacts, check_dnsbl, pairs
from bot.checks.sender import (
    DKIMFacts,
    DMARCFacts,
    SenderFacts,
    SPFFacts,
    check_dkim,
    check_dmarc,
    check_spf,
)
from bot.checks.settings import ChecksConfig

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Findings:
    domains: dict[str, DomainFacts] = field(default_factory=dict)
    senders: dict[str, SenderFacts] = field(default_factory=dict)
    reputation: ReputationFacts = field(default_factory=ReputationFacts)
    config: ChecksConfig = field(default_factory=ChecksConfig)

    def facts_for(self, recipient_domain: str | None, sender: str | None) -> f.Facts:
        """The `domain`, `sender` and `reputation` fact groups for one subject."""
        judged = self.senders.get(sender or "", SenderFacts(sender)).as_facts()
        # What our sending setup asks of the sender's domain, so texts can name the records.
        judged["spf"]["expected_include"] = next(iter(self.config.esp_spf_includes), None)
        selector = next(iter(self.config.dkim_selectors), None)
        judged["dkim"]["expected_host"] = (
            f"{selector}._domainkey.{sender}" if selector and sender else None
        )
        facts: f.Facts = {"sender": judged, "reputation": self.reputation.as_facts()}
        if recipient_domain is not None:
            found = self.domains.get(recipient_domain)
            facts["domain"] = (found or _late_domain(recipient_domain, "not checked")).as_facts()
        return facts


def _late_domain(domain: str, why: str) -> DomainFacts:
    return DomainFacts(domain, None, None, inconclusive=True, cause=why)


class CheckRun:
    """Start checks as subjects become known; `collect` waits for them until the deadline."""

    def __init__(self, client: DNSClient, config: ChecksConfig, *, deadline: float) -> None:
        self._client = client
        self._config = config
        self._deadline = deadline
        self._loop = asyncio.get_running_loop()
        self._ends = self._loop.time() + deadline
        self._table = _table(config)
        self._domains: dict[str, asyncio.Task[DomainFacts]] = {}
        self._spf: dict[str, asyncio.Task[SPFFacts]] = {}
        self._dkim: dict[str, asyncio.Task[DKIMFacts]] = {}
        self._dmarc: dict[str, asyncio.Task[DMARCFacts]] = {}
        self._dnsbl: dict[tuple[str, str], asyncio.Task[DNSBLResult]] = {}
        if config.sender_domain:
            self.senders([config.sender_domain])

    def _reputation(self) -> None:
        """Blocklist lookups end no chain, so they go out after the checks that start one."""
        if self._dnsbl:
            return
        for ip, zone in pairs(self._config.sending_ips, self._config.dnsbl_zones):
            self._dnsbl[ip, zone] = self._spawn(check_dnsbl(self._client, ip, zone))

    def _spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        return self._loop.create_task(coro, context=chain_start())

    def recipients(self, domains: Iterable[str]) -> None:
        for domain in domains:
            if domain and domain not in self._domains:
                self._domains[domain] = self._spawn(
                    check_recipient_domain(self._client, domain, self._table)
                )
        self._reputation()

    def senders(self, domains: Iterable[str | None]) -> None:
        """SPF first: its includes make the longest chain of lookups that wait on each other."""
        client, config = self._client, self._config
        for domain in domains:
            if domain and domain not in self._spf:
                self._spf[domain] = self._spawn(check_spf(client, domain, config))
                self._dkim[domain] = self._spawn(check_dkim(client, domain, config))
                self._dmarc[domain] = self._spawn(check_dmarc(client, domain, config))

    async def collect(self) -> Findings:
        self._reputation()
        tasks: list[asyncio.Task[Any]] = [
            *self._domains.values(),
            *self._spf.values(),
            *self._dkim.values(),
            *self._dmarc.values(),
            *self._dnsbl.values(),
        ]
        if tasks:
            await asyncio.wait(tasks, timeout=max(0.0, self._ends - self._loop.time()))
        late = f"no answer within the {self._deadline:g} s DNS deadline"
        domains = {d: _result(t, _late_domain(d, late)) for d, t in self._domains.items()}
        senders = {
            d: SenderFacts(
                d,
                _result(self._spf[d], SPFFacts(inconclusive=True, cause=f"SPF: {late}")),
                _result(self._dkim[d], DKIMFacts(inconclusive=True, cause=f"DKIM: {late}")),
                _result(self._dmarc[d], DMARCFacts(inconclusive=True, cause=f"DMARC: {late}")),
            )
            for d in self._spf
        }
        dnsbl = tuple(
            _result(t, DNSBLResult(ip, zone, None, cause=f"{zone}: {late}"))
            for (ip, zone), t in self._dnsbl.items()
        )
        return Findings(domains, senders, ReputationFacts(dnsbl), self._config)


def _result(task: asyncio.Task[T], fallback: T) -> T:
    """A finished task's result; anything else (late, failed) becomes the inconclusive fallback."""
    if task.done() and not task.cancelled():
        error = task.exception()
        if error is None:
            return task.result()
        # A bug, not DNS trouble: say so loudly, but still answer (inconclusive) for this check.
        log.error("a DNS check failed", exc_info=error)
        return fallback
    task.cancel()
    return fallback


def _table(config: ChecksConfig) -> ProviderTable | None:
    try:
        return load_table(config.providers_file)
    except ValueError as exc:
        log.error("no provider identification: %s", exc)
        return None


async def run_checks(
    client: DNSClient,
    config: ChecksConfig,
    *,
    recipient_domains: Iterable[str] = (),
    sender_domains: Iterable[str | None] = (),
    deadline: float = 4.5,
) -> Findings:
    """Every check for these domains (plus the configured sender and blocklists) at once."""
    run = CheckRun(client, config, deadline=deadline)
    run.senders(sender_domains)
    run.recipients(recipient_domains)
    return await run.collect()
