"""Each trap a non-programmer walks into when editing knowledge/ (the review's §4.2) is refused
with a message that names file:line and says what to do, or cannot happen at all; and the
editor's own tools (`knowledge check` warnings, `knowledge preview`) work as documented."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import shipped_knowledge
from bot.trees import Knowledge
from tests.conftest import Whymail
from tests.test_trees import problems
from tests.test_trees import where as at

SHIPPED = shipped_knowledge()


@pytest.fixture
def edited(tmp_path: Path) -> Path:
    shutil.copytree(SHIPPED, tmp_path / "knowledge")
    return tmp_path / "knowledge"


def edit(folder: Path, file: str, old: str, new: str) -> int:
    """Replace `old` once and return the line (1-based) where the new text starts."""
    path = folder / "trees" / file
    text = path.read_text("utf-8")
    assert old in text, f"fixture text moved: {old!r}"
    at = text.index(old)
    path.write_text(text.replace(old, new, 1), "utf-8")
    return text[:at].count("\n") + 1


MAILBOX_STEP = (
    "            - Let the recipient know (by phone, for example) that their mailbox is full.\n"
)


def test_a_step_with_colon_space_is_told_to_go_in_quotes(edited: Path) -> None:
    line = edit(
        edited, "bounced.yml", MAILBOX_STEP, "            - Merk: hjelper ikke det, ring.\n"
    )
    (message,) = problems(edited)
    assert message.startswith(at(edited, "bounced.yml", line))
    assert "put the step in double quotes" in message


def test_a_title_with_colon_space_names_the_yaml_rule(edited: Path) -> None:
    old = "          title: The recipient's mailbox is full\n"
    line = edit(edited, "bounced.yml", old, "          title: Merk: innboksen er full\n")
    (message,) = problems(edited)
    assert message.startswith(at(edited, "bounced.yml", line))
    assert "double quotes" in message


def test_a_step_starting_with_a_brace_is_told_to_go_in_quotes(edited: Path) -> None:
    line = edit(edited, "bounced.yml", MAILBOX_STEP, "            - {{ address.value }} er full.\n")
    (message,) = problems(edited)
    assert message.startswith(at(edited, "bounced.yml", line))
    assert "must be put in double quotes" in message


def test_a_step_with_a_percent_tag_is_told_to_go_in_quotes(edited: Path) -> None:
    new = "            - {% if history.opened %}Åpnet.{% endif %}\n"
    line = edit(edited, "bounced.yml", MAILBOX_STEP, new)
    (message,) = problems(edited)
    assert message.startswith(at(edited, "bounced.yml", line))
    assert "double quotes" in message


def test_a_dash_without_a_space_is_explained(edited: Path) -> None:
    old = "          steps:\n" + MAILBOX_STEP
    line = edit(edited, "bounced.yml", old, "          steps:\n            -Ring mottakeren.\n")
    found = problems(edited)
    assert any(
        m.startswith(at(edited, "bounced.yml", line + 1)) and "'- Ring" in m for m in found
    ), found


def test_a_step_indented_wrongly_names_its_line(edited: Path) -> None:
    third = "If it keeps coming back, the recipient should contact their email provider.\n"
    third = f"            - {third}"
    line = edit(edited, "bounced.yml", third, "          - Ring mottakeren.\n")
    (message,) = problems(edited)
    assert message.startswith(at(edited, "bounced.yml", line))
    assert "not valid YAML" in message
    assert "same column" in message


def test_no_as_a_locale_is_text_and_the_check_says_nb(edited: Path) -> None:
    old = "      nb:\n        agent:\n          title: Adressen er ikke gyldig\n"
    line = edit(edited, "delivery.yml", old, old.replace("nb:", "no:", 1))
    found = problems(edited)
    assert any(
        m.startswith(at(edited, "delivery.yml", line)) and "write 'nb', not 'no'" in m
        for m in found
    ), found
    assert not any("False" in m for m in found)


def test_yes_as_an_option_value_stays_text_so_conditions_see_it(edited: Path) -> None:
    edit(edited, "delivered.yml", "      - value: found\n", "      - value: yes\n")
    found = problems(edited)
    # `yes` is the word "yes" now, so every condition still testing 'found' is refused.
    assert any("answers.junk_folder is never 'found'" in m for m in found), found
    assert all("delivered.yml:" in m for m in found)


def test_a_screen_word_in_a_condition_is_refused(edited: Path) -> None:
    line = edit(
        edited,
        "delivery.yml",
        "      - if: dispatch.internal_error\n",
        "      - if: dispatch.state == 'Pågående'\n",
    )
    (message,) = problems(edited)
    assert message.startswith(at(edited, "delivery.yml", line))
    assert "dispatch.state is never 'Pågående'" in message
    assert "in_progress" in message


def test_a_screen_word_in_a_text_is_refused(edited: Path) -> None:
    old = "            - \"{% if dispatch.state in ['pending', 'in_progress'] %}Cancel the dispatch"
    new = old.replace("'pending', 'in_progress'", "'pending', 'Lopend'")
    line = edit(edited, "bounced.yml", old, new)
    found = problems(edited)
    assert any(
        m.startswith(at(edited, "bounced.yml", line)) and "never 'Lopend'" in m for m in found
    ), found


def test_an_unknown_provider_or_answer_is_refused(edited: Path) -> None:
    line = edit(
        edited, "delivered.yml", "domain.provider in ['uol',", "domain.provider in ['uoll',"
    )
    (message,) = problems(edited)
    assert message.startswith(at(edited, "delivered.yml", line))
    assert "domain.provider is never 'uoll'" in message
    assert "for example uol" in message


def test_an_example_fact_that_could_never_happen_is_refused(edited: Path) -> None:
    edit(
        edited,
        "delivery.yml",
        "history: {deferrals: 2, deferred_hours: 1}",
        "history: {opened: yes}",
    )
    found = problems(edited)
    assert any("history.opened is true or false" in m and "'yes'" in m for m in found), found


def test_a_misspelt_fact_is_reported_once(edited: Path) -> None:
    old = '          summary: "`{{ address.value }}` cannot be an email address'
    edit(edited, "delivery.yml", old, old.replace("address.value", "adresse.value"))
    found = problems(edited)
    assert len(found) == 1, found
    assert "unknown fact 'adresse.value'" in found[0]


def test_a_runtime_error_in_a_text_fails_the_check_with_its_line(edited: Path) -> None:
    # A new first customer step of `mailbox_full` that parses, but cannot add text to a number.
    step = "            - \"{{ history.deferrals + 'x' }} days\"\n"
    line = edit(edited, "bounced.yml", MAILBOX_STEP, step + MAILBOX_STEP)
    found = problems(edited)
    assert any(
        m.startswith(at(edited, "bounced.yml", line)) and "cannot be shown" in m for m in found
    ), found


def test_ask_reports_a_runtime_error_with_its_line_not_a_traceback(
    whymail: Whymail, edited: Path
) -> None:
    edit(
        edited,
        "delivery.yml",
        '          title: "{% if history.deferred_hours >= 24 or history.deferrals >= 5 %}Deferred',
        "          title: \"{{ history.deferrals + 'x' }}{% if history.deferred_hours >= 24 or "
        "history.deferrals >= 5 %}Deferred",
    )
    result = whymail.with_env(WHYMAIL_KNOWLEDGE=str(edited))("ask", "--demo", "lise@firma.no")
    assert result.code == 1
    assert "delivery.yml:" in result.stderr
    assert "cannot be shown" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_step_in_one_language_is_a_warning(
    edited: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = MAILBOX_STEP + "            - Hjelper ikke det, ring mottakeren.\n"
    edit(edited, "bounced.yml", MAILBOX_STEP, new)
    assert main(["knowledge", "check", str(edited)]) == 0
    err = capsys.readouterr().err
    assert "bounced.yml:" in err
    assert "warning: leaf 'mailbox_full', customer" in err
    assert "en 4, nb 3" in err


def test_the_shipped_knowledge_has_no_warnings() -> None:
    assert Knowledge.load(SHIPPED).warnings == ()


def test_preview_shows_one_example_in_one_language(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["knowledge", "preview", "AntiSpam UOL holds it while it is deferred"]
    assert main([*argv, "--locale", "nb", "--audience", "customer"]) == 0
    out = capsys.readouterr().out
    assert "provider_antispam_challenge" in out.splitlines()[0]
    assert "Mottakerens antispamtjeneste holder e-posten tilbake" in out
    assert "faturamento@acme.com.br" in out
    assert "1. " in out


def test_preview_lists_the_examples_when_none_matches(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["knowledge", "preview", "no such example at all"]) == 2
    err = capsys.readouterr().err
    assert "no example matches" in err
    assert "bounced: hard bounce" in err


def test_editors_readme_has_notes_in_every_language() -> None:
    readme = (SHIPPED / "README.md").read_text("utf-8")
    for heading in ("(norsk)", "(Nederlands)", "(português do Brasil)"):
        assert heading in readme
    assert "DESIGN.md" not in readme
    assert "knowledge preview" in readme
