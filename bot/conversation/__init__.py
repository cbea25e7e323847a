"""The conversation, whatever the surface: who asks where, what they sent, and the answer with
what they may do next. Surfaces (Slack, the terminal, the HTTP API) translate into a `Request`
and render the `Reply`; none of them decides anything this package decides."""

from bot.conversation.asker import AGENT, CUSTOMER, Asker
from bot.conversation.evidence import Line, dns_line, event_line, evidence
from bot.conversation.flow import Conversation, Part, Reply, Request
from bot.conversation.prefs import Lookup, MemoryPrefs, Prefs, prefs_for

__all__ = [
    "AGENT",
    "CUSTOMER",
    "Asker",
    "Conversation",
    "Line",
    "Lookup",
    "MemoryPrefs",
    "Part",
    "Prefs",
    "Reply",
    "Request",
    "dns_line",
    "event_line",
    "evidence",
    "prefs_for",
]
