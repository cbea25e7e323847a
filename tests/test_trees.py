"""Knowledge trees: the shipped set checks clean, and every kind of broken edit is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.config import shipped_knowledge
from bot.trees import Knowledge, KnowledgeError, mrkdwn_escape, render

SHIPPED = shipped_knowledge()
TREE = SHIPPED / "trees" / "delivery.yml"


def test_shipped_trees_load_and_examples_pass() -> None:
    knowledge = Knowledge.load(SHIPPED)
    assert knowledge.entry.id == "delivery"
    assert sum(len(t.examples) for t in knowledge.trees) >= 10


@pytest.fixture
def edited(tmp_path: Path) -> Path:
    shutil.copytree(SHIPPED, tmp_path / "knowledge")
    return tmp_path / "knowledge"


def edit(folder: Path, old: str, new: str) -> None:
    path = folder / "trees" / "delivery.yml"
    text = path.read_text("utf-8")
    assert old in text, f"fixture text moved: {old!r}"
    path.write_text(text.replace(old, new, 1), "utf-8")


def line_of(folder: Path, needle: str) -> int:
    lines = (folder / "trees" / "delivery.yml").read_text("utf-8").splitlines()
    return next(n for n, line in enumerate(lines, start=1) if needle in line)


def problems(folder: Path) -> list[str]:
    with pytest.raises(KnowledgeError) as caught:
        Knowledge.load(folder)
    return [str(p) for p in caught.value.problems]


def test_bad_yaml_names_the_line(edited: Path) -> None:
    edit(edited, "  internal:\n", "  internal: [unclosed\n")
    (message,) = problems(edited)
    assert "delivery.yml:" in message
    assert "not valid YAML" in message


def test_unknown_fact_names_the_line(edited: Path) -> None:
    edit(edited, "if: dispatch.internal_error", "if: dispatch.internal_eror")
    (message,) = problems(edited)
    assert f"delivery.yml:{line_of(edited, 'internal_eror')}:" in message
    assert "unknown fact 'dispatch.internal_eror'" in message


def test_unknown_fact_in_a_template(edited: Path) -> None:
    edit(edited, "{{ address.problem }}", "{{ adress.problem }}")
    found = problems(edited)
    assert any("unknown fact 'adress.problem'" in m for m in found)


def test_missing_audience_is_reported(edited: Path) -> None:
    edit(
        edited,
        "        customer:\n          title: The email was not sent\n",
        "        customr:\n          title: The email was not sent\n",
    )
    found = problems(edited)
    assert any("no en text for customer" in m for m in found)


def test_template_syntax_error_names_the_line(edited: Path) -> None:
    edit(edited, "{{ address.problem }}", "{{ address.problem }")
    found = problems(edited)
    assert any(
        "template error" in m and f":{line_of(edited, 'address.problem }')}:" in m for m in found
    )


def test_unreachable_node(edited: Path) -> None:
    edit(edited, "      - if: history.complained\n        then: spam_complaint\n", "")
    found = problems(edited)
    assert any("'spam_complaint' cannot be reached" in m for m in found)


def test_cycle(edited: Path) -> None:
    edit(edited, "    otherwise: complaint", "    otherwise: address_syntax")
    found = problems(edited)
    assert any("cycle through 'address_syntax'" in m for m in found)


def test_unknown_target(edited: Path) -> None:
    edit(edited, "then: internal_failure", "then: internal_failur")
    found = problems(edited)
    assert any("unknown node 'internal_failur'" in m for m in found)


def test_failing_example(edited: Path) -> None:
    edit(edited, "verdict: mailbox_full\n  - name: spam", "verdict: user_unknown\n  - name: spam")
    (message,) = problems(edited)
    assert "example 'mailbox full'" in message
    assert "got 'mailbox_full'" in message


def test_render_escapes_every_value_for_slack() -> None:
    knowledge = Knowledge.load(SHIPPED)
    facts = {
        "address": {"valid": True, "value": "a@b.no"},
        "event": {
            "type": "bounced",
            "reason": "userunknown",
            "diagnostic": "<!channel> <http://x|y> & co",
        },
    }
    result = knowledge.decide(facts)
    answer = render(result.leaf, facts, locale="en", audience="agent", escape=mrkdwn_escape)
    assert "<!channel>" not in answer.summary
    assert "&lt;!channel&gt; &lt;http://x|y&gt; &amp; co" in answer.summary
    plain = render(result.leaf, facts, locale="nb", audience="customer")
    assert plain.locale == "en"
    assert plain.audience == "customer"


def test_templates_cannot_reach_python() -> None:
    from jinja2.exceptions import SecurityError

    from bot.trees.expressions import ENV

    assert ENV.from_string("{{ ''.__class__.__mro__ }}").render() == ""
    with pytest.raises(SecurityError):
        ENV.from_string("{{ [].append(1) }}").render()


def test_editors_readme_lists_every_fact() -> None:
    from bot.facts import FACTS

    readme = (SHIPPED / "README.md").read_text("utf-8")
    missing = [name for name in FACTS if f"`{name}`" not in readme]
    assert missing == []
