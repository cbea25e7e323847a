"""A dispatch known from its delivery events, and merged with the product's own record.

Most products tag what they hand the ESP with `dispatch_id` and never send whymail a dispatch
record, so a dispatch id must be answerable from its events alone: their recipients, the tenant
from the tag, and the subject and sender where the ESP repeats them. When the product's record
exists too (stored before the events or after: the store keeps both), the record wins and the
events only fill what it leaves out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from email.utils import parseaddr

from bot.model import DeliveryEvent, Dispatch, DispatchState, Recipient
from bot.sources.esps import PROVIDERS
from bot.sources.payload import Envelope


def from_events(dispatch_id: str, events: Sequence[DeliveryEvent]) -> Dispatch | None:
    """The dispatch that `events` (oldest first) tell of, or None when none carries its id.

    Its state is `sent`: the product handed the message to an ESP, which is all events prove.
    """
    mine = [e for e in events if e.dispatch_id == dispatch_id]
    if not mine:
        return None
    envelope = _envelope(mine)
    return Dispatch(
        id=dispatch_id,
        tenant=next((e.tenant for e in mine if e.tenant), ""),
        subject=envelope.subject or "",
        sender=_address(envelope.sender),
        recipients=tuple(Recipient(a) for a in dict.fromkeys(e.recipient for e in mine)),
        created_at=min(e.timestamp for e in mine),
        state=DispatchState.SENT,
    )


def merged(record: Dispatch, observed: Dispatch | None) -> Dispatch:
    """The product's record, with what only the events know added: recipients the ESP was
    given besides the record's (a cc added downstream), and a missing subject or sender."""
    if observed is None:
        return record
    listed = {r.address for r in record.recipients}
    extra = tuple(r for r in observed.recipients if r.address not in listed)
    return replace(
        record,
        subject=record.subject or observed.subject,
        sender=record.sender or observed.sender,
        reply_to=record.reply_to or observed.reply_to,
        recipients=record.recipients + extra,
        created_at=record.created_at or observed.created_at,
    )


def _envelope(events: Sequence[DeliveryEvent]) -> Envelope:
    """The first subject and sender any event names; stops reading payloads once it has both."""
    subject = sender = None
    for event in events:
        provider = PROVIDERS.get(event.provider)
        if provider is None:
            continue
        found = provider.envelope(event.raw)
        subject, sender = subject or found.subject, sender or found.sender
        if subject and sender:
            break
    return Envelope(subject, sender)


def _address(sender: str | None) -> str:
    """`Acme Billing <billing@acme.no>` → `billing@acme.no`: the sender checks want the domain."""
    if not sender:
        return ""
    address = parseaddr(sender)[1]
    return address if "@" in address else ""
