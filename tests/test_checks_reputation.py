"""Blocklist (DNSBL) checks: a listing, the list's error codes, and every way of not knowing."""

from __future__ import annotations

import pytest

from bot.checks import DNSClient
from bot.checks.dns import parse_nameservers
from bot.checks.reputation import check_dnsbl, check_reputation, dnsbl_name
from tests.dnsfixtures import DNSServer


def client(server: DNSServer) -> DNSClient:
    return DNSClient([(server.host, server.port)], timeout=1.0, cache=False)


def test_query_names() -> None:
    assert dnsbl_name("192.0.2.99", "zen.test") == "99.2.0.192.zen.test"
    assert dnsbl_name("2001:db8::99", "dnsbl.test") == (
        "9.9.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.dnsbl.test"
    )


@pytest.mark.parametrize(
    ("ip", "zone", "listed", "codes"),
    [
        ("127.0.0.2", "zen.test", True, ("127.0.0.2",)),
        ("192.0.2.99", "zen.test", True, ("127.0.0.2", "127.0.0.4")),
        ("192.0.2.99", "dnsbl.test", True, ("127.0.0.3",)),
        ("2001:db8::99", "dnsbl.test", True, ("127.0.0.2",)),
        ("127.0.0.1", "zen.test", False, ()),
        ("192.0.2.10", "dnsbl.test", False, ()),
    ],
)
async def test_listed_or_not(
    dns_server: DNSServer, ip: str, zone: str, listed: bool, codes: tuple[str, ...]
) -> None:
    result = await check_dnsbl(client(dns_server), ip, zone)
    assert (result.listed, result.codes, result.cause) == (listed, codes, None)


async def test_error_code_is_not_a_listing(dns_server: DNSServer) -> None:
    result = await check_dnsbl(client(dns_server), "192.0.2.98", "zen.test")
    assert result.listed is None
    assert result.cause is not None
    assert "127.255.255.254" in result.cause
    assert "refused" in result.cause


async def test_an_answer_outside_loopback_is_not_a_listing(dns_server: DNSServer) -> None:
    result = await check_dnsbl(client(dns_server), "192.0.2.97", "dnsbl.test")
    assert result.listed is None
    assert result.cause is not None
    assert "203.0.113.7" in result.cause


@pytest.mark.parametrize(
    ("zone", "cause"), [("broken.test", "SERVFAIL"), ("bl.example", "REFUSED")]
)
async def test_unanswerable_list(dns_server: DNSServer, zone: str, cause: str) -> None:
    result = await check_dnsbl(client(dns_server), "192.0.2.99", zone)
    assert result.listed is None
    assert cause in (result.cause or "")


async def test_silent_list_times_out_inconclusive(blackhole: str) -> None:
    dns = DNSClient(parse_nameservers(blackhole), timeout=0.2, cache=False)
    result = await check_dnsbl(dns, "192.0.2.99", "zen.test")
    assert result.listed is None
    assert "timeout" in (result.cause or "")


async def test_facts_combine_every_ip_and_list(dns_server: DNSServer) -> None:
    facts = (
        await check_reputation(
            client(dns_server), ["192.0.2.99", "192.0.2.98"], ["zen.test", "dnsbl.test"]
        )
    ).as_facts()
    assert facts["listed"] is True
    assert facts["inconclusive"] is True  # 192.0.2.98 on zen.test answered an error code
    assert {(x["ip"], x["zone"]) for x in facts["listings"]} == {
        ("192.0.2.99", "zen.test"),
        ("192.0.2.99", "dnsbl.test"),
    }
    assert len(facts["checked"]) == 4


async def test_clean_everywhere(dns_server: DNSServer) -> None:
    facts = (
        await check_reputation(client(dns_server), ["127.0.0.1"], ["zen.test", "dnsbl.test"])
    ).as_facts()
    assert (facts["listed"], facts["inconclusive"], facts["listings"]) == (False, False, [])


async def test_nothing_configured_is_unknown_not_clean(dns_server: DNSServer) -> None:
    facts = (await check_reputation(client(dns_server), [], [])).as_facts()
    assert (facts["listed"], facts["inconclusive"]) == (None, False)
