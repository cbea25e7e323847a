"""The conversation layer, with the real pipeline under it (store, loopback DNS, shipped trees):
what any surface gets for what people send, before any surface renders it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.bounces import Cut, parse_bounce_report
from bot.checks import DNSClient
from bot.checks.dns import parse_nameservers
from bot.config import shipped_knowledge
from bot.conversation import AGENT, CUSTOMER, Asker, Conversation, Request
from bot.diagnose import Diagnoser
from bot.model import DeliveryEvent, EventType
from bot.render.terminal import render_diagnosis
from bot.slack.blocks import bounce_summary
from bot.sources.store import Store
from bot.trees import Knowledge

OLA = "ola@firma.mailtest.test"
AGENT_ASKS = Asker("U1", AGENT, None, True)
BOUNCE = f"""From: MAILER-DAEMON@mx.firma.mailtest.test
To: faktura@acme.mailtest.test
Subject: Undelivered Mail Returned to Sender
Content-Type: text/plain

This is the mail system at host mx.firma.mailtest.test.
I'm sorry to have to inform you that your message could not be delivered.

<{OLA}>: host mx.firma.mailtest.test said: 550 5.1.1 <{OLA}>:
    Recipient address rejected: User unknown in virtual mailbox table
"""


@pytest.fixture
def conversation(store: Store, localdns_server: Any) -> Conversation:
    knowledge = Knowledge.load(shipped_knowledge())
    dns = DNSClient(parse_nameservers(localdns_server.address), timeout=1)
    return Conversation(Diagnoser(store, dns, lambda: knowledge))


async def test_a_pasted_bounce_answers_from_its_own_evidence(conversation: Conversation) -> None:
    """The store has never heard of the address: the bounce's words decide the verdict."""
    reply = await conversation.ask(Request(BOUNCE, AGENT_ASKS))
    assert [r.recipient for r in reply.bounce] == [OLA]
    (part,) = reply.parts
    assert part.diagnosis.recipient == OLA
    assert part.diagnosis.verdict == "user_unknown"
    (event,) = part.diagnosis.timeline.events if part.diagnosis.timeline else ()
    assert event.enhanced_status == "5.1.1"
    assert "User unknown" in (event.diagnostic or "")


async def test_a_pasted_bounce_joins_what_the_store_knows(
    conversation: Conversation, store: Store
) -> None:
    sent = DeliveryEvent(
        "postmark", EventType.SENT, datetime(2026, 11, 20, 8, tzinfo=UTC), OLA, dedupe_key="s1"
    )
    await store.add_events([sent])
    reply = await conversation.ask(Request(BOUNCE, AGENT_ASKS))
    (part,) = reply.parts
    events = part.diagnosis.timeline.events if part.diagnosis.timeline else ()
    assert [e.event_type for e in events][-1] is EventType.BOUNCED
    assert part.diagnosis.verdict == "user_unknown"


async def test_an_email_without_a_failed_recipient_says_so_in_the_askers_language(
    conversation: Conversation,
) -> None:
    asker = Asker("U2", CUSTOMER, "acme", True, locale="nl-NL")
    reply = await conversation.ask(Request("", asker, eml=b"Subject: hello\n\nhi"))
    assert reply.notice == "no_failed_recipient"
    assert reply.locale == "nl"


async def test_an_unlinked_customer_gets_the_notice_in_the_places_language(
    conversation: Conversation,
) -> None:
    nobody = Asker("U3", CUSTOMER, None, False)
    reply = await conversation.ask(Request(OLA, nobody, place_locale="pt-BR"))
    assert reply.notice == "not_linked"
    assert not reply.parts
    assert conversation.chrome(reply.locale)("not_linked").startswith("Só consigo consultar")


async def test_the_language_is_chosen_once_from_the_text_then_the_person(
    conversation: Conversation,
) -> None:
    norwegian = await conversation.ask(
        Request(f"hvorfor fikk ikke {OLA} fakturaen?", Asker("U4", AGENT, None, True, "nl-NL"))
    )
    assert norwegian.locale == "nb"
    dutch = await conversation.ask(Request(OLA, Asker("U4", AGENT, None, True, "nl-NL")))
    assert dutch.locale == "nl"
    await conversation.set_locale("U4", "pt-BR")
    chosen = await conversation.ask(Request(OLA, Asker("U4", AGENT, None, True, "nl-NL")))
    assert chosen.locale == "pt-BR"


async def test_the_terminal_shows_the_same_answer_in_its_language(
    conversation: Conversation,
) -> None:
    reply = await conversation.ask(Request(BOUNCE, Asker("U5", AGENT, None, True, "nb-NO")))
    shown = render_diagnosis(reply.parts[0].diagnosis)
    nb = conversation.chrome("nb")
    for label in ("steps", "evidence", "path", "server_said"):
        assert nb(label) in shown
    assert "What to do" not in shown
    reply = await conversation.ask(Request(BOUNCE, Asker("U5", CUSTOMER, "acme", True, "nb-NO")))
    customer = render_diagnosis(reply.parts[0].diagnosis)
    assert "user_unknown" not in customer
    assert nb("path") not in customer


async def test_a_paste_is_parsed_off_the_event_loop_and_never_for_a_stranger(
    conversation: Conversation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parsing a big paste takes the better part of a second: on the loop it would hold up every
    acknowledgement, and a stranger's paste is refused before anything reads it."""
    from bot.conversation import pasted

    threads: list[str] = []

    def recording(message: bytes | str) -> Any:
        threads.append(threading.current_thread().name)
        return parse_bounce_report(message)

    monkeypatch.setattr(pasted, "parse_bounce_report", recording)
    stranger = Asker("U9", CUSTOMER, None, False)
    refused = await conversation.ask(Request(BOUNCE, stranger))
    assert (refused.notice, threads) == ("not_linked", [])
    reply = await conversation.ask(Request(BOUNCE + "x" * 100_000, AGENT_ASKS))
    assert [r.recipient for r in reply.bounce] == [OLA]
    assert len(threads) == 1
    assert threads[0] != threading.main_thread().name
    # what was cut is said, not hidden
    assert [n.cut for n in reply.bounce_notes] == [Cut.SIZE]


async def test_what_a_bounce_leaves_unread_is_said_in_the_askers_words(
    conversation: Conversation,
) -> None:
    failed = "".join(f"<user{i}@firma.mailtest.test>: 550 5.1.1 User unknown\n" for i in range(300))
    report = "\n".join(
        f"Final-Recipient: rfc822; user{i}@firma.mailtest.test\nAction: failed\nStatus: 5.1.1\n"
        for i in range(300)
    )
    eml = (
        "From: MAILER-DAEMON@mx.firma.mailtest.test\nTo: faktura@acme.mailtest.test\n"
        "Subject: Undelivered Mail\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        f"--b\nContent-Type: text/plain\n\n{failed}\n"
        f"--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\n{report}\n--b--\n"
    ).encode()
    reply = await conversation.ask(Request("", AGENT_ASKS, locale="nb", eml=eml))
    assert len(reply.bounce) == 200
    (note,) = reply.bounce_notes
    assert (note.cut, note.read, note.total) == (Cut.RECIPIENTS, 200, 300)
    shown = bounce_summary(reply.bounce, conversation.chrome("nb"), reply.bounce_notes, agent=True)
    assert "+290 mottakere til" in shown
    assert "Her svarer jeg for 200 av de 300 mottakerne som feilet." in shown
