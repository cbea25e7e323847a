"""What a terminal shows: untrusted text cannot act on the terminal, and nothing is hidden."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.model import Answer, DeliveryEvent, Diagnosis, EventType, Timeline, Unanswered
from bot.render.terminal import render_diagnosis
from bot.trees import shipped

HOSTILE = "550 5.1.1 \x1b[2J\x1b]0;pwned\x07gone \u202eevil\u202c \x9b31m"


def diagnosis(notes: tuple[Unanswered, ...] = (), audience: str = "agent") -> Diagnosis:
    event = DeliveryEvent(
        "postmark\x1b[31m",
        EventType.BOUNCED,
        datetime(2026, 11, 1, 8, tzinfo=UTC),
        "ola@firma.no",
        diagnostic=HOSTILE,
    )
    return Diagnosis(
        subject="ola@firma.no\x1b[1A",
        verdict="user_unknown",
        severity="error",
        path=("outcome", "user_unknown"),
        facts={},
        answer=Answer(
            "The mailbox does not exist",
            "Refused: \x1b[5m",
            (),
            "en",
            audience,
            shipped().chrome("en"),
        ),
        recipient="ola@firma.no",
        timeline=Timeline("ola@firma.no", None, (event,)),
        notes=notes,
    )


def test_control_and_bidi_characters_never_reach_the_terminal() -> None:
    shown = render_diagnosis(diagnosis())
    for bad in ("\x1b", "\x07", "\x9b", "\u202e", "\u202c"):
        assert bad not in shown
    assert "gone" in shown
    assert "evil" in shown


def test_esp_outage_notes_are_shown_as_json_and_slack_show_them() -> None:
    note = Unanswered("Brevo", "no answer within the 8 s deadline")
    shown = render_diagnosis(diagnosis((note,)))
    assert "Brevo did not answer our lookup" in shown
    assert "`no answer within the 8 s deadline`" in shown
    customer = render_diagnosis(diagnosis((note,), "customer"))
    assert "Brevo" not in customer
    assert "could not be checked" in customer
