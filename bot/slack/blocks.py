"""Block Kit for answers, modals and App Home: pure functions from core records to JSON.

Every word comes from a `Chrome` (knowledge/ui.yml in the reader's language): an answer's own,
or the one the caller passes for what is not an answer (help, notices, App Home).

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
from bot.chrome import Chrome
from bot.conversation import Part, evidence
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
    chrome: Chrome,
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
        blocks.append(context(chrome("more", count=hidden)))
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
    word = d.answer.chrome
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
        blocks.append(section(f"*{word('steps')}*\n{steps}"))
    if agent:
        shown = evidence_text(d)
        if shown:
            blocks.append(section(f"*{word('evidence')}*\n{shown}"))
        if d.notes:
            notes = d.note_lines()[:5]
            blocks.append(context("\n".join(f":warning: {esc(n)}" for n in notes)))
    elif d.notes:
        blocks.append(context(f":warning: {word('partial')}"))
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
                word("share"),
                f"{ACTION_SHARE}:{index}",
                sign(subject_state),
                style="primary",
            )
        )
    if agent and offer.details and "details" in actions:
        elements.append(button(word("details"), f"{ACTION_DETAILS}:{index}", sign(subject_state)))
    provider = part.reactivate
    if agent and provider and d.recipient and "reactivate" in actions:
        value = sign({**subject_state, "p": provider, "r": d.recipient})
        element = button(word("reactivate"), f"{ACTION_REACTIVATE}:{index}", value, style="danger")
        element["confirm"] = {
            "title": plain(word("reactivate_title"), 100),
            "text": plain(word("reactivate_text", address=d.recipient, provider=provider), 300),
            "confirm": plain(word("reactivate_confirm"), 30),
            "deny": plain(word("cancel"), 30),
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
    said = d.answer.chrome("server_said")
    lines = []
    for line in evidence(d, limit=limit):
        lines.append(esc(line.text))
        if line.quote:
            lines.append(f">{said}: `{esc(line.quote)}`")
    return "\n".join(lines)


def bounce_summary(
    rows: Sequence[BouncedRecipient],
    chrome: Chrome,
    notes: Sequence[ParseNote] = (),
    *,
    agent: bool,
) -> str:
    """What a pasted or attached bounce says, before the answers about its recipients, and
    what of it was not read, so that a partial reading is never taken for the whole email.
    A customer reads each recipient and what happened in plain words; an agent also gets the
    reason, the codes and the server's reply."""
    lines = [f"*{chrome('bounce_says')}:*"]
    said = chrome("server_said")
    shown = summary(rows, chrome)
    for row in shown:
        line = chrome("bounce_row", recipient=esc(row.recipient), kind=row.kind)
        if agent:
            line += f", {esc(row.reason)} {esc(row.code)}".rstrip()
        lines.append(f"• {line}")
        if agent and row.diagnostic:
            lines.append(f">{said}: `{esc(clip(one_line(row.diagnostic), 300))}`")
    named = listed(rows, notes)
    if named > len(shown):
        lines.append(chrome("more_recipients", count=f"{named - len(shown):,}"))
    lines += [f"_{line}_" for line in note_lines(notes, chrome)]
    return "\n".join(lines)


def details_view(diagnoses: Sequence[Diagnosis], chrome: Chrome) -> Block:
    """The modal behind "Details": the raw evidence an agent needs to escalate."""
    blocks: list[Block] = []
    for d in diagnoses:
        word = d.answer.chrome
        part: list[Block] = [
            {"type": "header", "text": plain(d.subject, MAX_HEADER)},
            context(f"`{esc(d.verdict)}`  ·  {word('path')}: {esc(' → '.join(d.path))}"),
        ]
        events = d.timeline.events if d.timeline else ()
        for event in events[-20:]:
            text = esc(event_line(event, word))
            if event.message_id:
                text += f"\n{word('message_id')} `{esc(event.message_id)}`"
            if event.diagnostic:
                text += f"\n```{esc(clip(event.diagnostic, 2500))}```"
            part.append(section(text))
        part.append(section(dns_records(d.facts.get("domain"), word) or word("no_dns")))
        if len(blocks) + len(part) > MAX_MODAL_BLOCKS - 1:
            blocks.append(context(chrome("details_more")))
            break
        blocks += part
    return modal(
        chrome("details"),
        blocks or [section(chrome("nothing_to_show"))],
        chrome=chrome,
        callback_id=VIEW_DETAILS,
    )


#: The DNS findings the Details window lists, each with its ui.yml word.
_DNS_FIELDS = (
    ("exists", "dns_exists"),
    ("accepts_mail", "dns_accepts_mail"),
    ("null_mx", "dns_null_mx_field"),
    ("implicit_mx", "dns_implicit_mx_field"),
    ("inconclusive", "dns_inconclusive_field"),
)
_YES_NO = {True: "yes", False: "no", None: "unknown"}


def dns_records(domain: Any, chrome: Chrome) -> str:
    if not isinstance(domain, Mapping) or not domain.get("name"):
        return ""
    rows = [f"*{chrome('dns_line', domain=esc(str(domain['name'])), summary='').rstrip(': ')}*"]
    for key, name in _DNS_FIELDS:
        value = domain.get(key)
        rows.append(f"{chrome(name)}: {chrome(_YES_NO.get(value, 'unknown'))}")
    for host in domain.get("mx") or ():
        rows.append(f"MX `{esc(str(host))}`")
    if domain.get("cause"):
        rows.append(f"{chrome('dns_cause')}: {esc(str(domain['cause']))}")
    return "\n".join(rows)


def modal(
    title: str,
    blocks: list[Block],
    *,
    chrome: Chrome,
    callback_id: str,
    submit: str | None = None,
    private_metadata: str = "",
) -> Block:
    view: Block = {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title, 24),
        "close": plain(chrome("close"), 24),
        "blocks": blocks[:MAX_MODAL_BLOCKS],
        "private_metadata": private_metadata,
    }
    if submit:
        view["submit"] = plain(submit, 24)
    return view


def loading_view(chrome: Chrome, callback_id: str = VIEW_DETAILS) -> Block:
    return modal(
        chrome("details"),
        [section(f":hourglass_flowing_sand: {chrome('looking_it_up')}")],
        chrome=chrome,
        callback_id=callback_id,
    )


def lookup_view(private_metadata: str, chrome: Chrome) -> Block:
    """A form to ask from App Home, where there is no message box."""
    return modal(
        chrome("ask_title"),
        [
            {
                "type": "input",
                "block_id": "query",
                "label": plain(chrome("lookup_label"), 2000),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "text",
                    "max_length": 2000,
                    "placeholder": plain("ola@firma.no", 150),
                },
            }
        ],
        chrome=chrome,
        callback_id=VIEW_LOOKUP,
        submit=chrome("lookup_submit"),
        private_metadata=private_metadata,
    )


def help_message(chrome: Chrome) -> Message:
    return Message(chrome("help_title"), [section(chrome("help"))])


def notice(text: str) -> Message:
    """A one-line reply; `text` must be escaped already."""
    return Message(text, [section(text)])


def home_view(
    *,
    recent: Iterable[tuple[str, str, float]],
    status: Mapping[str, Any],
    lookup_value: str,
    chrome: Chrome,
) -> Block:
    blocks: list[Block] = [
        {"type": "header", "text": plain("whymail", MAX_HEADER)},
        section(chrome("help")),
        {
            "type": "actions",
            "elements": [
                button(chrome("home_lookup"), ACTION_NEW_LOOKUP, lookup_value, style="primary")
            ],
        },
        {"type": "divider"},
        section(f"*{chrome('home_recent')}*"),
    ]
    rows = [
        f"• {esc(clip(text, 120))} → `{esc(verdict)}`  "
        f"_{chrome.when(datetime.fromtimestamp(at, UTC), form='when_line')}_"
        for text, verdict, at in recent
    ]
    blocks.append(section("\n".join(rows) if rows else f"_{chrome('home_none')}_"))
    blocks.append({"type": "divider"})
    knowledge = [chrome("home_knowledge", count=status.get("trees", 0))]
    if status.get("loaded_at"):
        knowledge.append(chrome("home_loaded", when=chrome.when(str(status["loaded_at"]))))
    if status.get("last_error"):
        knowledge.append(
            f":warning: {chrome('home_refused')}\n"
            f"```{esc(clip(str(status['last_error']), 2000))}```"
        )
    else:
        knowledge.append(chrome("home_no_refused"))
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
