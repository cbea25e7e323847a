"""The provider table: label-boundary suffixes, longest match, wildcards, editable data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.checks.providers import identify, load_table, parse_table
from bot.checks.settings import SHIPPED_PROVIDERS

TABLE = load_table(SHIPPED_PROVIDERS)


@pytest.mark.parametrize(
    ("host", "provider"),
    [
        ("gmail-smtp-in.l.google.com", "gmail"),
        ("alt1.gmail-smtp-in.l.google.com.", "gmail"),
        ("aspmx.l.google.com", "google_workspace"),
        ("alt2.aspmx.l.google.com", "google_workspace"),
        ("smtp.google.com", "google_workspace"),
        ("firma-no.mail.protection.outlook.com", "microsoft365"),
        ("firma-no.r-v1.mx.microsoft", "microsoft365"),
        ("hotmail-com.olc.protection.outlook.com", "outlook"),
        ("eur.olc.protection.outlook.com", "outlook"),
        ("mta7.am0.yahoodns.net", "yahoo"),
        ("mx-aol.mail.gm0.yahoodns.net", "aol"),
        ("mx01.mail.icloud.com", "icloud"),
        ("mx00.gmx.net", "gmx"),
        ("mx.uol.com.br", "uol"),
        ("mx.bol.com.br", "bol"),
        ("mx.terra.com.br", "terra"),
        ("mx0a-00123.pphosted.com", "proofpoint"),
        ("mx1-eu1.ppe-hosted.com", "proofpoint_essentials"),
        ("eu-smtp-inbound-1.mimecast.com", "mimecast"),
        ("d12345a.ess.barracudanetworks.com", "barracuda"),
        ("mx1.hc1234-56.iphmx.com", "cisco"),
        ("firma.in.tmes.trendmicro.eu", "trendmicro"),
        ("mx-01-eu-central-1.prod.hydra.sophos.com", "sophos"),
        ("cluster1.eu.messagelabs.com", "symantec"),
        ("mx01.hornetsecurity.com", "hornetsecurity"),
        ("mx.spamexperts.antispamcloud.com", "spamexperts"),
        ("inbound-smtp.eu-west-1.amazonaws.com", "amazon_ses"),
        ("in1-smtp.messagingengine.com", "fastmail"),
        ("mail.protonmail.ch", "proton"),
    ],
)
def test_mx_suffixes(host: str, provider: str) -> None:
    entry = TABLE.by_mx(host)
    assert entry is not None
    assert entry.id == provider


@pytest.mark.parametrize(
    "host", ["xpphosted.com", "pphosted.com.evil.example", "mx.firma.no", "notgoogle.com"]
)
def test_only_whole_labels_match(host: str) -> None:
    assert TABLE.by_mx(host) is None


def test_kinds() -> None:
    assert {p.kind for p in TABLE.providers} <= {"mailbox", "gateway", "forwarder", "inbound"}
    gateways = {p.id for p in TABLE.providers if p.kind == "gateway"}
    assert {
        "proofpoint",
        "mimecast",
        "barracuda",
        "cisco",
        "trendmicro",
        "sophos",
        "symantec",
        "hornetsecurity",
        "spamexperts",
    } <= gateways


def test_the_domain_names_the_brand_behind_a_shared_mx() -> None:
    # BOL mail may be served by UOL's MX: the address still belongs to BOL.
    who = identify(TABLE, "bol.com.br", ["mx.uol.com.br"])
    assert who.provider is not None
    assert who.provider.id == "bol"


def test_gateway_first_then_provider_from_a_backup_mx() -> None:
    who = identify(
        TABLE, "firma.no", ["mx0a-1.pphosted.com", "firma-no.mail.protection.outlook.com"]
    )
    assert who.gateway is not None
    assert who.gateway.id == "proofpoint"
    assert who.provider is not None
    assert who.provider.id == "microsoft365"


def test_editors_extend_the_table_and_a_broken_edit_keeps_the_last_good(tmp_path: Path) -> None:
    path = tmp_path / "providers.yml"
    path.write_text("providers:\n  - {id: acme, name: Acme Mail, mx: [mx.acme.example]}\n")
    entry = load_table(path).by_mx("in.mx.acme.example")
    assert entry is not None
    assert entry.name == "Acme Mail"
    path.write_text("providers: [ {id: acme, kind: wrong} ]\n")
    os.utime(path, ns=(1, 1))  # a new mtime, whatever the clock's resolution
    assert load_table(path).by_mx("in.mx.acme.example") is not None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "providers"),
        ({"providers": [{"id": "a"}, {"id": "a"}]}, "id"),
        ({"providers": [{"id": "a", "kind": "spam"}]}, "kind"),
        ({"providers": [{"id": "a", "mx": "x.example"}]}, "mx"),
    ],
)
def test_bad_tables_are_refused_with_the_entry(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_table(data)
