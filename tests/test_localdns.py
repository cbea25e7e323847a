"""The demo's DNS server (bot.demo.dns) must answer like Knot: every probe runs against both.

The probes are the wire behaviours whymail's verdicts rest on (NODATA versus NXDOMAIN, empty
non-terminals, CNAME chasing, SERVFAIL and REFUSED, truncation), plus a response-by-response
comparison with Knot (rcode, flags, every section in order) over UDP, UDP without EDNS, and TCP.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import dns.asyncquery
import dns.asyncresolver
import dns.flags
import dns.message
import dns.name
import dns.nameserver
import dns.rcode
import dns.rdatatype
import dns.resolver
import pytest

from bot.demo.dns import LocalDNSServer
from testkit.dnsserver import serve_in_thread
from tests.dnsfixtures import ZONE_DIR, DNSServer, run_knot

TIMEOUT = 1.0
LIFETIME = 2.0

LONGSPF_START = "v=spf1 ip4:192.0.2.1 ip4:192.0.2.2 "


def resolver(
    *addresses: str, timeout: float = TIMEOUT, lifetime: float = LIFETIME
) -> dns.asyncresolver.Resolver:
    res = dns.asyncresolver.Resolver(configure=False)
    servers: list[str | dns.nameserver.Nameserver] = []
    for address in addresses:
        host, port = address.rsplit(":", 1)
        servers.append(dns.nameserver.Do53Nameserver(host, int(port)))
    res.nameservers = servers
    res.cache = None
    res.timeout = timeout
    res.lifetime = lifetime
    return res


async def query(
    server: DNSServer, name: str, rdtype: str, *, tcp: bool = False
) -> dns.message.Message:
    """A raw query, for what the resolver API hides: flags, rcodes, authority section."""
    message = dns.message.make_query(name, rdtype)
    message.flags &= ~dns.flags.RD
    if tcp:
        return await dns.asyncquery.tcp(message, server.host, port=server.port, timeout=TIMEOUT)
    return await dns.asyncquery.udp(
        message, server.host, port=server.port, timeout=TIMEOUT, raise_on_truncation=False
    )


def texts(answer: dns.resolver.Answer) -> list[str]:
    return sorted(rdata.to_text() for rdata in answer)


# (name, type, expected): a list of record texts, or the exception dnspython raises.
ANSWERS: list[tuple[str, str, list[str] | type[Exception]]] = [
    (
        "good.mailtest.test",
        "TXT",
        [
            '"google-site-verification=abc"',
            '"v=spf1 include:spf.esp.mailtest.test -all"',
        ],
    ),
    ("mx1.good.mailtest.test", "A", ["192.0.2.10"]),
    ("mx2.good.mailtest.test", "A", ["192.0.2.11"]),
    ("mx2.good.mailtest.test", "AAAA", ["2001:db8::11"]),
    (
        "_dmarc.good.mailtest.test",
        "TXT",
        ['"v=DMARC1; p=reject; rua=mailto:dmarc@good.mailtest.test"'],
    ),
    (
        "s1._domainkey.good.mailtest.test",
        "TXT",
        ['"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC1"'],
    ),
    ("spf.esp.mailtest.test", "TXT", ['"v=spf1 ip4:192.0.2.0/24 -all"']),
    ("nullmx.mailtest.test", "MX", ["0 ."]),
    ("aonly.mailtest.test", "MX", dns.resolver.NoAnswer),
    ("aonly.mailtest.test", "A", ["192.0.2.3"]),
    ("aaaaonly.mailtest.test", "MX", dns.resolver.NoAnswer),
    ("aaaaonly.mailtest.test", "A", dns.resolver.NoAnswer),
    ("aaaaonly.mailtest.test", "AAAA", ["2001:db8::3"]),
    ("nomail.mailtest.test", "MX", dns.resolver.NoAnswer),
    ("nomail.mailtest.test", "A", dns.resolver.NoAnswer),
    ("nomail.mailtest.test", "TXT", ['"just text"']),
    ("cnamemx.mailtest.test", "MX", ["10 alias.cnamemx.mailtest.test."]),
    ("real.cnamemx.mailtest.test", "A", ["192.0.2.12"]),
    ("danglingmx.mailtest.test", "MX", ["10 nohost.mailtest.test."]),
    ("nohost.mailtest.test", "A", dns.resolver.NXDOMAIN),
    ("outlook.mailtest.test", "MX", ["10 outlook-com.olc.protection.outlook.com."]),
    ("m365.mailtest.test", "MX", ["0 m365-mailtest-test.mail.protection.outlook.com."]),
    ("gmail.mailtest.test", "MX", ["5 gmail-smtp-in.l.google.com."]),
    ("workspace.mailtest.test", "MX", ["1 smtp.google.com."]),
    ("uol.mailtest.test", "MX", ["10 mx.uol.com.br."]),
    ("proofpoint.mailtest.test", "MX", ["10 mx0a-00123.pphosted.com."]),
    ("firma.mailtest.test", "MX", ["10 mx.firma.mailtest.test."]),
    ("mx.firma.mailtest.test", "A", ["192.0.2.20"]),
    ("_domainkey.good.mailtest.test", "TXT", dns.resolver.NoAnswer),  # empty non-terminal
    ("_domainkey.aonly.mailtest.test", "TXT", dns.resolver.NXDOMAIN),
    ("doesnotexist.mailtest.test", "MX", dns.resolver.NXDOMAIN),
    ("a.b.doesnotexist.mailtest.test", "TXT", dns.resolver.NXDOMAIN),
    ("2.0.0.127.zen.test", "A", ["127.0.0.2"]),
    ("2.0.0.127.zen.test", "TXT", ['"listed: test point"']),
    ("99.2.0.192.zen.test", "A", ["127.0.0.2", "127.0.0.4"]),
    ("98.2.0.192.zen.test", "A", ["127.255.255.254"]),
    ("1.0.0.127.zen.test", "A", dns.resolver.NXDOMAIN),
    ("0.0.127.zen.test", "A", dns.resolver.NoAnswer),  # empty non-terminal
    ("10.2.0.192.in-addr.arpa", "PTR", ["mx1.good.mailtest.test."]),
    ("11.2.0.192.in-addr.arpa", "PTR", dns.resolver.NXDOMAIN),
]


@pytest.mark.parametrize(("name", "rdtype", "expected"), ANSWERS)
async def test_answers(
    dns_server: DNSServer, name: str, rdtype: str, expected: list[str] | type[Exception]
) -> None:
    res = resolver(dns_server.address)
    if isinstance(expected, list):
        assert texts(await res.resolve(name, rdtype)) == expected
    else:
        with pytest.raises(expected):
            await res.resolve(name, rdtype)


async def test_mx_in_preference_order(dns_server: DNSServer) -> None:
    answer = await resolver(dns_server.address).resolve("good.mailtest.test", "MX")
    mx = sorted((rdata.preference, rdata.exchange.to_text()) for rdata in answer)
    assert mx == [(10, "mx1.good.mailtest.test."), (20, "mx2.good.mailtest.test.")]
    assert answer.response.flags & dns.flags.AA


async def test_mx_targets_in_additional_section(dns_server: DNSServer) -> None:
    reply = await query(dns_server, "good.mailtest.test", "MX")
    additional = {
        (rrset.name.to_text(), dns.rdatatype.to_text(rrset.rdtype)) for rrset in reply.additional
    }
    assert additional == {
        ("mx1.good.mailtest.test.", "A"),
        ("mx2.good.mailtest.test.", "A"),
        ("mx2.good.mailtest.test.", "AAAA"),
    }


async def test_null_mx(dns_server: DNSServer) -> None:
    [rdata] = await resolver(dns_server.address).resolve("nullmx.mailtest.test", "MX")
    assert rdata.preference == 0
    assert rdata.exchange == dns.name.root


@pytest.mark.parametrize(
    ("name", "rdtype", "rcode"),
    [
        ("aonly.mailtest.test", "MX", dns.rcode.NOERROR),
        ("_domainkey.good.mailtest.test", "TXT", dns.rcode.NOERROR),
        ("doesnotexist.mailtest.test", "MX", dns.rcode.NXDOMAIN),
        ("_domainkey.aonly.mailtest.test", "TXT", dns.rcode.NXDOMAIN),
    ],
)
async def test_negative_answers_carry_soa(
    dns_server: DNSServer, name: str, rdtype: str, rcode: dns.rcode.Rcode
) -> None:
    reply = await query(dns_server, name, rdtype)
    assert reply.rcode() == rcode
    assert reply.flags & dns.flags.AA
    assert not reply.answer
    [soa] = reply.authority
    assert soa.rdtype == dns.rdatatype.SOA
    assert soa.name == dns.name.from_text("mailtest.test")


async def test_cname_chased_in_zone(dns_server: DNSServer) -> None:
    answer = await resolver(dns_server.address).resolve("alias.cnamemx.mailtest.test", "A")
    assert answer.canonical_name == dns.name.from_text("real.cnamemx.mailtest.test")
    assert texts(answer) == ["192.0.2.12"]
    assert [rrset.rdtype for rrset in answer.response.answer] == [
        dns.rdatatype.CNAME,
        dns.rdatatype.A,
    ]


async def test_cname_to_nodata(dns_server: DNSServer) -> None:
    with pytest.raises(dns.resolver.NoAnswer):
        await resolver(dns_server.address).resolve("alias.cnamemx.mailtest.test", "MX")


@pytest.mark.parametrize(
    ("name", "rcode"), [("broken.test", "SERVFAIL"), ("example.org", "REFUSED")]
)
async def test_could_not_check(dns_server: DNSServer, name: str, rcode: str) -> None:
    with pytest.raises(dns.resolver.NoNameservers) as caught:
        await resolver(dns_server.address).resolve(name, "MX")
    errors = caught.value.kwargs["errors"]
    assert errors
    assert all(rcode in str(error[3]) for error in errors)


async def test_broken_zone_fails_below_apex_too(dns_server: DNSServer) -> None:
    reply = await query(dns_server, "mx.broken.test", "A")
    assert reply.rcode() == dns.rcode.SERVFAIL
    assert not reply.flags & dns.flags.AA


async def test_outside_every_zone_is_refused(dns_server: DNSServer) -> None:
    reply = await query(dns_server, "example.org", "A")
    assert reply.rcode() == dns.rcode.REFUSED
    assert not reply.flags & dns.flags.AA


async def test_txt_with_two_character_strings(dns_server: DNSServer) -> None:
    [rdata] = await resolver(dns_server.address).resolve("longspf.mailtest.test", "TXT")
    first, second = rdata.strings
    assert len(first) <= 255
    record = (first + second).decode()
    assert len(record) > 255
    assert record.startswith(LONGSPF_START)
    assert record.endswith(" -all")


async def test_ptr(dns_server: DNSServer) -> None:
    answer = await resolver(dns_server.address).resolve_address("192.0.2.10")
    assert texts(answer) == ["mx1.good.mailtest.test."]


async def test_big_answer_truncated_over_udp_whole_over_tcp(dns_server: DNSServer) -> None:
    udp = await query(dns_server, "big.mailtest.test", "TXT")
    assert udp.flags & dns.flags.TC
    tcp = await query(dns_server, "big.mailtest.test", "TXT", tcp=True)
    assert not tcp.flags & dns.flags.TC
    assert len(tcp.answer[0]) == 30
    # The resolver sees TC and retries over TCP by itself.
    assert len(await resolver(dns_server.address).resolve("big.mailtest.test", "TXT")) == 30


async def test_blackhole_times_out_within_lifetime(blackhole: str) -> None:
    started = time.monotonic()
    with pytest.raises(dns.resolver.LifetimeTimeout):
        await resolver(blackhole, timeout=0.1, lifetime=0.3).resolve("good.mailtest.test", "MX")
    # dnspython overshoots the lifetime by its retry backoff (0.5 s measured here; dns.md 2.2).
    assert 0.3 <= time.monotonic() - started < 0.3 + 0.5


async def test_blackhole_hard_deadline(blackhole: str) -> None:
    res = resolver(blackhole, timeout=0.1, lifetime=5.0)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(res.resolve("good.mailtest.test", "MX"), 0.2)
    assert time.monotonic() - started < 0.2 + 0.1


async def test_blackhole_over_tcp_times_out(blackhole: str) -> None:
    with pytest.raises(dns.resolver.LifetimeTimeout):
        await resolver(blackhole, timeout=0.1, lifetime=0.2).resolve(
            "good.mailtest.test", "MX", tcp=True
        )


async def test_failover_past_blackhole(blackhole: str, dns_server: DNSServer) -> None:
    res = resolver(blackhole, dns_server.address, timeout=0.1, lifetime=1.0)
    assert texts(await res.resolve("aonly.mailtest.test", "A")) == ["192.0.2.3"]


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
async def test_delay_applies_to_each_query_concurrently(
    slow_dns_server: DNSServer, tcp: bool
) -> None:
    res = resolver(slow_dns_server.address)
    started = time.monotonic()
    answers = await asyncio.gather(
        *(res.resolve("good.mailtest.test", "MX", tcp=tcp) for _ in range(10))
    )
    elapsed = time.monotonic() - started
    assert all(len(answer) == 2 for answer in answers)
    assert 0.2 <= elapsed < 0.6  # serialised, it would take 10 x 0.2 s


async def test_async_context_manager(tmp_path: Path) -> None:
    (tmp_path / "one.test.zone").write_text(
        "$TTL 60\n@ SOA ns1.test. h.one.test. 1 2 3 4 5\n@ NS ns1.test.\nwww A 192.0.2.7\n"
    )
    async with LocalDNSServer(tmp_path) as server:
        host, port = server.address
        assert port
        answer = await resolver(f"{host}:{port}").resolve("www.one.test", "A")
        assert texts(answer) == ["192.0.2.7"]


def test_unparsable_query_gets_formerr() -> None:
    server = LocalDNSServer(ZONE_DIR)
    query = dns.message.make_query("good.mailtest.test", "MX").to_wire()
    reply = server.respond(query[:14], tcp=False)
    assert reply is not None
    assert reply[:2] == query[:2]
    assert dns.rcode.from_flags(int.from_bytes(reply[2:4], "big"), 0) == dns.rcode.FORMERR
    assert server.respond(b"\x00\x01", tcp=False) is None


def test_responses_are_ignored() -> None:
    query = dns.message.make_query("good.mailtest.test", "MX")
    response = dns.message.make_response(query).to_wire()
    assert LocalDNSServer(ZONE_DIR).respond(response, tcp=False) is None


# Edge cases beyond tests/zones (wildcards, delegations, CNAME chains leaving the zone or
# looping), compared response for response with Knot.
EDGE_ZONE = """\
$ORIGIN edge.test.
$TTL 600
@        3600 SOA ns1.test. h.edge.test. 1 3600 600 86400 120
         NS    ns1.test.
c2nx     CNAME nothere.edge.test.
c2out    CNAME www.example.org.
c2c      CNAME c2nx.edge.test.
loop1    CNAME loop2.edge.test.
loop2    CNAME loop1.edge.test.
*.wild   TXT   "wild"
*.wild   MX    10 mx.wild.edge.test.
mx.wild  A     192.0.2.1
sub.wild A     192.0.2.2
deleg    NS    ns.deleg.edge.test.
ns.deleg A     192.0.2.53
x.y.deleg A    192.0.2.54
c2wild   CNAME foo.wild.edge.test.
"""
EDGE_PROBES = [
    ("c2nx.edge.test", "A"),
    ("c2out.edge.test", "A"),
    ("c2c.edge.test", "A"),
    ("loop1.edge.test", "A"),
    ("loop1.edge.test", "CNAME"),
    ("foo.wild.edge.test", "TXT"),
    ("FOO.Wild.edge.test", "MX"),
    ("foo.wild.edge.test", "A"),
    ("a.b.wild.edge.test", "TXT"),
    ("sub.wild.edge.test", "TXT"),
    ("wild.edge.test", "TXT"),
    ("deleg.edge.test", "A"),
    ("x.y.deleg.edge.test", "A"),
    ("deleg.edge.test", "DS"),
    ("nope.edge.test", "A"),
    ("c2wild.edge.test", "TXT"),
    ("edge.test", "ANY"),
    ("edge.test", "SOA"),
]
ZONE_PROBES = [(name, rdtype) for name, rdtype, _ in ANSWERS] + [
    ("good.mailtest.test", "MX"),
    ("GOOD.MailTest.TEST", "MX"),
    ("good.mailtest.test", "ANY"),
    ("alias.cnamemx.mailtest.test", "A"),
    ("alias.cnamemx.mailtest.test", "MX"),
    ("alias.cnamemx.mailtest.test", "CNAME"),
    ("longspf.mailtest.test", "TXT"),
    ("big.mailtest.test", "TXT"),
    ("mailtest.test", "SOA"),
    ("mailtest.test", "NS"),
    ("broken.test", "SOA"),
    ("example.org", "A"),
    ("test", "SOA"),
]


def _summary(reply: dns.message.Message) -> tuple[object, ...]:
    return (
        dns.rcode.to_text(reply.rcode()),
        dns.flags.to_text(reply.flags),
        reply.edns,
        [[rrset.to_text() for rrset in section] for section in reply.sections[1:]],
    )


async def _differences(
    probes: list[tuple[str, str]], local: DNSServer, knot: DNSServer
) -> list[str]:
    differences = []
    for name, rdtype in probes:
        for edns, tcp in [(0, False), (None, False), (0, True)]:
            message = dns.message.make_query(name, rdtype, use_edns=edns)
            replies = []
            for server in (local, knot):
                if tcp:
                    reply = await dns.asyncquery.tcp(
                        message, server.host, port=server.port, timeout=TIMEOUT
                    )
                else:
                    reply = await dns.asyncquery.udp(
                        message,
                        server.host,
                        port=server.port,
                        timeout=TIMEOUT,
                        raise_on_truncation=False,
                    )
                replies.append(_summary(reply))
            if replies[0] != replies[1]:
                differences.append(f"{name} {rdtype} edns={edns} tcp={tcp}: {replies}")
    return differences


@pytest.mark.knot
async def test_same_responses_as_knot(localdns_server: DNSServer, knot_server: DNSServer) -> None:
    assert await _differences(ZONE_PROBES, localdns_server, knot_server) == []


@pytest.mark.knot
async def test_same_edge_case_responses_as_knot(tmp_path: Path) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "edge.test.zone").write_text(EDGE_ZONE)
    with (
        run_knot(zones, tmp_path / "knot") as knot,
        serve_in_thread(zones) as (host, port),
    ):
        differences = await _differences(EDGE_PROBES, DNSServer(host, port, "localdns"), knot)
    assert differences == []
