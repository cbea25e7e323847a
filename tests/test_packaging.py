"""Installed as an operator installs it: a built wheel in a fresh virtual environment, run from
a directory that is not the checkout, must find its trees, provider table and demo data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # No build isolation: the build uses the setuptools already here instead of downloading it.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (built,) = out.glob("whymail-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding the wheel; its dependencies come from this interpreter's site-packages."""
    home = tmp_path_factory.mktemp("venv")
    venv.create(home, system_site_packages=True, with_pip=False)
    python = home / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "-q", str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return home


def _run(home: Path, cwd: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WHYMAIL_", "SLACK_"))}
    env["WHYMAIL_STORE"] = str(cwd / "store.sqlite3")
    env.update(extra)
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [str(home / "bin" / args[0]), *args[1:]],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_wheel_carries_the_knowledge_and_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for tree in (ROOT / "knowledge" / "trees").glob("*.yml"):
        assert f"bot/knowledge/trees/{tree.name}" in names
    for data in (
        "bot/knowledge/providers.yml",
        "bot/knowledge/schema.json",
        "bot/checks/data/public_suffixes.txt",
        "bot/sources/store/migrations/sqlite/0001_initial.sql",
        "bot/demo/records.jsonl",
    ):
        assert data in names


def test_the_installed_wheel_answers_the_demo_from_elsewhere(
    installed: Path, tmp_path: Path
) -> None:
    where = _run(installed, tmp_path, "python", "-c", "import bot; print(bot.__file__)")
    assert where.returncode == 0, where.stderr
    assert where.stdout.strip().startswith(str(installed)), "imported the checkout, not the wheel"
    result = _run(installed, tmp_path, "whymail", "ask", "--demo", "--json", "ola@firma.no")
    assert result.returncode == 0, result.stderr
    (answer,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert answer["verdict"] == "user_unknown"
    check = _run(installed, tmp_path, "whymail", "knowledge", "check")
    assert check.returncode == 0, check.stderr
    assert str(installed) in check.stdout


def test_whymail_knowledge_still_points_at_an_editors_copy(installed: Path, tmp_path: Path) -> None:
    copy = tmp_path / "knowledge"
    copy.mkdir()
    (copy / "trees").mkdir()
    result = _run(installed, tmp_path, "whymail", "knowledge", "check", WHYMAIL_KNOWLEDGE=str(copy))
    assert result.returncode == 1
    assert str(copy) in result.stderr
