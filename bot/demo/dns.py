"""A small authoritative DNS server on loopback, for `whymail ask --demo` and the test suite.

whymail's verdicts hinge on the difference between an answer, NODATA, NXDOMAIN and "could not
check" (SERVFAIL, REFUSED, timeout). Mocking the resolver hides exactly the wire behaviour those
verdicts depend on, so tests and the offline demo talk to a real server over real sockets. Knot
is the reference (tests run the same probes against both); this module exists so the demo works
without installing Knot, and it answers the way Knot 3.2 does:

* AA on every authoritative answer; none on REFUSED, SERVFAIL or referrals.
* NXDOMAIN and NODATA carry the zone's SOA in the authority section, with the TTL lowered to the
  SOA MINIMUM field (RFC 2308 section 3), so resolvers can cache the negative answer.
* Empty non-terminals (``_domainkey.example`` when only ``s1._domainkey.example`` exists) are
  NODATA, not NXDOMAIN (RFC 8020): DKIM "some selector exists" checks rely on it.
* CNAMEs are chased inside their own zone only; the last link decides the rcode (RFC 6604).
* Wildcards (RFC 4592) and delegations (referral, glue) behave as in any authoritative server.
* A zone is named after its file, ``<zone name>.zone`` (Knot's ``file: "%s.zone"``). A file that
  fails to parse makes every name in that zone SERVFAIL instead of disappearing, so a broken zone
  stays distinguishable from a name that is simply not served (REFUSED).
* Over UDP an answer larger than the client's buffer comes back empty with TC set, as from Knot;
  the client retries over TCP and gets it whole.

It lives in ``bot.demo`` because the demo is the only part of the product that serves DNS; what
only tests and benchmarks need (a slow variant, a server on its own thread) is in ``testkit``.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Final, Self, TypeAlias

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone
from dns.rdatatype import RdataType

__all__ = ["LocalDNSServer"]

log = logging.getLogger(__name__)

ZONE_SUFFIX: Final = ".zone"
# Knot's default udp-max-payload and the DNS Flag Day 2020 value: fits every real path MTU.
UDP_PAYLOAD: Final = 1232
# Without EDNS a client only promises to take 512 bytes over UDP (RFC 1035 section 4.2.1).
CLASSIC_UDP_PAYLOAD: Final = 512
TCP_IDLE_TIMEOUT: Final = 10.0
# Longer chains than this are misconfigurations; the bound also stops CNAME loops.
MAX_CNAME_CHAIN: Final = 16
REPLY_CACHE_SIZE: Final = 16384

_ANY: Final = RdataType.ANY
_CNAME: Final = RdataType.CNAME
_DS: Final = RdataType.DS
_NS: Final = RdataType.NS
_SOA: Final = RdataType.SOA
_ADDRESS_TYPES: Final = (RdataType.A, RdataType.AAAA)
# Types whose targets a resolver will look up next: Knot puts their in-zone addresses in the
# additional section, and so do we.
_TARGET_TYPES: Final = frozenset({RdataType.MX, RdataType.NS, RdataType.SRV})
_ZONE_TRANSFER_TYPES: Final = frozenset({RdataType.AXFR, RdataType.IXFR})
_WILDCARD_LABEL: Final = dns.name.Name([b"*"])

_Node: TypeAlias = dict[RdataType, dns.rrset.RRset]


@dataclass(slots=True)
class _Zone:
    """One served zone, flattened into dictionaries so a lookup is a few hash probes."""

    origin: dns.name.Name
    # Every name that exists, empty non-terminals included (as empty nodes).
    nodes: dict[dns.name.Name, _Node] = field(default_factory=dict)
    # Delegation points below the apex; usually empty, which skips the referral walk entirely.
    cuts: frozenset[dns.name.Name] = frozenset()
    # The SOA as it goes into negative answers; None means the zone failed to load.
    negative_soa: dns.rrset.RRset | None = None

    @property
    def broken(self) -> bool:
        return self.negative_soa is None


@dataclass(slots=True)
class _Result:
    rcode: dns.rcode.Rcode = dns.rcode.NOERROR
    authoritative: bool = True
    answer: list[dns.rrset.RRset] = field(default_factory=list)
    authority: list[dns.rrset.RRset] = field(default_factory=list)
    additional: list[dns.rrset.RRset] = field(default_factory=list)


def _canonical(rdata: dns.rdata.Rdata) -> bytes:
    return rdata.to_digestable()


def _broken(origin: dns.name.Name, path: Path, why: object) -> _Zone:
    log.warning("zone %s from %s not loaded, answering SERVFAIL: %s", origin, path, why)
    return _Zone(origin)


def _load_zone(origin: dns.name.Name, path: Path) -> _Zone:
    try:
        parsed = dns.zone.from_file(str(path), origin=origin, relativize=False, check_origin=False)
    except Exception as exc:  # any parse, semantic or I/O failure must become SERVFAIL
        return _broken(origin, path, exc)
    # Like Knot, insist on the SOA only: a zone without apex NS records still loads.
    if parsed.get_rdataset(origin, _SOA) is None:
        return _broken(origin, path, "no SOA at the zone apex")

    zone = _Zone(origin)
    cuts: set[dns.name.Name] = set()
    for name, node in parsed.nodes.items():
        rrsets = zone.nodes.setdefault(name, {})
        for rdataset in node.rdatasets:
            # RRSIGs come as one rdataset per covered type, but are queried as one type.
            # Canonical order (RFC 4034 section 6.3), as Knot sends it: stable output for tests.
            merged = sorted([*rrsets.get(rdataset.rdtype, ()), *rdataset], key=_canonical)
            rrsets[rdataset.rdtype] = dns.rrset.from_rdata_list(name, rdataset.ttl, merged)
        if _NS in rrsets and name != origin:
            cuts.add(name)
        ancestor = name
        while ancestor != origin:
            ancestor = ancestor.parent()
            zone.nodes.setdefault(ancestor, {})
    zone.cuts = frozenset(cuts)

    soa = zone.nodes[origin][_SOA]
    zone.negative_soa = dns.rrset.from_rdata_list(
        origin,
        min(soa.ttl, soa[0].minimum),
        list(soa),
    )
    return zone


def _load_zones(zone_dir: Path) -> dict[dns.name.Name, _Zone]:
    zones: dict[dns.name.Name, _Zone] = {}
    for path in sorted(zone_dir.glob("*" + ZONE_SUFFIX)):
        try:
            origin = dns.name.from_text(path.name.removesuffix(ZONE_SUFFIX))
        except dns.exception.DNSException as exc:
            log.warning("ignoring %s: its name is not a zone name: %s", path, exc)
            continue
        zones[origin] = _load_zone(origin, path)
    return zones


class _Authority:
    """The authoritative lookup, kept free of I/O so it is the same for UDP, TCP and tests."""

    def __init__(self, zones: dict[dns.name.Name, _Zone]) -> None:
        # Keyed by lower-cased labels: building Name objects per suffix costs more than the rest
        # of the lookup.
        self._zones = {_folded(origin.labels): zone for origin, zone in zones.items()}

    def _find_zone(self, qname: dns.name.Name) -> _Zone | None:
        labels = _folded(qname.labels)
        for start in range(len(labels)):
            zone = self._zones.get(labels[start:])
            if zone is not None:
                return zone
        return None

    @staticmethod
    def _find_cut(zone: _Zone, name: dns.name.Name) -> dns.name.Name | None:
        # The highest cut wins: anything below it is occluded (glue or stale data).
        found = None
        while name != zone.origin:
            if name in zone.cuts:
                found = name
            name = name.parent()
        return found

    @staticmethod
    def _wildcard(zone: _Zone, name: dns.name.Name) -> _Node | None:
        encloser = name.parent()
        while encloser not in zone.nodes:
            encloser = encloser.parent()
        return zone.nodes.get(_WILDCARD_LABEL.concatenate(encloser))

    @staticmethod
    def _add_addresses(zone: _Zone, rrset: dns.rrset.RRset, result: _Result) -> None:
        targets: dict[dns.name.Name, None] = {}
        for rdata in rrset:
            target = getattr(rdata, "exchange", None) or getattr(rdata, "target", None)
            if isinstance(target, dns.name.Name):
                targets[target] = None
        for target in targets:
            node = zone.nodes.get(target)
            if node:
                result.additional.extend(node[t] for t in _ADDRESS_TYPES if t in node)

    def _referral(self, zone: _Zone, cut: dns.name.Name) -> _Result:
        ns = zone.nodes[cut][_NS]
        result = _Result(authoritative=False, authority=[ns])
        self._add_addresses(zone, ns, result)
        return result

    def lookup(self, qname: dns.name.Name, qtype: RdataType) -> _Result:
        zone = self._find_zone(qname)
        if zone is None:
            return _Result(dns.rcode.REFUSED, authoritative=False)
        if zone.negative_soa is None:
            return _Result(dns.rcode.SERVFAIL, authoritative=False)

        result = _Result()
        name = qname
        seen = {name}
        while True:
            if zone.cuts:
                cut = self._find_cut(zone, name)
                if cut is not None and not (cut == name and qtype == _DS):
                    # A chain that runs into a delegation ends there: the resolver follows it.
                    return self._referral(zone, cut) if not result.answer else result
            node = zone.nodes.get(name)
            if node is None:
                node = self._wildcard(zone, name)
                if node is None:
                    result.rcode = dns.rcode.NXDOMAIN
                    result.authority.append(zone.negative_soa)
                    return result
                node = {t: _with_owner(rrset, name) for t, rrset in node.items()}

            rrset = node.get(qtype)
            if rrset is None and qtype == _ANY and node:
                # RFC 8482 minimal ANY: Knot answers with one RRset, the lowest type.
                rrset = node[min(node)]
            if rrset is not None:
                result.answer.append(rrset)
                if rrset.rdtype in _TARGET_TYPES:
                    self._add_addresses(zone, rrset, result)
                return result

            cname = node.get(_CNAME)
            if cname is None:
                result.authority.append(zone.negative_soa)
                return result
            result.answer.append(cname)
            name = cname[0].target
            if name in seen or len(seen) > MAX_CNAME_CHAIN or not name.is_subdomain(zone.origin):
                return result
            seen.add(name)


def _folded(labels: tuple[bytes, ...]) -> tuple[bytes, ...]:
    return tuple(label.lower() for label in labels)


def _with_owner(rrset: dns.rrset.RRset, owner: dns.name.Name) -> dns.rrset.RRset:
    return dns.rrset.from_rdata_list(owner, rrset.ttl, list(rrset))


def _formerr(wire: bytes) -> bytes | None:
    """Answer FORMERR from the raw header when the rest of the message cannot be parsed."""
    if len(wire) < 12 or wire[2] & 0x80:
        return None
    flags = 0x8000 | (wire[2] & 0x79) << 8 | dns.rcode.FORMERR  # QR, opcode, RD; no counts
    return wire[:2] + flags.to_bytes(2, "big") + bytes(8)


class LocalDNSServer:
    """Serve the zone files of one directory over UDP and TCP on a single loopback port.

    Each query is answered on the spot, in the order it arrives: `_answer_udp` and `_answer_tcp`
    are the one place a reply goes out, so a subclass can change when (testkit's slow server
    waits there) without touching the transport.
    """

    def __init__(self, zone_dir: Path, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.zone_dir = Path(zone_dir)
        self.host = host
        self.port = port
        self._authority = _Authority({})
        self._replies: dict[tuple[bool, bytes], bytes] = {}
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        # Tasks that must not outlive the server (TCP connections, and whatever a subclass
        # adds); strong references too, as the event loop only keeps weak ones.
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    async def start(self) -> tuple[str, int]:
        self._authority = _Authority(_load_zones(self.zone_dir))
        self._replies.clear()
        loop = asyncio.get_running_loop()
        # With port 0 the kernel picks a free UDP port that may be taken for TCP: try again.
        for _attempt in range(50):
            udp, _ = await loop.create_datagram_endpoint(
                lambda: _UDPProtocol(self), local_addr=(self.host, self.port)
            )
            port: int = udp.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, self.host, port)
            except OSError as exc:
                udp.close()
                if self.port or exc.errno != errno.EADDRINUSE:
                    raise
                continue
            self._udp, self.port = udp, port
            return self.address
        raise OSError(errno.EADDRINUSE, f"no port free for both UDP and TCP on {self.host}")

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._tcp is not None:
            await self._tcp.wait_closed()
            self._tcp = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def respond(self, wire: bytes, *, tcp: bool) -> bytes | None:
        """The reply to one query message, or None when it deserves none (it is a response).

        Zones never change while serving, so a reply depends only on the query's bytes after the
        message ID. Benchmarks repeat the same few thousand queries, and building a message costs
        about 0.3 ms of CPU that the client under test, often in the same process, needs.
        """
        key = (tcp, wire[2:])
        cached = self._replies.get(key)
        if cached is not None:
            return wire[:2] + cached
        reply = self._build_reply(wire, tcp=tcp)
        if reply is not None:
            if len(self._replies) >= REPLY_CACHE_SIZE:
                del self._replies[next(iter(self._replies))]
            self._replies[key] = reply[2:]
        return reply

    def _build_reply(self, wire: bytes, *, tcp: bool) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except Exception:  # anything unparsable is the client's fault, never a crash here
            return _formerr(wire)
        if query.flags & dns.flags.QR:
            return None
        response = dns.message.make_response(query, our_payload=UDP_PAYLOAD)
        if query.edns > 0:
            response.set_rcode(dns.rcode.BADVERS)
        elif query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
        elif len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
        else:
            question = query.question[0]
            if question.rdclass != dns.rdataclass.IN:
                response.set_rcode(dns.rcode.REFUSED)
            elif question.rdtype in _ZONE_TRANSFER_TYPES:
                response.set_rcode(dns.rcode.NOTAUTH if tcp else dns.rcode.NOTIMP)
            else:
                result = self._authority.lookup(question.name, question.rdtype)
                response.set_rcode(result.rcode)
                if result.authoritative:
                    response.flags |= dns.flags.AA
                response.answer.extend(result.answer)
                response.authority.extend(result.authority)
                response.additional.extend(result.additional)
        # Unshuffled, like Knot: answers identical from run to run keep test output stable.
        reply = response.to_wire(max_size=65535, want_shuffle=False)
        if not tcp:
            limit = CLASSIC_UDP_PAYLOAD
            if query.edns >= 0:
                limit = min(max(query.payload, CLASSIC_UDP_PAYLOAD), UDP_PAYLOAD)
            if len(reply) > limit:
                # Knot sends the header and question only; a partial answer could be mistaken
                # for the whole RRset by a client that ignores TC.
                del response.answer[:], response.authority[:], response.additional[:]
                response.flags |= dns.flags.TC
                reply = response.to_wire(want_shuffle=False)
        return reply

    def _answer_udp(self, wire: bytes, addr: tuple[str, int]) -> None:
        """Answer one datagram synchronously: no task per query, which benchmarks would pay for."""
        reply = self.respond(wire, tcp=False)
        if reply is not None and self._udp is not None:
            self._udp.sendto(reply, addr)

    async def _answer_tcp(self, wire: bytes, writer: asyncio.StreamWriter) -> None:
        reply = self.respond(wire, tcp=True)
        if reply is not None and not writer.is_closing():
            writer.write(len(reply).to_bytes(2, "big") + reply)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        this = asyncio.current_task()
        if this is not None:
            self._tasks.add(this)
        try:
            while True:
                try:
                    async with asyncio.timeout(TCP_IDLE_TIMEOUT):
                        size = int.from_bytes(await reader.readexactly(2), "big")
                        wire = await reader.readexactly(size)
                except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                    break
                await self._answer_tcp(wire, writer)
            with suppress(ConnectionError):
                await writer.drain()
        finally:
            writer.close()
            if this is not None:
                self._tasks.discard(this)


class _UDPProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: LocalDNSServer) -> None:
        self._server = server

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._server._answer_udp(data, addr)

    def error_received(self, exc: Exception) -> None:
        """ICMP errors from clients that gave up are routine on loopback; keep serving."""
