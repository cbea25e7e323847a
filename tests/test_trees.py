"""Knowledge trees: the shipped set checks clean, and every kind of broken edit is refused with
the file and line an editor needs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

from bot.cli import main
from bot.config import shipped_knowledge
from bot.slack.mrkdwn import escape as mrkdwn_escape
from bot.trees import ACTIONS, LOCALES, Knowledge, KnowledgeError, render

SHIPPED = shipped_knowledge()


def test_shipped_trees_load_and_examples_pass() -> None:
    knowledge = Knowledge.load(SHIPPED)
    assert knowledge.entry.id == "delivery"
    assert {t.id for t in knowledge.trees} >= {"delivery", "bounced", "delivered", "address"}
    assert sum(len(t.examples) for t in knowledge.trees) >= 20


@pytest.fixture
def edited(tmp_path: Path) -> Path:
    shutil.copytree(SHIPPED, tmp_path / "knowledge")
    return tmp_path / "knowledge"


def edit(folder: Path, old: str, new: str, file: str = "delivery.yml") -> None:
    path = folder / "trees" / file
    text = path.read_text("utf-8")
    assert old in text, f"fixture text moved: {old!r}"
    path.write_text(text.replace(old, new, 1), "utf-8")


def line_of(folder: Path, needle: str, file: str = "delivery.yml", after: str = "") -> int:
    lines = (folder / "trees" / file).read_text("utf-8").splitlines()
    start = next(n for n, line in enumerate(lines) if after in line) if after else 0
    return next(n for n, line in enumerate(lines[start:], start=start + 1) if needle in line)


def problems(folder: Path) -> list[str]:
    with pytest.raises(KnowledgeError) as caught:
        Knowledge.load(folder)
    return [str(p) for p in caught.value.problems]


def where(folder: Path, file: str, line: int) -> str:
    return f"{folder / 'trees' / file}:{line}:"


def test_bad_yaml_names_the_line(edited: Path) -> None:
    at = line_of(edited, "  internal:")
    edit(edited, "  internal:\n", "  internal: [unclosed\n")
    (message,) = problems(edited)
    assert "not valid YAML" in message
    reported = int(message.split("delivery.yml:")[1].split(":")[0])
    assert at <= reported <= at + 2


def test_unknown_fact_names_the_line(edited: Path) -> None:
    edit(edited, "if: dispatch.internal_error", "if: dispatch.internal_eror")
    (message,) = problems(edited)
    assert message.startswith(where(edited, "delivery.yml", line_of(edited, "internal_eror")))
    assert "unknown fact 'dispatch.internal_eror'" in message


def test_unknown_fact_in_a_template_names_the_line(edited: Path) -> None:
    edit(edited, "{{ address.problem | label }}", "{{ adress.problem | label }}")
    found = problems(edited)
    expected = where(edited, "delivery.yml", line_of(edited, "adress.problem"))
    assert any(m.startswith(expected) and "unknown fact 'adress.problem'" in m for m in found)


def test_missing_translation_names_the_leaf(edited: Path) -> None:
    nl_start = "      nl:\n        agent:\n          title: Het adres is ongeldig\n"
    pt_start = "      pt-BR:\n        agent:\n          title: O endereço não é válido\n"
    text = (edited / "trees" / "delivery.yml").read_text("utf-8")
    block = text[text.index(nl_start) : text.index(pt_start)]
    edit(edited, block, "")
    (message,) = problems(edited)
    text_line = line_of(edited, "    text:", after="  invalid_address:")
    assert message.startswith(where(edited, "delivery.yml", text_line + 1))
    assert "leaf 'invalid_address': missing locale 'nl'" in message


def test_missing_question_translation(edited: Path) -> None:
    edit(
        edited,
        "      nl: Heeft de ontvanger in de map",
        "      xx: Heeft de ontvanger in de map",
        file="delivered.yml",
    )
    found = problems(edited)
    assert any("unknown locale 'xx'" in m for m in found)
    assert any("missing locale 'nl'" in m and "delivered.yml:" in m for m in found)


def test_missing_audience_is_reported(edited: Path) -> None:
    edit(
        edited,
        "        customer:\n          title: The email was not sent\n",
        "        customr:\n          title: The email was not sent\n",
    )
    found = problems(edited)
    assert any("no en text for customer" in m for m in found)
    assert any(
        m.startswith(where(edited, "delivery.yml", line_of(edited, "customr:")))
        and "unknown key 'customr'" in m
        for m in found
    )


def test_template_syntax_error_names_the_line(edited: Path) -> None:
    edit(edited, "{{ address.problem | label }}", "{{ address.problem | label }")
    found = problems(edited)
    expected = where(edited, "delivery.yml", line_of(edited, "address.problem | label }"))
    assert any("template error" in m and m.startswith(expected) for m in found)


def test_condition_syntax_error_names_the_line(edited: Path) -> None:
    edit(edited, "if: history.complained", "if: history.complained ==")
    (message,) = problems(edited)
    assert message.startswith(where(edited, "delivery.yml", line_of(edited, "complained ==")))


def test_unreachable_node_names_its_line(edited: Path) -> None:
    edit(edited, "    otherwise: own_server\n", "    otherwise: unknown\n", file="address.yml")
    found = problems(edited)
    at = line_of(edited, "  own_server:", file="address.yml")
    assert any(
        m.startswith(where(edited, "address.yml", at)) and "'own_server' cannot be reached" in m
        for m in found
    )


def test_a_tree_nobody_enters_is_unreachable(edited: Path) -> None:
    edit(edited, "then: tree:delivered", "then: delivered_check_spam")
    found = problems(edited)
    assert any("delivered.yml" in m and "'delivered_where' cannot be reached" in m for m in found)
    assert any("'junk_folder' cannot be reached" in m for m in found)


def test_cycle(edited: Path) -> None:
    edit(edited, "    otherwise: complaint", "    otherwise: address_syntax")
    found = problems(edited)
    assert any("cycle through 'address_syntax'" in m for m in found)


def test_cycle_across_files(edited: Path) -> None:
    edit(
        edited,
        "    otherwise: unknown\n\n  spam_or_auth:",
        "    otherwise: address_syntax\n\n  spam_or_auth:",
        file="bounced.yml",
    )
    found = problems(edited)
    assert any("cycle through 'address_syntax'" in m for m in found)


def test_unknown_target(edited: Path) -> None:
    edit(edited, "then: internal_failure", "then: internal_failur")
    (message,) = problems(edited)
    assert message.startswith(where(edited, "delivery.yml", line_of(edited, "internal_failur")))
    assert "unknown node 'internal_failur'" in message


def test_unknown_tree_handover(edited: Path) -> None:
    edit(edited, "then: tree:bounced", "then: tree:bounce")
    (message,) = problems(edited)
    assert message.startswith(where(edited, "delivery.yml", line_of(edited, "tree:bounce")))
    assert "unknown tree 'tree:bounce'" in message


def test_node_ids_are_unique_across_files(edited: Path) -> None:
    edit(edited, "  on_record:\n", "  outcome:\n", file="address.yml")
    found = problems(edited)
    assert any("node id 'outcome' is already used in" in m for m in found)


def test_question_needs_a_way_on_while_unanswered(edited: Path) -> None:
    edit(edited, "    unanswered: delivered_check_spam\n", "", file="delivered.yml")
    found = problems(edited)
    assert any("needs 'unanswered: <node>'" in m and "delivered.yml:" in m for m in found)


def test_failing_example_names_its_line(edited: Path) -> None:
    edit(
        edited,
        "    verdict: mailbox_full\n    path: [failure_reason, mailbox_full]",
        "    verdict: user_unknown\n    path: [failure_reason, mailbox_full]",
        file="bounced.yml",
    )
    (message,) = problems(edited)
    expected_line = line_of(edited, "- name: mailbox full, dispatch", file="bounced.yml")
    assert message.startswith(where(edited, "bounced.yml", expected_line))
    assert "example 'mailbox full, dispatch still in progress'" in message
    assert "got 'mailbox_full'" in message


def test_example_expecting_a_question(edited: Path) -> None:
    edit(edited, "    asks: junk_folder\n", "    asks: still_pending\n", file="delivered.yml")
    (message,) = problems(edited)
    assert "expected to ask 'still_pending', got 'junk_folder'" in message


def test_example_with_an_unknown_fact(edited: Path) -> None:
    edit(edited, "history: {deferrals: 2,", "history: {deferals: 2,")
    found = problems(edited)
    assert any("example: unknown fact 'history.deferals'" in m for m in found)


def test_customer_text_may_not_show_internal_facts(edited: Path) -> None:
    edit(
        edited,
        "          title: The email address is not valid\n",
        '          title: "The email address is not valid ({{ event.diagnostic }})"\n',
    )
    (message,) = problems(edited)
    line = line_of(edited, "not valid ({{ event.diagnostic }})")
    assert message.startswith(where(edited, "delivery.yml", line))
    assert "customer text must not show 'event.diagnostic'" in message


def test_customer_text_may_test_internal_facts(edited: Path) -> None:
    edit(
        edited,
        "          title: The email address is not valid\n",
        '          title: "{% if event.reason %}Not valid{% else %}Invalid{% endif %}"\n',
    )
    Knowledge.load(edited)


def test_unknown_action(edited: Path) -> None:
    edit(edited, "agent: [share_with_customer, details]\n", "agent: [share, details]\n")
    (message,) = problems(edited)
    assert "unknown action 'share'" in message


def test_check_command_prints_file_line_and_fails(
    edited: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(edited, "if: dispatch.internal_error", "if: dispatch.internal_eror")
    assert main(["knowledge", "check", str(edited)]) == 1
    err = capsys.readouterr().err
    assert f"delivery.yml:{line_of(edited, 'internal_eror')}: unknown fact" in err


def test_check_command_passes_on_shipped(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["knowledge", "check", str(SHIPPED)]) == 0
    assert "4 tree(s) OK" in capsys.readouterr().out


def test_graph_shows_handovers_and_questions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["knowledge", "graph", "delivery", "--knowledge", str(SHIPPED)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("flowchart TD")
    assert 'failure_reason[["bounced: failure_reason"]]' in out
    assert main(["knowledge", "graph", "all", "--knowledge", str(SHIPPED)]) == 0
    out = capsys.readouterr().out
    assert 'junk_folder[/"Has the recipient looked' in out
    assert 'junk_folder -.->|"not answered yet"| delivered_check_spam' in out


def test_readme_shows_the_shipped_graph(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["knowledge", "graph", "all", "--knowledge", str(SHIPPED)]) == 0
    graph = capsys.readouterr().out.strip()
    for readme in (SHIPPED.parent / "README.md", SHIPPED / "README.md"):
        assert f"```mermaid\n{graph}\n```" in readme.read_text("utf-8"), readme


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
    unsupported = render(result.leaf, facts, locale="de", audience="customer")
    assert unsupported.locale == "en"
    assert unsupported.audience == "customer"


def test_templates_cannot_reach_python() -> None:
    from jinja2.exceptions import SecurityError

    from bot.trees.expressions import ENV

    assert ENV.from_string("{{ ''.__class__.__mro__ }}").render() == ""
    with pytest.raises(SecurityError):
        ENV.from_string("{{ [].append(1) }}").render()


def test_editors_readme_lists_every_fact_and_action() -> None:
    from bot.facts import FACTS

    readme = (SHIPPED / "README.md").read_text("utf-8")
    missing = [name for name in [*FACTS, *ACTIONS] if f"`{name}`" not in readme]
    assert missing == []


def test_shipped_trees_match_the_schema() -> None:
    schema = json.loads((SHIPPED / "schema.json").read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    files = sorted((SHIPPED / "trees").glob("*.yml"))
    assert files
    for path in files:
        text = path.read_text("utf-8")
        assert text.startswith("# yaml-language-server: $schema=../schema.json\n"), path
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(text))]
        assert errors == [], path


def test_schema_knows_what_the_loader_knows() -> None:
    schema = json.loads((SHIPPED / "schema.json").read_text("utf-8"))
    leaf = schema["$defs"]["leaf"]["properties"]
    assert set(leaf["actions"]["properties"]["agent"]["items"]["enum"]) == set(ACTIONS)
    assert leaf["text"]["required"] == list(LOCALES)
    doc = yaml.safe_load((SHIPPED / "trees" / "delivery.yml").read_text("utf-8"))
    doc["nodes"]["internal"]["brances"] = []
    assert not jsonschema.Draft202012Validator(schema).is_valid(doc)
