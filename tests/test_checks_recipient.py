"""Recipient-domain checks against real DNS servers on loopback (ours and Knot)."""

from __future__ import annotations

import time

import pytest

from bot.checks import DNSClient, Outcome, check_recipient_domain
from bot.checks.dns import parse_nameservers
from tests.dnsfixtures import DNSServer


def client(server: DNSServer, timeout: float = 1.0) -> DNSClient:
    return DNSClient([(server.host, server.port)], timeout=timeout, cache=False)


async def test_mx_sorted_by_preference(dns_server: DNSServer) -> None:
    facts = await check_recipient_domain(client(dns_server), "good.mailtest.test")
    assert facts.exists is True
    assert facts.accepts_mail is True
    assert [h for _, h in facts.mx] == ["mx1.good.mailtest.test", "mx2.good.mailtest.test"]


async def test_nxdomain(dns_server: DNSServer) -> None:
    facts = await check_recipient_domain(client(dns_server), "doesnotexist.mailtest.test")
    assert (facts.exists, facts.accepts_mail, facts.inconclusive) == (False, False, False)


async def test_null_mx(dns_server: DNSServer) -> None:
    facts = await check_recipient_domain(client(dns_server), "nullmx.mailtest.test")
    assert facts.null_mx is True
    assert facts.accepts_mail is False


@pytest.mark.parametrize("domain", ["aonly.mailtest.test", "aaaaonly.mailtest.test"])
async def test_implicit_mx(dns_server: DNSServer, domain: str) -> None:
    facts = await check_recipient_domain(client(dns_server), domain)
    assert facts.implicit_mx is True
    assert facts.accepts_mail is True


async def test_no_mx_no_address(dns_server: DNSServer) -> None:
    facts = await check_recipient_domain(client(dns_server), "nomail.mailtest.test")
    assert (facts.exists, facts.accepts_mail, facts.inconclusive) == (True, False, False)


async def test_servfail_is_inconclusive(dns_server: DNSServer) -> None:
    facts = await check_recipient_domain(client(dns_server), "broken.test")
    assert facts.inconclusive is True
    assert facts.accepts_mail is None
    assert "SERVFAIL" in (facts.cause or "")


async def test_refused_is_inconclusive(dns_server: DNSServer) -> None:
    facts = await check_recipient_domain(client(dns_server), "example.org")
    assert facts.inconclusive is True
    assert "REFUSED" in (facts.cause or "")


async def test_timeout_is_inconclusive_within_the_deadline(blackhole: str) -> None:
    silent = DNSClient(parse_nameservers(blackhole), timeout=0.3, cache=False)
    started = time.monotonic()
    facts = await check_recipient_domain(silent, "good.mailtest.test")
    assert time.monotonic() - started < 1.5
    assert facts.inconclusive is True
    assert facts.exists is None
    assert "timeout" in (facts.cause or "")


async def test_split_txt_strings_are_joined(dns_server: DNSServer) -> None:
    lookup = await client(dns_server).lookup("longspf.mailtest.test", "TXT")
    assert lookup.outcome is Outcome.ANSWER
    (record,) = lookup.records
    assert record.startswith("v=spf1 ")
    assert record.endswith("-all")
    assert len(record) > 255


def test_nameserver_spec() -> None:
    assert parse_nameservers("127.0.0.1:5353, 10.0.0.1,[::1]:53") == [
        ("127.0.0.1", 5353),
        ("10.0.0.1", 53),
        ("::1", 53),
    ]
    with pytest.raises(ValueError, match="bad nameserver"):
        parse_nameservers("127.0.0.1:http")
