"""Address syntax and normalisation, IDN included (no network: email-validator's DNS is off)."""

from __future__ import annotations

import idna
import pytest

from bot.addresses import ascii_domain, normalise_address
from bot.checks import Address, InvalidAddress, check_address, parse_address


@pytest.mark.parametrize(
    ("typed", "normalised"),
    [
        ("Ola.Nordmann@Firma.NO", "ola.nordmann@firma.no"),
        ("kari@xn--bker-voa.no", "kari@xn--bker-voa.no"),
        ("kari@bæker.no", "kari@xn--bker-voa.no"),
        ("joão@provedor.com.br", "joão@provedor.com.br"),
        ("anna@Straße.de", "anna@xn--strae-oqa.de"),  # IDNA 2008: not strasse.de
        ("post@nullmx.mailtest.test", "post@nullmx.mailtest.test"),
    ],
)
def test_normalised_to_the_stored_form(typed: str, normalised: str) -> None:
    assert check_address(typed) == normalised


def test_idn_domain_keeps_its_unicode_form_for_people() -> None:
    parsed = parse_address("Kari@Bæker.no")
    assert isinstance(parsed, Address)
    assert parsed.domain == "xn--bker-voa.no"
    assert parsed.unicode_domain == "bæker.no"
    assert parsed.local == "kari"


@pytest.mark.parametrize(
    "typed",
    [
        "ola@",
        "ola@firma",
        "ola..nordmann@firma.no",
        '"ola nordmann"@firma.no',
        "ola@[192.0.2.1]",
        "ola@-firma.no",
        "ola@localhost",
    ],
)
def test_invalid_addresses_say_why(typed: str) -> None:
    result = check_address(typed)
    assert isinstance(result, InvalidAddress)
    assert result.text == typed
    assert result.problem


def test_stored_forms_match_the_asked_form() -> None:
    """ESP events are normalised with normalise_address; questions through check_address."""
    assert normalise_address("Anna@Straße.de") == check_address("Anna@Straße.de")
    assert normalise_address("x@[not a domain") == "x@[not a domain"


@pytest.mark.parametrize(
    "domain",
    ["Example.COM", "xn--strae-oqa.de", "XN--STRAE-OQA.DE", "a..b", "under_score.no", "-bad-.no",
     "x" * 70 + ".no", "", "trailing.", "xn--zz.no", "Straße.DE", "ÆRØ.dk", "bücher.example"],
)  # fmt: skip
def test_ascii_domain_is_what_uts46_makes_of_it(domain: str) -> None:
    # ASCII names skip the IDNA library; the answer must be the one it would have given.
    try:
        expected = idna.encode(domain, uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError):
        expected = domain.lower()
    assert ascii_domain(domain) == expected
