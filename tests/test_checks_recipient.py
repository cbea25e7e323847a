"""Recipient-domain checks against real DNS servers on loopback (ours and Knot)."""

from __future__ import annotations

import time

import pytest

from bot.checks import DNSClient, DomainFacts, Outcome, check_recipient_domain
from bot.checks.dns import parse_nameservers
from bot.checks.providers import load_table, parse_table
from bot.checks.settings import SHIPPED_PROVIDERS
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


# --- MX host addresses, providers, gateways, typo suggestions --------------------------------

SHIPPED = load_table(SHIPPED_PROVIDERS)


async def recipient(server: DNSServer, domain: str) -> DomainFacts:
    return await check_recipient_domain(client(server), domain, SHIPPED)


async def test_mx_hosts_resolve(dns_server: DNSServer) -> None:
    facts = await recipient(dns_server, "good.mailtest.test")
    assert facts.mx_resolves is True
    assert facts.mx_unresolved == ()
    assert facts.provider is None
    assert facts.gateway is None


async def test_dangling_mx(dns_server: DNSServer) -> None:
    facts = await recipient(dns_server, "danglingmx.mailtest.test")
    assert facts.accepts_mail is True
    assert facts.mx_resolves is False
    assert facts.mx_unresolved == ("nohost.mailtest.test",)
    assert facts.inconclusive is False


async def test_one_dangling_mx_of_two_still_resolves(dns_server: DNSServer) -> None:
    facts = await recipient(dns_server, "halfdangling.checks.test")
    assert facts.mx_resolves is True
    assert facts.mx_unresolved == ("nohost.checks.test",)


async def test_cnamed_mx_resolves(dns_server: DNSServer) -> None:
    facts = await recipient(dns_server, "cnamemx.mailtest.test")
    assert facts.mx == ((10, "alias.cnamemx.mailtest.test"),)
    assert facts.mx_resolves is True


async def test_mx_host_lookups_that_fail_leave_resolves_unknown(dns_server: DNSServer) -> None:
    # The Outlook host is outside every test zone: REFUSED, so whether it resolves is unknown.
    facts = await recipient(dns_server, "outlook.mailtest.test")
    assert facts.mx_resolves is None
    assert "REFUSED" in (facts.cause or "")
    assert facts.inconclusive is False


async def test_implicit_mx_resolves(dns_server: DNSServer) -> None:
    facts = await recipient(dns_server, "aonly.mailtest.test")
    assert facts.mx_resolves is True


@pytest.mark.parametrize(
    ("domain", "provider", "gateway"),
    [
        ("outlook.mailtest.test", "outlook", None),
        ("m365.mailtest.test", "microsoft365", None),
        ("gmail.mailtest.test", "gmail", None),
        ("workspace.mailtest.test", "google_workspace", None),
        ("uol.mailtest.test", "uol", None),
        ("proofpoint.mailtest.test", None, "proofpoint"),
        ("mimecast.checks.test", None, "mimecast"),
        ("gwmix.checks.test", "microsoft365", "proofpoint"),
        ("yahoo.checks.test", "yahoo", None),
        ("icloud.checks.test", "icloud", None),
        ("ses.checks.test", "amazon_ses", None),
        ("unknownmx.checks.test", None, None),
        ("firma.mailtest.test", None, None),
    ],
)
async def test_provider_and_gateway(
    dns_server: DNSServer, domain: str, provider: str | None, gateway: str | None
) -> None:
    facts = (await recipient(dns_server, domain)).as_facts()
    assert (facts["provider"], facts["gateway"]) == (provider, gateway)
    if provider:
        assert facts["provider_name"]
    if gateway:
        assert facts["gateway_name"]


TYPO_TABLE = parse_table(
    {
        "providers": [{"id": "firma", "name": "Firma", "domains": ["firma.mailtest.test"]}],
        "popular_domains": ["good.mailtest.test", "nullmx.mailtest.test"],
    }
)


@pytest.mark.parametrize(
    ("typed", "suggestion"),
    [
        ("frima.mailtest.test", "firma.mailtest.test"),  # NXDOMAIN: suggested
        ("nulmx.mailtest.test", "nullmx.mailtest.test"),  # NXDOMAIN
        ("firma.mailtest.test", None),  # on the list itself
    ],
)
async def test_typo_suggested_only_when_dns_backs_it(
    dns_server: DNSServer, typed: str, suggestion: str | None
) -> None:
    facts = await check_recipient_domain(client(dns_server), typed, TYPO_TABLE)
    assert facts.suggestion == suggestion


async def test_typo_candidate_of_a_working_domain_is_not_a_suggestion(
    dns_server: DNSServer,
) -> None:
    table = parse_table({"providers": [], "popular_domains": ["goad.mailtest.test"]})
    facts = await check_recipient_domain(client(dns_server), "good.mailtest.test", table)
    assert facts.typo_candidate == "goad.mailtest.test"
    assert facts.suggestion is None


async def test_no_suggestion_when_dns_is_inconclusive(blackhole: str) -> None:
    silent = DNSClient(parse_nameservers(blackhole), timeout=0.2, cache=False)
    facts = await check_recipient_domain(silent, "gmial.com", SHIPPED)
    assert facts.inconclusive is True
    assert facts.typo_candidate == "gmail.com"
    assert facts.suggestion is None
    assert facts.provider is None


async def test_provider_from_the_domain_even_when_dns_fails(blackhole: str) -> None:
    silent = DNSClient(parse_nameservers(blackhole), timeout=0.2, cache=False)
    facts = await check_recipient_domain(silent, "hotmail.no", SHIPPED)
    assert facts.provider == "outlook"
