"""The facts are declared once (bot/facts.py) and what a diagnosis builds is what is declared."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from bot.app import running
from bot.config import Settings
from bot.demo import DEMO_QUESTIONS
from bot.facts import CUSTOMER_HIDDEN_FACTS, FACTS, OPEN_ROOTS


def _names(facts: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in facts.items():
        if prefix == "" and key in OPEN_ROOTS:
            continue
        if isinstance(value, Mapping):
            yield from _names(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


async def test_every_demo_diagnosis_builds_only_declared_facts_and_together_all() -> None:
    seen: set[str] = set()
    async with running(Settings.load({}), demo=True) as app:
        for question in DEMO_QUESTIONS:
            for diagnosis in (await app.diagnoser.ask(question)).diagnoses:
                names = set(_names(diagnosis.facts))
                assert names <= set(FACTS), (question, names - set(FACTS))
                seen |= names
    assert seen == set(FACTS)


def test_internal_facts_are_marked_where_they_are_declared() -> None:
    assert {"event.diagnostic", "event.smtp_code", "dispatch.id", "event.provider"} <= (
        CUSTOMER_HIDDEN_FACTS
    )
    assert set(FACTS) > CUSTOMER_HIDDEN_FACTS
    assert "address.value" not in CUSTOMER_HIDDEN_FACTS
