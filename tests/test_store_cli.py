"""The command line on a PostgreSQL store: the same answers as on SQLite, from the same files."""

from __future__ import annotations

import pytest

from tests.conftest import DATA, Whymail


@pytest.fixture(params=["sqlite", "postgresql"])
def cli(request: pytest.FixtureRequest, whymail: Whymail) -> Whymail:
    if request.param == "sqlite":
        return whymail
    url: str = request.getfixturevalue("pg_url")
    return whymail.with_env(WHYMAIL_STORE=url)


def test_ingest_twice_then_ask(cli: Whymail) -> None:
    for _round in (1, 2):
        for provider, name in (("whymail", "records.jsonl"), ("postmark", "postmark.jsonl")):
            result = cli("ingest", "--provider", provider, str(DATA / "e2e" / name))
            assert result.code == 0, result.stderr
    assert "0 new events" in result.stdout
    answer = cli("ask", "--json", "OLA@firma.mailtest.test")
    assert answer.code == 0, answer.stderr
    (found,) = answer.json_lines()
    assert found["verdict"] == "user_unknown"
    assert found["reason"] == "userunknown"
    assert found["dispatch_id"] == "t-1"


def test_an_unreachable_database_is_explained(whymail: Whymail) -> None:
    result = whymail.with_env(WHYMAIL_STORE="postgresql://postgres@127.0.0.1:1/test")(
        "ask", "ola@firma.no"
    )
    assert result.code == 1
    assert "cannot connect to the PostgreSQL store" in result.stderr
    assert "Traceback" not in result.stderr
