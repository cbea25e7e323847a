from __future__ import annotations

import pytest

from bot.query import MAX_QUERY_CHARS, parse


@pytest.mark.parametrize(
    ("text", "address", "locale"),
    [
        ("hvorfor fikk ikke ola@firma.no fakturaen?", "ola@firma.no", "nb"),
        ("waarom heeft jan@bouw.nl de factuur niet ontvangen", "jan@bouw.nl", "nl"),
        ("por que o cliente joao@uol.com.br não recebeu o boleto?", "joao@uol.com.br", "pt-BR"),
        ("why didn't Kari@Hotmail.com get the invoice?", "kari@hotmail.com", "en"),
        ("<mailto:ola@firma.no|ola@firma.no>", "ola@firma.no", None),
        ("(ola@firma.no).", "ola@firma.no", None),
    ],
)
def test_finds_the_address_and_the_language(text: str, address: str, locale: str | None) -> None:
    query = parse(text)
    assert query.addresses == (address,)
    assert query.locale_hint == locale


def test_idn_domains_are_stored_in_ascii() -> None:
    assert parse("ola@fírma.no").addresses == ("ola@xn--frma-vpa.no",)


@pytest.mark.parametrize("text", ['"<!channel>"@x.no', "ola@@firma.no", "a@b", "ola@firma..no"])
def test_address_like_words_that_are_not_valid(text: str) -> None:
    query = parse(text)
    assert query.addresses == ()
    assert len(query.invalid) == 1
    assert query.invalid[0].problem


def test_dispatch_ids_but_not_the_digits_of_addresses() -> None:
    query = parse("d_9f2c and 0A129AEE-E1CD-480D-B08D-4F48548FF48D, not ola2@firma.no")
    assert query.dispatch_ids == ("0a129aee-e1cd-480d-b08d-4f48548ff48d", "d_9f2c")
    assert query.addresses == ("ola2@firma.no",)


def test_plain_words_are_not_ids() -> None:
    assert parse("the invoice never arrived").empty


def test_huge_input_is_bounded() -> None:
    query = parse("x" * 100_000 + " ola@firma.no")
    assert query.truncated
    assert len(query.text) == MAX_QUERY_CHARS
    assert query.empty
