"""Errors name what is wrong without repeating the secrets in the setting that is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Whymail

PASSWORD = "PGPASS-6d2f90"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresq://whymail:{PASSWORD}@127.0.0.1/db",
        f"mysql://whymail:{PASSWORD}@db.internal:3306/whymail",
    ],
)
def test_an_unknown_store_url_is_named_without_its_password(whymail: Whymail, url: str) -> None:
    result = whymail.with_env(WHYMAIL_STORE=url)("ask", "x@y.test")
    assert result.code != 0
    assert "unknown store URL" in result.stderr
    assert "127.0.0.1" in result.stderr or "db.internal" in result.stderr
    assert PASSWORD not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_a_broken_config_file_is_placed_without_quoting_its_line(
    whymail: Whymail, tmp_path: Path
) -> None:
    config = tmp_path / "whymail.yml"
    config.write_text('dns_timeout: 2\nslack_signing_secret: "CFGSECRET-88aa11\n', "utf-8")
    result = whymail.with_env(WHYMAIL_CONFIG=str(config))("ask", "x@y.test")
    assert result.code != 0
    assert f"{config}:" in result.stderr
    assert "not valid YAML" in result.stderr
    assert "CFGSECRET" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://whymail:{PASSWORD}@127.0.0.1:notaport/db",
        f"postgresql://whymail:{PASSWORD}@[::1/db",
    ],
)
def test_a_malformed_postgresql_url_is_a_clear_error(whymail: Whymail, url: str) -> None:
    result = whymail.with_env(WHYMAIL_STORE=url)("ask", "x@y.test")
    assert result.code == 1
    assert "malformed PostgreSQL URL" in result.stderr
    assert PASSWORD not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
