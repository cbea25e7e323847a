"""Block Kit for answers, modals and App Home: pure functions from core records to JSON.

Every string that did not come from our own code is escaped for mrkdwn here (the trees' texts
arrive escaped already, rendered with `bot.slack.mrkdwn.escape`), and every message is built inside
Slack's limits: 50 blocks, 3,000 characters per section, and a total far below the ~12-13 k
characters at which Slack starts refusing messages. What does not fit is summarised, never cut
mid-structure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.bounces import BouncedRecipient, ParseNote
from bot.conversation import Part, evidence, word
from bot.conversation.evidence import MAX_EVENTS_SHOWN, event_line, one_line
from bot.conversation.pasted import listed, note_lines, summary
from bot.model import Diagnosis
from bot.slack.mrkdwn import escape as esc

Block = dict[str, Any]
#: Signs a button's state; the app passes `Signer.sign`.
Sign = Callable[[Mapping[str, Any]], str]

MAX_BLOCKS = 50
MAX_MODAL_BLOCKS = 100
MAX_SECTION = 3000
MAX_HEADER = 150
MAX_BUTTON_TEXT = 75
MAX_FALLBACK = 3000
#: Our budget for all text in one message; Slack's documented ceiling is 12,000 characters and
#: `msg_blocks_too_long` has been seen at ~13 k, so stay well clear.
MAX_MESSAGE_CHARS = 9000

ACTION_SHARE = "whymail_share"
ACTION_DETAILS = "whymail_details"
ACTION_ANSWER = "whymail_answer"
ACTION_REACTIVATE = "whymail_reactivate"
ACTION_NEW_LOOKUP = "whymail_new_lookup"
VIEW_LOOKUP = "whymail_lookup"
VIEW_DETAILS = "whymail_details_view"

_SEVERITY_ICON = {"error": ":x:", "warning": ":warning:", "info": ":information_source:"}


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plain(text: str, limit: int = MAX_SECTION) -> dict[str, Any]:
    """plain_text never renders mentions or links, so it takes the text as it is."""
    return {"type": "plain_text", "text": clip(unescape(text) or " ", limit), "emoji": True}


def mrkdwn(text: str) -> dict[str, Any]:
    """`text` must already be escaped; it is only bounded here."""
    return {"type": "mrkdwn", "text": clip(text or " ", MAX_SECTION)}


def section(text: str) -> Block:
    return {"type": "section", "text": mrkdwn(text)}


def context(text: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(clip(text, 2000))]}


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def button(label: str, action_id: str, value: str, *, style: str | None = None) -> Block:
    element: Block = {
        "type": "button",
        "text": plain(label, MAX_BUTTON_TEXT),
        "action_id": action_id,
        "value": value,
    }
    if style:
        element["style"] = style
    return element


@dataclass(frozen=True, slots=True)
class Message:
    text: str
    blocks: list[Block]

    def as_kwargs(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


@dataclass(frozen=True, slots=True)
class Offer:
    """What buttons an answer may carry for the person who will see it."""

    share: bool = False
    details: bool = False
    questions: bool = True


AGENT_DEFAULT_ACTIONS = ("share_with_customer", "details")


def answer_message(
    parts: Sequence[Part],
    *,
    agent: bool,
    locale: str,
    offer: Offer,
    state: Mapping[str, Any],
    sign: Sign,
    preface: Sequence[Block] = (),
) -> Message:
    """The reply to one lookup: one part per diagnosis, as many as fit the budget."""
    blocks: list[Block] = list(preface)
    used = text_size(blocks)
    shown = 0
    for index, part in enumerate(parts):
        rendered = _diagnosis_blocks(part, agent, offer, state, sign, index)
        if index:
            rendered.insert(0, {"type": "divider"})
        size = text_size(rendered)
        if len(blocks) + len(rendered) > MAX_BLOCKS - 1 or used + size > MAX_MESSAGE_CHARS:
            break
        blocks += rendered
        used += size
        shown += 1
    hidden = len(parts) - shown
    if hidden:
        blocks.append(context(f"+{hidden} {word(locale, 'more')}"))
    return Message(fallback([p.diagnosis for p in parts], agent=agent), blocks)


def label(d: Diagnosis, *, agent: bool) -> str:
    """What an answer is about; customers see the address, never our dispatch ids."""
    return d.subject if agent else (d.recipient or d.subject)


def fallback(diagnoses: Sequence[Diagnosis], *, agent: bool = False) -> str:
    """The notification text; Slack parses it as mrkdwn, so it is escaped like the blocks."""
    lines = [f"{esc(label(d, agent=agent))}: {d.answer.title}" for d in diagnoses[:5]]
    if len(diagnoses) > 5:
        lines.append(f"+{len(diagnoses) - 5}")
    return clip("\n".join(lines) or "whymail", MAX_FALLBACK)


def _diagnosis_blocks(
    part: Part,
    agent: bool,
    offer: Offer,
    state: Mapping[str, Any],
    sign: Sign,
    index: int,
) -> list[Block]:
    d = part.diagnosis
    icon = _SEVERITY_ICON.get(d.severity, "")
    blocks: list[Block] = [
        {"type": "header", "text": plain(f"{icon} {d.answer.title}".strip(), MAX_HEADER)},
    ]
    about = f"*{esc(label(d, agent=agent))}*"
    if agent:
        about += f"  ·  `{esc(d.verdict)}`"
    blocks.append(context(about))
    if d.answer.summary:
        blocks.append(section(d.answer.summary))
    if d.answer.steps:
        steps = "\n".join(f"{n}. {s}" for n, s in enumerate(d.answer.steps, 1))
        blocks.append(section(f"*{word(d.answer.locale, 'steps')}*\n{steps}"))
    if agent:
        shown = evidence_text(d)
        if shown:
            blocks.append(section(f"*{word(d.answer.locale, 'evidence')}*\n{shown}"))
        if d.notes:
            blocks.append(context("\n".join(f":warning: {esc(n)}" for n in d.notes[:5])))
    elif d.notes:
        blocks.append(context(f":warning: {word(d.answer.locale, 'partial')}"))
    subject_state = {**state, "q": clip(subject_query(d), 300)}
    if offer.questions and d.question is not None and d.question.options:
        blocks.append(section(f":grey_question: {d.question.text}"))
        answers = dict(state.get("a") or {})
        elements = [
            button(
                label,
                f"{ACTION_ANSWER}:{index}:{n}",
                sign({**subject_state, "a": {**answers, d.question.id: value}}),
            )
            for n, (value, label) in enumerate(d.question.options[:25])
        ]
        blocks.append({"type": "actions", "elements": elements})
    actions = set(d.answer.actions or (AGENT_DEFAULT_ACTIONS if agent else ()))
    elements = []
    if agent and offer.share and "share_with_customer" in actions:
        elements.append(
            button(
                "Share with customer",
                f"{ACTION_SHARE}:{index}",
                sign(subject_state),
                style="primary",
            )
        )
    if agent and offer.details and "details" in actions:
        elements.append(button("Details", f"{ACTION_DETAILS}:{index}", sign(subject_state)))
    provider = part.reactivate
    if agent and provider and d.recipient and "reactivate" in actions:
        value = sign({**subject_state, "p": provider, "r": d.recipient})
        element = button(
            "Reactivate address", f"{ACTION_REACTIVATE}:{index}", value, style="danger"
        )
        element["confirm"] = {
            "title": plain("Reactivate the address?", 100),
            "text": plain(
                f"{d.recipient} comes off {provider}'s suppression list, so email to it is sent "
                "again. Do it only when the recipient wants the email and the address works.",
                300,
            ),
            "confirm": plain("Reactivate", 30),
            "deny": plain("Cancel", 30),
            "style": "danger",
        }
        elements.append(element)
    if elements:
        blocks.append({"type": "actions", "elements": elements})
    return blocks


def subject_query(d: Diagnosis) -> str:
    """The text that looks this one subject up again on any instance."""
    if d.recipient:
        return d.recipient
    return d.dispatch_id or d.subject


def evidence_text(d: Diagnosis, *, limit: int = MAX_EVENTS_SHOWN) -> str:
    """The evidence lines, escaped; the server's words as a quotation under their event."""
    said = word(d.answer.locale, "server_said")
    lines = []
    for line in evidence(d, d.answer.locale, limit=limit):
        lines.append(esc(line.text))
        if line.quote:
            lines.append(f">{said}: `{esc(line.quote)}`")
    return "\n".join(lines)


def bounce_summary(
    rows: Sequence[BouncedRecipient], locale: str, notes: Sequence[ParseNote] = ()
) -> str:
    """What a pasted or attached bounce says, before the answers about its recipients, and
    what of it was not read, so that a partial reading is never taken for the whole email."""
    lines = [f"*{word(locale, 'bounce_says')}:*"]
    said = word(locale, "server_said")
    shown = summary(rows, locale)
    for row in shown:
        code = esc(row.code)
        lines.append(f"• {esc(row.recipient)}: {row.kind}, `{esc(row.reason)}` {code}".rstrip())
        if row.diagnostic:
            lines.append(f">{said}: `{esc(clip(one_line(row.diagnostic), 300))}`")
    named = listed(rows, notes)
    if named > len(shown):
        lines.append(f"+{named - len(shown):,} {word(locale, 'more_recipients')}")
    lines += [f"_{line}_" for line in note_lines(notes, locale)]
    return "\n".join(lines)


def details_view(diagnoses: Sequence[Diagnosis]) -> Block:
    """The modal behind "Details": the raw evidence an agent needs to escalate."""
    blocks: list[Block] = []
    for d in diagnoses:
        part: list[Block] = [
            {"type": "header", "text": plain(d.subject, MAX_HEADER)},
            context(f"`{esc(d.verdict)}`  ·  path: {esc(' → '.join(d.path))}"),
        ]
        events = d.timeline.events if d.timeline else ()
        for event in events[-20:]:
            text = esc(event_line(event))
            if event.message_id:
                text += f"\nmessage id `{esc(event.message_id)}`"
            if event.diagnostic:
                text += f"\n```{esc(clip(event.diagnostic, 2500))}```"
            part.append(section(text))
        part.append(section(dns_records(d.facts.get("domain")) or "No DNS findings."))
        if len(blocks) + len(part) > MAX_MODAL_BLOCKS - 1:
            blocks.append(context("More answers than fit; look each address up on its own."))
            break
        blocks += part
    return modal("Details", blocks or [section("Nothing to show.")], callback_id=VIEW_DETAILS)


def dns_records(domain: Any) -> str:
    if not isinstance(domain, Mapping) or not domain.get("name"):
        return ""
    rows = [f"*DNS {esc(str(domain['name']))}*"]
    for key in ("exists", "accepts_mail", "null_mx", "implicit_mx", "inconclusive"):
        rows.append(f"{key}: `{domain.get(key)}`")
    for host in domain.get("mx") or ():
        rows.append(f"MX `{esc(str(host))}`")
    if domain.get("cause"):
        rows.append(f"cause: {esc(str(domain['cause']))}")
    return "\n".join(rows)


def modal(
    title: str,
    blocks: list[Block],
    *,
    callback_id: str,
    submit: str | None = None,
    private_metadata: str = "",
) -> Block:
    view: Block = {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title, 24),
        "close": plain("Close", 24),
        "blocks": blocks[:MAX_MODAL_BLOCKS],
        "private_metadata": private_metadata,
    }
    if submit:
        view["submit"] = plain(submit, 24)
    return view


def loading_view(callback_id: str = VIEW_DETAILS) -> Block:
    return modal(
        "Details", [section(":hourglass_flowing_sand: Looking it up…")], callback_id=callback_id
    )


def lookup_view(private_metadata: str) -> Block:
    """A form to ask from App Home, where there is no message box."""
    return modal(
        "Ask whymail",
        [
            {
                "type": "input",
                "block_id": "query",
                "label": plain("Address, dispatch id or question", 2000),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "text",
                    "max_length": 2000,
                    "placeholder": plain("ola@firma.no", 150),
                },
            }
        ],
        callback_id=VIEW_LOOKUP,
        submit="Look up",
        private_metadata=private_metadata,
    )


HELP = (
    "*Ask why an email did not arrive.*\n"
    "• `/whymail ola@firma.no`: a recipient address\n"
    "• `/whymail d-1001`: a dispatch id (every recipient of it)\n"
    "• `/whymail why didn't ola@firma.no get the invoice?`: a sentence in English, Norwegian, "
    "Dutch or Portuguese\n"
    "• paste a bounce message after `/whymail`, or send a `.eml` file to me in a direct message\n"
    "• `/whymail lang nb`: answer me in nb, en, nl or pt-BR (`/whymail lang auto` to undo)\n"
    "In a channel shared with a customer, mention @whymail: the answer is for them, in thread."
)


def help_message() -> Message:
    return Message("How to use whymail", [section(HELP)])


def notice(text: str) -> Message:
    """A one-line reply; `text` must be escaped already."""
    return Message(text, [section(text)])


def home_view(
    *, recent: Iterable[tuple[str, str, float]], status: Mapping[str, Any], lookup_value: str
) -> Block:
    blocks: list[Block] = [
        {"type": "header", "text": plain("whymail", MAX_HEADER)},
        section(HELP),
        {
            "type": "actions",
            "elements": [
                button("Look something up", ACTION_NEW_LOOKUP, lookup_value, style="primary")
            ],
        },
        {"type": "divider"},
        section("*Your recent lookups*"),
    ]
    rows = [
        f"• {esc(clip(text, 120))} → `{esc(verdict)}`  "
        f"_{datetime.fromtimestamp(at, UTC).strftime('%Y-%m-%d %H:%M UTC')}_"
        for text, verdict, at in recent
    ]
    blocks.append(section("\n".join(rows) if rows else "_None yet._"))
    blocks.append({"type": "divider"})
    knowledge = [f"*Knowledge*: {status.get('trees', 0)} tree(s) loaded"]
    if status.get("loaded_at"):
        knowledge.append(f"last loaded {esc(str(status['loaded_at']))}")
    if status.get("last_error"):
        knowledge.append(
            f":warning: last edit refused:\n```{esc(clip(str(status['last_error']), 2000))}```"
        )
    else:
        knowledge.append("no refused edits")
    blocks.append(section("\n".join(knowledge)))
    return {"type": "home", "blocks": blocks}


def text_size(blocks: Iterable[Block]) -> int:
    """Characters of text a message carries, the quantity Slack's size limits count."""
    total = 0
    for block in blocks:
        total += _text_in(block)
    return total


def _text_in(node: Any) -> int:
    if isinstance(node, dict):
        size = len(node["text"]) if isinstance(node.get("text"), str) else 0
        return size + sum(
            _text_in(v) for k, v in node.items() if k != "text" or not isinstance(v, str)
        )
    if isinstance(node, list):
        return sum(_text_in(v) for v in node)
    return 0
