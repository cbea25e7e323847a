"""What receivers see when they check our sending domain: SPF, DKIM and DMARC (RFC 7208, 6376,
7489), reduced to what explains a refusal: is the ESP authorised, is there a key, what policy.

Every lookup that does not depend on another runs at once: the three checks in parallel, and
within SPF every include of a record together. Each check is separately inconclusive: a
timeout on DMARC must not hide a broken SPF record.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass, field

from bot import facts as f
from bot.addresses import ascii_domain
from bot.checks.dns import DNSClient, Lookup, Outcome
from bot.checks.orgdomain import organisational_domain
from bot.checks.settings import ChecksConfig

#: RFC 7208 §4.6.4: terms that cost a DNS lookup, at most 10 per evaluation; and at most 2 of
#: those may find nothing ("void lookups").
MAX_LOOKUPS = 10
MAX_VOID_LOOKUPS = 2
_LOOKUP_MECHANISMS = frozenset({"a", "mx", "ptr", "exists", "include"})
_OTHER_MECHANISMS = frozenset({"all", "ip4", "ip6"})
_QUALIFIERS = "+-~?"
_POLICIES = frozenset({"none", "quarantine", "reject"})

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def sender_domain(sender: str | None, config: ChecksConfig) -> str | None:
    """The From domain of a dispatch, as DNS wants it (IDNA); else the configured one."""
    if sender and "@" in sender:
        domain = sender.rpartition("@")[2].strip().rstrip(".>")
        return ascii_domain(domain) if domain else config.sender_domain
    return config.sender_domain


def _label_suffix(name: str, suffix: str) -> bool:
    return name == suffix or name.endswith("." + suffix)


@dataclass(frozen=True, slots=True)
class SPFFacts:
    present: bool | None = None
    #: From the same TXT lookup: NXDOMAIN means the sending domain does not exist at all.
    exists: bool | None = None
    authorizes_esp: bool | None = None
    problem: str | None = None
    record: str | None = None
    lookups: int = 0
    inconclusive: bool = False
    cause: str | None = None

    def as_facts(self) -> f.SpfFacts:
        return {
            "present": self.present,
            "authorizes_esp": self.authorizes_esp,
            "problem": self.problem,
            "record": self.record,
            "lookups": self.lookups,
        }


@dataclass(slots=True)
class _Walk:
    """Shared state of one SPF evaluation: the RFC's limits count across the whole tree."""

    lookups: int = 0
    voids: int = 0
    problems: list[str] = field(default_factory=list)
    causes: list[str] = field(default_factory=list)
    #: Include and redirect targets reached through passing qualifiers only.
    passing_includes: set[str] = field(default_factory=set)
    passing_networks: list[Network] = field(default_factory=list)

    def problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)


def spf_records(lookup: Lookup) -> list[str]:
    return [r for r in lookup.records if r.lower() == "v=spf1" or r.lower().startswith("v=spf1 ")]


async def check_spf(client: DNSClient, domain: str, config: ChecksConfig) -> SPFFacts:
    txt = await client.lookup(domain, "TXT")
    if not txt.conclusive:
        return SPFFacts(inconclusive=True, cause=f"TXT {domain}: {txt.cause}")
    records = spf_records(txt)
    exists = txt.outcome is not Outcome.NXDOMAIN
    if not records:
        return SPFFacts(False, exists, False if _esp_known(config) else None)
    if len(records) > 1:
        return SPFFacts(
            present=True,
            exists=True,
            authorizes_esp=False if _esp_known(config) else None,
            problem=f"{len(records)} SPF records (receivers treat that as an error)",
            record=records[0],
        )
    walk = _Walk()
    await _evaluate(client, walk, domain, records[0], (domain,), passing=True)
    if walk.lookups > MAX_LOOKUPS:
        walk.problem(f"too many DNS lookups: {walk.lookups} (limit {MAX_LOOKUPS})")
    if walk.voids > MAX_VOID_LOOKUPS:
        walk.problem(f"too many void lookups: {walk.voids} (limit {MAX_VOID_LOOKUPS})")
    return SPFFacts(
        present=True,
        exists=True,
        authorizes_esp=_authorizes(walk, config),
        problem="; ".join(walk.problems) or None,
        record=records[0],
        lookups=walk.lookups,
        inconclusive=bool(walk.causes),
        cause="; ".join(walk.causes) or None,
    )


def _esp_known(config: ChecksConfig) -> bool:
    return bool(config.esp_spf_includes or config.sending_ips)


def _authorizes(walk: _Walk, config: ChecksConfig) -> bool | None:
    """A permanent error fails SPF at every receiver, whatever the record meant to allow."""
    if not _esp_known(config):
        return None
    if walk.problems:
        return False
    if any(
        _label_suffix(name, include)
        for name in walk.passing_includes
        for include in config.esp_spf_includes
    ):
        return True
    ips = [ipaddress.ip_address(ip) for ip in config.sending_ips]
    if ips and all(any(ip in net for net in walk.passing_networks) for ip in ips):
        return True
    return None if walk.causes else False


async def _evaluate(
    client: DNSClient,
    walk: _Walk,
    domain: str,
    record: str,
    path: tuple[str, ...],
    *,
    passing: bool,
) -> None:
    """Count and follow one record's terms; includes and a redirect are fetched together."""
    follow: list[tuple[str, bool]] = []
    redirect: str | None = None
    has_all = False
    for term in record.split()[1:]:
        name, equals, value = term.partition("=")
        if equals and ":" not in name and "/" not in name:
            # A modifier; unknown ones must be ignored (RFC 7208 §6).
            if name.lower() == "redirect":
                redirect = value.lower().rstrip(".")
            continue
        qualifier = term[0] if term[0] in _QUALIFIERS else "+"
        body = term.lstrip(_QUALIFIERS)
        mechanism, _, argument = body.partition(":")
        mechanism = mechanism.partition("/")[0].lower()
        if mechanism == "all":
            has_all = True
            break  # RFC 7208 §5.1: nothing after "all" is ever evaluated
        if mechanism not in _LOOKUP_MECHANISMS | _OTHER_MECHANISMS:
            walk.problem(f"unknown SPF term {term!r} in {domain}")
            continue
        if mechanism in _LOOKUP_MECHANISMS:
            walk.lookups += 1
        if mechanism in ("ip4", "ip6"):
            if qualifier == "+" and passing:
                try:
                    walk.passing_networks.append(ipaddress.ip_network(argument, strict=False))
                except ValueError:
                    walk.problem(f"bad address in {term!r} in {domain}")
        elif mechanism == "include":
            follow.append((argument.lower().rstrip("."), passing and qualifier == "+"))
    if redirect and not has_all:
        walk.lookups += 1
        follow.append((redirect, passing))
    branches = []
    for target, target_passing in follow:
        if not target or "%" in target:
            continue  # macros depend on the connecting client: not resolvable here
        if target in path:
            walk.problem(f"include loop: {' → '.join((*path, target))}")
            continue
        if walk.lookups > MAX_LOOKUPS:
            break  # already a permanent error; following further only costs time
        branches.append(_follow(client, walk, target, (*path, target), passing=target_passing))
    if branches:
        await asyncio.gather(*branches)


async def _follow(
    client: DNSClient, walk: _Walk, target: str, path: tuple[str, ...], *, passing: bool
) -> None:
    txt = await client.lookup(target, "TXT")
    if not txt.conclusive:
        walk.causes.append(f"TXT {target}: {txt.cause}")
        return
    if txt.outcome in (Outcome.NXDOMAIN, Outcome.NODATA):
        walk.voids += 1
    records = spf_records(txt)
    if len(records) != 1:
        how = "no SPF record" if not records else f"{len(records)} SPF records"
        walk.problem(f"{target} (included by {path[-2]}) has {how}")
        return
    if passing:
        walk.passing_includes.add(target)
    await _evaluate(client, walk, target, records[0], path, passing=passing)


@dataclass(frozen=True, slots=True)
class DKIMFacts:
    present: bool | None = None
    selectors: tuple[str, ...] = ()
    domain: str | None = None
    inconclusive: bool = False
    cause: str | None = None

    def as_facts(self) -> f.DkimFacts:
        return {"present": self.present, "selectors": list(self.selectors), "domain": self.domain}


def _has_key(record: str) -> bool:
    """A key record with an empty p= is a revoked key (RFC 6376 §3.6.1)."""
    return bool(_tags(record).get("p"))


async def check_dkim(client: DNSClient, domain: str, config: ChecksConfig) -> DKIMFacts:
    """Configured selectors when known; else whether any selector exists (RFC 8020 NODATA).

    Guessing "common selectors" reports valid DKIM as missing, so without configured selectors
    only the `_domainkey` node is asked about: NODATA means some selector lives below it.
    """
    signing = config.esp_signing_domain or domain
    if not config.dkim_selectors:
        node = await client.lookup(f"_domainkey.{signing}", "TXT")
        if not node.conclusive:
            return DKIMFacts(None, (), signing, True, f"TXT _domainkey.{signing}: {node.cause}")
        return DKIMFacts(node.outcome is not Outcome.NXDOMAIN, (), signing)
    lookups = await asyncio.gather(
        *(client.lookup(f"{s}._domainkey.{signing}", "TXT") for s in config.dkim_selectors)
    )
    found = tuple(
        s
        for s, lk in zip(config.dkim_selectors, lookups, strict=True)
        if any(_has_key(r) for r in lk.records)
    )
    unknown = [lk for lk in lookups if not lk.conclusive]
    if found or not unknown:
        return DKIMFacts(bool(found), found, signing)
    cause = "; ".join(f"TXT {lk.name}: {lk.cause}" for lk in unknown)
    return DKIMFacts(None, (), signing, True, cause)


@dataclass(frozen=True, slots=True)
class DMARCFacts:
    present: bool | None = None
    policy: str | None = None
    aligned: bool | None = None
    record: str | None = None
    #: Where the record was found: the domain itself or its organisational domain.
    domain: str | None = None
    problem: str | None = None
    inconclusive: bool = False
    cause: str | None = None

    def as_facts(self) -> f.DmarcFacts:
        return {
            "present": self.present,
            "policy": self.policy,
            "aligned": self.aligned,
            "record": self.record,
            "domain": self.domain,
            "problem": self.problem,
        }


def _dmarc_records(lookup: Lookup) -> list[str]:
    return [r for r in lookup.records if r.replace(" ", "").startswith("v=DMARC1")]


def _tags(record: str) -> dict[str, str]:
    pairs = (part.partition("=") for part in record.split(";"))
    return {k.strip().lower(): v.strip() for k, _, v in pairs if k.strip()}


async def check_dmarc(client: DNSClient, domain: str, config: ChecksConfig) -> DMARCFacts:
    """The domain's record, else its organisational domain's (RFC 7489 §6.6.3).

    The fallback waits for the first answer rather than being asked alongside it: most sending
    domains have their own record, and the wait (2 lookups) is never longer than the recipient's
    MX-then-address chain that runs beside it.
    """
    own = await client.lookup(f"_dmarc.{domain}", "TXT")
    if not own.conclusive:
        return DMARCFacts(inconclusive=True, cause=f"TXT {own.name}: {own.cause}")
    org = organisational_domain(domain)
    chosen, where, inherited = own, domain, False
    if not _dmarc_records(own) and org != domain:
        chosen, where, inherited = await client.lookup(f"_dmarc.{org}", "TXT"), org, True
        if not chosen.conclusive:
            return DMARCFacts(inconclusive=True, cause=f"TXT {chosen.name}: {chosen.cause}")
    records = _dmarc_records(chosen)
    aligned = _aligned(domain, {}, config)
    if not records:
        return DMARCFacts(present=False, aligned=aligned)
    if len(records) > 1:
        several = f"{len(records)} DMARC records at _dmarc.{where} (receivers ignore them all)"
        return DMARCFacts(False, None, aligned, records[0], where, several)
    tags = _tags(records[0])
    raw_policy = tags.get("sp", "") if inherited and "sp" in tags else tags.get("p", "")
    raw_policy = raw_policy.lower()
    policy: str | None = raw_policy if raw_policy in _POLICIES else None
    problem = None if policy else f"invalid DMARC policy {raw_policy!r} at _dmarc.{where}"
    return DMARCFacts(True, policy, _aligned(domain, tags, config), records[0], where, problem)


def _aligned(domain: str, tags: dict[str, str], config: ChecksConfig) -> bool | None:
    """DKIM d= or the Return-Path domain against the From domain (relaxed unless s)."""
    results = []
    for other, mode in (
        (config.esp_signing_domain, tags.get("adkim", "r")),
        (config.esp_return_path_domain, tags.get("aspf", "r")),
    ):
        if other is None:
            continue
        if mode.lower() == "s":
            results.append(other == domain)
        else:
            results.append(organisational_domain(other) == organisational_domain(domain))
    if not results:
        return None
    return any(results)


@dataclass(frozen=True, slots=True)
class SenderFacts:
    domain: str | None
    spf: SPFFacts = SPFFacts()
    dkim: DKIMFacts = DKIMFacts()
    dmarc: DMARCFacts = DMARCFacts()

    def as_facts(self) -> f.SenderFacts:
        parts = (self.spf, self.dkim, self.dmarc)
        causes = [p.cause for p in parts if p.cause]
        return {
            "domain": self.domain,
            "exists": self.spf.exists,
            "inconclusive": any(p.inconclusive for p in parts),
            "cause": "; ".join(causes) or None,
            "spf": self.spf.as_facts(),
            "dkim": self.dkim.as_facts(),
            "dmarc": self.dmarc.as_facts(),
        }
