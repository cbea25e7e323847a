"""The facts trees can test, declared once: each group's keys with their types and meaning.

The diagnoser and the checks build these groups (mypy holds them to the declared keys and
types); the trees loader refuses a condition or text naming a fact not declared here, so a typo
can never silently evaluate to "false" in production; knowledge/README.md lists them all for
editors. A fact marked HIDDEN is internal (ids, ESP names, SMTP codes, remote servers' words):
customer text may test it but never print it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final, TypedDict, get_args, get_origin, get_type_hints

#: Marks a fact customer text must not print.
HIDDEN: Final = "hidden"


@dataclass(frozen=True, slots=True, init=False)
class Values:
    """The only values a fact takes. The check refuses a tree comparing it with anything else
    (`dispatch.state == 'Pågående'`), since such a branch can never be taken: the words users
    see in their product are not the values whymail reads."""

    names: frozenset[str]

    def __init__(self, *names: str) -> None:
        object.__setattr__(self, "names", frozenset(names))


#: Sisimai's reason names (the whole vocabulary, so a tree may test one the classifier of today
#: does not give yet); tests/test_facts.py holds bot.bounces to it.
BOUNCE_REASONS: Final = Values(
    "authfailure", "badreputation", "blocked", "contenterror", "delivered", "emailtoolarge",
    "exceedlimit", "expired", "failedstarttls", "feedback", "filtered", "hasmoved", "hostunknown",
    "mailboxfull", "mailererror", "mesgtoobig", "networkerror", "norelaying", "notaccept",
    "notcompliantrfc", "onhold", "policyviolation", "ratelimited", "rejected", "requireptr",
    "securityerror", "spamdetected", "speeding", "suppressed", "suspend", "syntaxerror",
    "systemerror", "systemfull", "toomanyconn", "undefined", "userunknown", "vacation",
    "virusdetected",
)  # fmt: skip


class Listing(TypedDict):
    """One sending IP found on one blocklist."""

    ip: str
    zone: str
    codes: list[str]


class QueryFacts(TypedDict, total=False):
    """What was asked."""

    kind: Annotated[
        str,
        Values("address", "dispatch", "none"),
        "what was asked about: address, dispatch or none",
    ]
    text: Annotated[str, "the words the person typed (untrusted)"]


class AddressFacts(TypedDict, total=False):
    """The recipient address being diagnosed."""

    value: Annotated[str | None, "the recipient address being diagnosed"]
    valid: Annotated[bool | None, "true when the address is syntactically valid"]
    problem: Annotated[
        str | None,
        "why the address is not valid: no_at_sign, nothing_before_at, quoted_local_part, "
        "bad_local_part, bad_domain, too_long, extra_text or invalid",
    ]
    domain: Annotated[str | None, "the part after the @"]
    suppressed: Annotated[
        bool,
        "the address is on the ESP's suppression list as far as events show",
    ]
    suggestion: Annotated[str | None, "a likely intended address when this one looks mistyped"]


class DispatchFacts(TypedDict, total=False):
    """The product's dispatch: its record, or what its events tell of it."""

    found: Annotated[bool, "a dispatch or delivery event matched the question"]
    id: Annotated[str | None, HIDDEN, "the dispatch id"]
    kind: Annotated[str | None, "invoice, reminder, order, quote, ..."]
    subject: Annotated[str | None, "the subject line"]
    state: Annotated[
        str | None,
        Values("pending", "in_progress", "sent", "failed", "cancelled"),
        "pending, in_progress, sent, failed or cancelled",
    ]
    internal_error: Annotated[
        str | None,
        "why the system could not send (missing_template, ...), or empty",
    ]
    created_at: Annotated[str | None, "when the dispatch was created (UTC)"]
    role: Annotated[
        str | None, Values("to", "cc", "bcc"), "how the recipient was addressed: to, cc or bcc"
    ]
    sender: Annotated[
        str | None,
        "the From address of the dispatch: the address recipients see it come from, and the one "
        "to add to their trusted senders",
    ]
    reply_to: Annotated[
        str | None,
        "where replies go (Reply-To), when the dispatch sets one; often the sending user's own "
        "address while From is the platform's",
    ]
    return_path: Annotated[
        str | None,
        "the envelope sender (Return-Path) domain bounces come back to, when the ESP reports it "
        "or the configuration names it",
    ]
    platform_sender: Annotated[
        bool | None,
        "the From address is on the platform's own sending domain (configured sending.domain), "
        "not the customer's: bounces can be tracked and mail signed without their credentials",
    ]
    relay: Annotated[
        str | None,
        "the customer's own outgoing mail server the dispatch went through instead of our email "
        "service (then no delivery events come back), or empty",
    ]


class EventFacts(TypedDict, total=False):
    """The latest outcome event for the recipient."""

    found: Annotated[bool, "there is at least one delivery event for this recipient"]
    type: Annotated[
        str | None,
        Values("queued", "sent", "rejected", "failed", "bounced", "deferred", "delivered"),
        "the latest outcome event: queued, sent, rejected, failed, bounced, deferred or delivered",
    ]
    timestamp: Annotated[str | None, "when the latest outcome event happened (UTC)"]
    provider: Annotated[str | None, HIDDEN, "the ESP that reported it"]
    smtp_code: Annotated[int | None, HIDDEN, "the remote server's SMTP reply code"]
    enhanced_status: Annotated[
        str | None,
        HIDDEN,
        "the remote server's enhanced status code (e.g. 5.1.1)",
    ]
    diagnostic: Annotated[str | None, HIDDEN, "the remote server's reply text (untrusted)"]
    reject_reason: Annotated[
        str | None,
        HIDDEN,
        Values("invalid", "bounced", "timed_out", "blocked", "spam", "unsubscribed", "other"),
        "the ESP's reason for rejecting (invalid, bounced, blocked, spam, ...)",
    ]
    reason: Annotated[
        str | None,
        HIDDEN,
        BOUNCE_REASONS,
        "the bounce reason (Sisimai's names: userunknown, mailboxfull, ...)",
    ]
    hard: Annotated[bool | None, "true for a hard bounce, false for a soft one"]
    suppressed: Annotated[bool, "the event says the message was not sent because of suppression"]
    count: Annotated[int, "how many delivery events the recipient has for this dispatch"]


class HistoryFacts(TypedDict, total=False):
    """Everything on record for the recipient."""

    complained: Annotated[bool, "the recipient marked a message as spam"]
    opened: Annotated[bool, "the recipient opened or clicked a message"]
    deferrals: Annotated[int, "how many times delivery was deferred"]
    dispatches: Annotated[int, "how many dispatches to this address are on record"]
    unsubscribed: Annotated[
        bool,
        "the recipient opted out of these emails (unsubscribed, 'Não Receber'), which is not a "
        "spam mark",
    ]
    reasons: Annotated[
        list[str],
        BOUNCE_REASONS,
        "the bounce reasons of this message's deferrals and failures, oldest first, each once",
    ]
    deferred_hours: Annotated[
        int,
        "whole hours from this message's first deferral to its latest event (0 without "
        "deferrals): one deferral an hour ago is worth waiting for, a week of them is not",
    ]


class DomainFacts(TypedDict, total=False):
    """DNS for the recipient's domain."""

    name: Annotated[str, "the recipient's domain"]
    exists: Annotated[bool | None, "true, false, or empty when DNS could not tell"]
    accepts_mail: Annotated[bool | None, "true when the domain has a usable MX or an implicit MX"]
    mx: Annotated[list[str], HIDDEN, "the MX host names, best preference first"]
    null_mx: Annotated[bool, "the domain publishes a null MX (RFC 7505): it accepts no mail"]
    implicit_mx: Annotated[bool, "no MX record, but an A/AAAA record acts as the mail server"]
    inconclusive: Annotated[bool, "DNS could not answer (timeout, SERVFAIL, REFUSED)"]
    cause: Annotated[str | None, HIDDEN, "why DNS was inconclusive"]
    mx_resolves: Annotated[
        bool | None,
        "true when at least one MX host has an address; false when none does",
    ]
    provider: Annotated[
        str | None,
        "the mailbox provider behind the MX hosts: gmail, google_workspace, outlook "
        "(Outlook.com/Hotmail/Live), microsoft365, yahoo, icloud, gmx, uol, bol, "
        "terra, ...",
    ]
    provider_name: Annotated[str | None, "the provider's display name, e.g. Outlook.com / Hotmail"]
    gateway: Annotated[
        str | None,
        "a filtering gateway in front of the mailbox: proofpoint, mimecast, "
        "barracuda, cisco, trendmicro, sophos, ...",
    ]
    gateway_name: Annotated[str | None, "the gateway's display name, e.g. Proofpoint"]
    suggestion: Annotated[
        str | None,
        "the domain the person probably meant (gmial.com → gmail.com)",
    ]
    mx_unresolved: Annotated[
        list[str],
        "MX hosts DNS says have no address (a dangling MX), best preference first",
    ]
    typo_candidate: Annotated[
        str | None,
        "the closest popular domain even when the typed one receives mail; "
        "domain.suggestion is only set when DNS says it cannot",
    ]


class SpfFacts(TypedDict, total=False):
    """The sending domain's SPF record."""

    present: Annotated[bool | None, "the sender's domain publishes an SPF record"]
    authorizes_esp: Annotated[bool | None, "the SPF record authorises the configured ESP"]
    problem: Annotated[
        str | None,
        HIDDEN,
        "what is wrong with the SPF record (too many lookups, several records, ...), or empty",
    ]
    record: Annotated[str | None, "the SPF record as published (untrusted text)"]
    lookups: Annotated[int, "how many DNS-querying terms the SPF record uses (the limit is 10)"]
    expected_include: Annotated[
        str | None,
        "the include our email service needs in the sender's SPF record (configured "
        "sending.spf_includes, e.g. spf.mtasv.net), or empty",
    ]


class DkimFacts(TypedDict, total=False):
    """The sending domain's DKIM keys."""

    present: Annotated[
        bool | None,
        "a DKIM key exists for the configured selector (or any selector)",
    ]
    selectors: Annotated[list[str], "the configured DKIM selectors that have a key"]
    domain: Annotated[
        str | None,
        "the domain the DKIM key was looked for (the ESP's signing domain, or the sender's)",
    ]
    expected_host: Annotated[
        str | None,
        "where the sender's domain must publish our email service's DKIM key "
        "(selector._domainkey.domain), when a selector is configured, or empty",
    ]


class DmarcFacts(TypedDict, total=False):
    """The DMARC policy that applies to the sending domain."""

    present: Annotated[bool | None, "the sender's domain (or its organisational domain) has DMARC"]
    policy: Annotated[
        str | None,
        Values("none", "quarantine", "reject"),
        "the DMARC policy: none, quarantine or reject",
    ]
    aligned: Annotated[
        bool | None,
        "the ESP's signing or return-path domain aligns with the sender",
    ]
    record: Annotated[str | None, "the DMARC record that applies (untrusted text)"]
    domain: Annotated[
        str | None,
        "where that DMARC record was found: the sender's domain or its organisational domain",
    ]
    problem: Annotated[
        str | None,
        "what is wrong with DMARC (several records, invalid policy), or empty",
    ]


class SenderFacts(TypedDict, total=False):
    """DNS for the sending domain."""

    domain: Annotated[str | None, "the sending domain (the dispatch's From domain, or configured)"]
    inconclusive: Annotated[bool, "DNS could not answer for the sender's domain"]
    cause: Annotated[str | None, "why DNS was inconclusive for the sender's domain"]
    exists: Annotated[
        bool | None,
        "false when the sending domain does not exist (NXDOMAIN): receivers refuse mail from it",
    ]
    spf: SpfFacts
    dkim: DkimFacts
    dmarc: DmarcFacts


class ReputationFacts(TypedDict, total=False):
    """The sending IPs on the configured blocklists."""

    listed: Annotated[bool | None, "a sending IP is listed on a configured blocklist"]
    listings: Annotated[list[Listing], HIDDEN, "which blocklists list which sending IPs"]
    inconclusive: Annotated[bool, "a blocklist could not be checked (error code, timeout)"]
    cause: Annotated[str | None, "why a blocklist could not be checked"]
    checked: Annotated[list[str], "which sending IPs were looked up on which blocklists"]


class Facts(TypedDict, total=False):
    """Everything one diagnosis knows, by group; `answers` holds replies to question nodes."""

    query: QueryFacts
    address: AddressFacts
    dispatch: DispatchFacts
    event: EventFacts
    history: HistoryFacts
    domain: DomainFacts
    sender: SenderFacts
    reputation: ReputationFacts
    answers: dict[str, Any]


#: Replies to question nodes arrive as `answers.<question id>`; any id is allowed.
OPEN_ROOTS = frozenset({"answers"})


def _is_group(hint: Any) -> bool:
    return isinstance(hint, type) and hasattr(hint, "__required_keys__")  # a TypedDict


@dataclass(frozen=True, slots=True)
class _Fact:
    meaning: str
    hidden: bool
    values: frozenset[str] | None
    kind: Any


def _declared(group: type, prefix: str = "") -> dict[str, _Fact]:
    """Dotted name → what is declared of every fact in `group` and the groups inside it."""
    found: dict[str, _Fact] = {}
    for key, hint in get_type_hints(group, include_extras=True).items():
        name = f"{prefix}{key}"
        if get_origin(hint) is Annotated:
            kind, *marks = get_args(hint)
            values = next((m.names for m in marks if isinstance(m, Values)), None)
            found[name] = _Fact(str(marks[-1]), HIDDEN in marks[:-1], values, kind)
        elif _is_group(hint) and key not in OPEN_ROOTS:
            found.update(_declared(hint, f"{name}."))
    return found


_ALL: Final = _declared(Facts)
#: Every fact name → what it means, for editors.
FACTS: Final[dict[str, str]] = {name: fact.meaning for name, fact in _ALL.items()}
#: Facts a customer must never see: internal ids, ESP names, SMTP codes and raw server replies.
CUSTOMER_HIDDEN_FACTS: Final = frozenset(name for name, fact in _ALL.items() if fact.hidden)
#: The facts whose every value is known, and those values (for a list fact: of its items).
FACT_VALUES: Final[dict[str, frozenset[str]]] = {
    name: fact.values for name, fact in _ALL.items() if fact.values is not None
}
#: Facts that are true or false (or empty when unknown): an example must give them as such.
BOOLEAN_FACTS: Final = frozenset(
    name for name, fact in _ALL.items() if bool in get_args(fact.kind) or fact.kind is bool
)

ROOTS = frozenset(name.partition(".")[0] for name in FACTS) | OPEN_ROOTS


def _blank(kind: Any) -> Any:
    if kind is int:
        return 0
    if kind is bool:
        return False
    if get_origin(kind) is list:
        return []
    return None


def blank_facts() -> dict[str, Any]:
    """Every declared fact as a diagnosis with no evidence holds it: counts 0, lists empty,
    true/false facts false, the rest empty. Texts are tried against examples laid over this,
    since a real diagnosis always carries every fact."""
    facts: dict[str, Any] = {"answers": {}}
    for name, fact in _ALL.items():
        *groups, key = name.split(".")
        target = facts
        for group in groups:
            target = target.setdefault(group, {})
        target[key] = _blank(fact.kind)
    return facts


def completed(facts: Mapping[str, Any]) -> dict[str, Any]:
    """`facts` with every fact they leave out present as `blank_facts` holds it: what a text
    sees in a real diagnosis, for examples and tests that give only the facts they are about."""
    return _laid_over(blank_facts(), facts)


def _laid_over(base: dict[str, Any], facts: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in facts.items():
        inner = base.get(key)
        if isinstance(inner, dict) and isinstance(value, Mapping):
            _laid_over(inner, value)
        else:
            base[key] = value
    return base
