"""Typo suggestions against the shipped list: close misses found, real neighbours left alone."""

from __future__ import annotations

import pytest

from bot.checks.providers import load_table
from bot.checks.settings import SHIPPED_PROVIDERS
from bot.checks.typos import osa_distance, typo_candidate

POPULAR = load_table(SHIPPED_PROVIDERS).popular_domains


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("gmial.com", "gmail.com"),
        ("gmai.com", "gmail.com"),
        ("gmail.con", "gmail.com"),
        ("gnail.com", "gmail.com"),
        ("hotmial.com", "hotmail.com"),
        ("hotnail.con", "hotmail.com"),
        ("outlok.com", "outlook.com"),
        ("yaho.com", "yahoo.com"),
        ("yahoo.com.bt", "yahoo.com.br"),
        ("uol.com.bf", "uol.com.br"),
        ("uol.cm.br", "uol.com.br"),
        ("bol.com.bf", "bol.com.br"),
        ("terra.com.bt", "terra.com.br"),
        ("ig.com.bt", "ig.com.br"),
        ("icloud.co", "icloud.com"),
        ("online.mo", "online.no"),
        ("hotmail.mo", "hotmail.no"),
        ("ziggo.nk", "ziggo.nl"),
        ("kpnmial.nl", "kpnmail.nl"),
        ("GMIAL.COM", "gmail.com"),
    ],
)
def test_close_misses_are_found(typed: str, meant: str) -> None:
    assert typo_candidate(typed, POPULAR) == meant


@pytest.mark.parametrize(
    "real",
    [
        "mail.com",
        "gmx.net",
        "gmx.de",
        "live.nl",
        "live.no",
        "live.com",
        "hotmail.nl",
        "me.com",
        "mac.com",
        "uol.com.br",
        "bol.com.br",
        "ig.com.br",
        "web.de",
        "pm.me",
    ],
)
def test_popular_domains_are_never_corrected(real: str) -> None:
    assert typo_candidate(real, POPULAR) is None


@pytest.mark.parametrize("unrelated", ["firma.no", "bakeri.no", "bouwbedrijf.nl", "loja.com.br"])
def test_unrelated_domains_get_nothing(unrelated: str) -> None:
    assert typo_candidate(unrelated, POPULAR) is None


def test_short_names_tolerate_one_slip_only() -> None:
    # Two edits from gmx.de, but short names are too easily "close": no candidate.
    assert typo_candidate("gmy.dk", POPULAR) is None


def test_list_has_the_markets_providers() -> None:
    for domain in (
        "gmail.com",
        "hotmail.com",
        "outlook.com",
        "live.com",
        "live.nl",
        "yahoo.com",
        "yahoo.com.br",
        "icloud.com",
        "uol.com.br",
        "bol.com.br",
        "terra.com.br",
        "ig.com.br",
        "online.no",
        "hotmail.no",
        "ziggo.nl",
        "kpnmail.nl",
        "gmx.net",
        "mail.com",
    ):
        assert domain in POPULAR


def test_distance_counts_a_swap_as_one() -> None:
    assert osa_distance("gmial", "gmail", 2) == 1
    assert osa_distance("abc", "abc", 2) == 0
    assert osa_distance("abcdef", "ab", 2) == 3
    assert osa_distance("hotnail.con", "hotmail.com", 2) == 2
