"""Sender-domain checks (SPF, DKIM, DMARC) against real DNS servers on loopback (ours and Knot)."""

from __future__ import annotations

import time

import pytest

from bot.checks import ChecksConfig, DNSClient, sender_domain
from bot.checks.dns import parse_nameservers
from bot.checks.orgdomain import organisational_domain
from bot.checks.sender import check_dkim, check_dmarc, check_spf
from tests.dnsfixtures import DNSServer

ESP = ChecksConfig(esp_spf_includes=("spf.esp.mailtest.test",))
ESP_BY_IP = ChecksConfig(sending_ips=("192.0.2.50",))


def client(server: DNSServer) -> DNSClient:
    return DNSClient([(server.host, server.port)], timeout=1.0, cache=False)


async def test_spf_authorises_the_esp_through_an_include(dns_server: DNSServer) -> None:
    spf = await check_spf(client(dns_server), "good.mailtest.test", ESP)
    assert (spf.present, spf.authorizes_esp, spf.problem) == (True, True, None)
    assert spf.lookups == 1
    assert spf.record == "v=spf1 include:spf.esp.mailtest.test -all"


async def test_spf_authorises_the_sending_ip(dns_server: DNSServer) -> None:
    spf = await check_spf(client(dns_server), "good.mailtest.test", ESP_BY_IP)
    assert spf.authorizes_esp is True
    outside = ChecksConfig(sending_ips=("203.0.113.9",))
    assert (
        await check_spf(client(dns_server), "good.mailtest.test", outside)
    ).authorizes_esp is False


async def test_nested_includes_and_ipv6(dns_server: DNSServer) -> None:
    config = ChecksConfig(sending_ips=("198.51.100.7", "2001:db8:5::25"))
    spf = await check_spf(client(dns_server), "esp.checks.test", config)
    assert (spf.authorizes_esp, spf.lookups, spf.problem) == (True, 3, None)


async def test_spf_without_the_esp(dns_server: DNSServer) -> None:
    spf = await check_spf(client(dns_server), "noesp.checks.test", ESP)
    assert (spf.present, spf.authorizes_esp, spf.problem) == (True, False, None)


async def test_a_failing_include_does_not_authorise(dns_server: DNSServer) -> None:
    spf = await check_spf(client(dns_server), "neginc.checks.test", ESP)
    assert spf.authorizes_esp is False


async def test_redirect_is_followed(dns_server: DNSServer) -> None:
    spf = await check_spf(client(dns_server), "redirect.checks.test", ESP)
    assert (spf.authorizes_esp, spf.lookups) == (True, 1)


async def test_nothing_after_all_counts(dns_server: DNSServer) -> None:
    spf = await check_spf(client(dns_server), "afterall.checks.test", ESP)
    assert (spf.authorizes_esp, spf.lookups) == (False, 0)


async def test_no_spf_record(dns_server: DNSServer) -> None:
    spf = await check_spf(client(dns_server), "nospf.checks.test", ESP)
    assert (spf.present, spf.exists, spf.authorizes_esp) == (False, True, False)
    unconfigured = await check_spf(client(dns_server), "nospf.checks.test", ChecksConfig())
    assert unconfigured.authorizes_esp is None


async def test_split_txt_strings_make_one_record(dns_server: DNSServer) -> None:
    spf = await check_spf(client(dns_server), "longspf.mailtest.test", ESP_BY_IP)
    assert spf.present is True
    assert spf.record is not None
    assert "ip4:192.0.2.17 ip4:192.0.2.18" in spf.record
    assert spf.authorizes_esp is False  # 192.0.2.50 is not among the 23 addresses


async def test_include_loop(dns_server: DNSServer) -> None:
    spf = await check_spf(client(dns_server), "loop.checks.test", ESP)
    assert spf.problem is not None
    assert "include loop" in spf.problem
    assert "loop.checks.test → loop2.checks.test → loop.checks.test" in spf.problem
    assert spf.authorizes_esp is False


async def test_more_than_ten_lookups(dns_server: DNSServer) -> None:
    spf = await check_spf(client(dns_server), "many.checks.test", ESP)
    assert spf.lookups == 11
    assert spf.problem is not None
    assert "too many DNS lookups: 11" in spf.problem
    assert spf.authorizes_esp is False  # a permanent error fails SPF at the receiver


async def test_void_lookups_and_missing_included_records(dns_server: DNSServer) -> None:
    spf = await check_spf(client(dns_server), "void.checks.test", ESP)
    assert spf.problem is not None
    assert "too many void lookups: 3" in spf.problem
    assert "nx1.checks.test (included by void.checks.test) has no SPF record" in spf.problem


async def test_two_spf_records(dns_server: DNSServer) -> None:
    spf = await check_spf(client(dns_server), "twospf.checks.test", ESP)
    assert spf.problem is not None
    assert "2 SPF records" in spf.problem
    assert spf.authorizes_esp is False


async def test_servfail_in_an_include_is_inconclusive_not_a_verdict(dns_server: DNSServer) -> None:
    spf = await check_spf(client(dns_server), "spfbroken.checks.test", ESP)
    # The ESP's own include answered, so that much is known; the broken one is reported.
    assert spf.authorizes_esp is True
    assert spf.inconclusive is True
    assert "SERVFAIL" in (spf.cause or "")
    other = ChecksConfig(esp_spf_includes=("sendgrid.net",))
    assert (
        await check_spf(client(dns_server), "spfbroken.checks.test", other)
    ).authorizes_esp is None


@pytest.mark.parametrize(
    ("domain", "cause"), [("broken.test", "SERVFAIL"), ("example.org", "REFUSED")]
)
async def test_unanswerable_sender_domain(dns_server: DNSServer, domain: str, cause: str) -> None:
    dns = client(dns_server)
    spf = await check_spf(dns, domain, ESP)
    dkim = await check_dkim(dns, domain, ESP)
    dmarc = await check_dmarc(dns, domain, ESP)
    assert (spf.present, spf.authorizes_esp, dkim.present, dmarc.present) == (None,) * 4
    for part in (spf, dkim, dmarc):
        assert part.inconclusive is True
        assert cause in (part.cause or "")


async def test_timeouts_are_inconclusive(blackhole: str) -> None:
    dns = DNSClient(parse_nameservers(blackhole), timeout=0.2, cache=False)
    started = time.monotonic()
    spf = await check_spf(dns, "good.mailtest.test", ESP)
    assert spf.present is None
    assert "timeout" in (spf.cause or "")
    assert time.monotonic() - started < 1.0


async def test_dkim_configured_selector(dns_server: DNSServer) -> None:
    config = ChecksConfig(dkim_selectors=("pm", "s1"))
    dkim = await check_dkim(client(dns_server), "good.mailtest.test", config)
    assert (dkim.present, dkim.selectors) == (True, ("s1",))


async def test_dkim_revoked_or_missing_selector(dns_server: DNSServer) -> None:
    config = ChecksConfig(dkim_selectors=("old", "missing"))
    dkim = await check_dkim(client(dns_server), "esp.checks.test", config)
    assert (dkim.present, dkim.inconclusive) == (False, False)


@pytest.mark.parametrize(
    ("domain", "present"),
    [("good.mailtest.test", True), ("aonly.mailtest.test", False), ("esp.checks.test", True)],
)
async def test_dkim_any_selector_by_the_domainkey_node(
    dns_server: DNSServer, domain: str, present: bool
) -> None:
    dkim = await check_dkim(client(dns_server), domain, ChecksConfig())
    assert dkim.present is present


async def test_dkim_at_the_esp_signing_domain(dns_server: DNSServer) -> None:
    config = ChecksConfig(esp_signing_domain="good.mailtest.test", dkim_selectors=("s1",))
    dkim = await check_dkim(client(dns_server), "nospf.checks.test", config)
    assert (dkim.present, dkim.domain) == (True, "good.mailtest.test")


async def test_dmarc_own_record(dns_server: DNSServer) -> None:
    dmarc = await check_dmarc(client(dns_server), "good.mailtest.test", ESP)
    assert (dmarc.present, dmarc.policy, dmarc.domain) == (True, "reject", "good.mailtest.test")
    assert dmarc.aligned is None  # no signing or return-path domain configured


async def test_dmarc_falls_back_to_the_organisational_domain(dns_server: DNSServer) -> None:
    dmarc = await check_dmarc(client(dns_server), "nospf.checks.test", ESP)
    # checks.test says p=none; sp=quarantine: subdomains get sp.
    assert (dmarc.present, dmarc.policy, dmarc.domain) == (True, "quarantine", "checks.test")


async def test_no_dmarc_anywhere(dns_server: DNSServer) -> None:
    dmarc = await check_dmarc(client(dns_server), "firma.mailtest.test", ESP)
    assert (dmarc.present, dmarc.policy, dmarc.inconclusive) == (False, None, False)


async def test_two_dmarc_records_count_as_none(dns_server: DNSServer) -> None:
    dmarc = await check_dmarc(client(dns_server), "twodmarc.checks.test", ESP)
    assert dmarc.present is False
    assert dmarc.problem is not None
    assert "2 DMARC records" in dmarc.problem


@pytest.mark.parametrize(
    ("signing", "return_path", "aligned"),
    [
        ("esp.checks.test", None, True),  # adkim=s, same domain
        ("mail.esp.checks.test", None, False),  # adkim=s, a subdomain does not align
        (None, "bounces.esp.checks.test", True),  # aspf=r: same organisational domain
        ("esp-mailer.example", "bounces.esp-mailer.example", False),
        (None, None, None),
    ],
)
async def test_dmarc_alignment(
    dns_server: DNSServer, signing: str | None, return_path: str | None, aligned: bool | None
) -> None:
    config = ChecksConfig(esp_signing_domain=signing, esp_return_path_domain=return_path)
    dmarc = await check_dmarc(client(dns_server), "esp.checks.test", config)
    assert (dmarc.policy, dmarc.aligned) == ("reject", aligned)


@pytest.mark.parametrize(
    ("domain", "org"),
    [
        ("firma.no", "firma.no"),
        ("mail.firma.no", "firma.no"),
        ("nf.loja.com.br", "loja.com.br"),
        ("loja.com.br", "loja.com.br"),
        ("a.b.firma.co.uk", "firma.co.uk"),
        ("com.br", "com.br"),
        ("esp.checks.test", "checks.test"),
    ],
)
def test_organisational_domain(domain: str, org: str) -> None:
    assert organisational_domain(domain) == org


async def test_sending_domain_that_does_not_exist(dns_server: DNSServer) -> None:
    spf = await check_spf(client(dns_server), "acme.mailtest.test", ESP)
    assert (spf.present, spf.exists, spf.authorizes_esp) == (False, False, False)


def test_sender_domain_from_the_dispatch_or_configured() -> None:
    config = ChecksConfig(sender_domain="firma.no")
    assert sender_domain("Faktura <faktura@Bæker.no>", config) == "xn--bker-voa.no"
    assert sender_domain("faktura@regnskap.no", config) == "regnskap.no"
    assert sender_domain("rechnung@Straße.de", config) == "xn--strae-oqa.de"
    assert sender_domain("", config) == "firma.no"
    assert sender_domain(None, ChecksConfig()) is None
