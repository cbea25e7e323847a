"""From a recipient's event history to the handful of facts a tree tests.

Which message is "the one they mean" is the judgement here: the newest dispatch to the address,
or when events carry no dispatch id, the newest message the ESP reported on.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot import facts as f
from bot.model import OUTCOME_EVENTS, DeliveryEvent, Dispatch, EventType, Timeline

_CLEARS_SUPPRESSION = frozenset({EventType.DELIVERED, EventType.OPENED, EventType.CLICKED})
_FAILING = frozenset({EventType.DEFERRED, EventType.BOUNCED, EventType.FAILED, EventType.REJECTED})


def focus(recipient: str, dispatch: Dispatch | None, events: Sequence[DeliveryEvent]) -> Timeline:
    """The timeline of the message in question among everything the recipient received."""
    if dispatch is not None:
        mine = [e for e in events if e.dispatch_id == dispatch.id]
        if mine or not events:
            return Timeline(recipient, dispatch, tuple(mine))
        newest = events[-1]
        if dispatch.created_at and newest.timestamp < dispatch.created_at:
            return Timeline(recipient, dispatch, ())
    if not events:
        return Timeline(recipient, dispatch, ())
    newest_outcome = next((e for e in reversed(events) if e.event_type in OUTCOME_EVENTS), None)
    anchor = newest_outcome or events[-1]
    if anchor.message_id:
        group = tuple(e for e in events if e.message_id == anchor.message_id)
    elif anchor.dispatch_id:
        group = tuple(e for e in events if e.dispatch_id == anchor.dispatch_id)
    else:
        group = (anchor,)
    return Timeline(recipient, dispatch, group)


def outcome(timeline: Timeline) -> DeliveryEvent | None:
    """The newest event that says where the message stands."""
    return next((e for e in reversed(timeline.events) if e.event_type in OUTCOME_EVENTS), None)


def suppressed(history: Sequence[DeliveryEvent]) -> bool:
    """Suppressed by the newest word on it: a suppression, or mail getting through after one."""
    state = False
    for event in history:
        if event.suppressed:
            state = True
        elif event.event_type in _CLEARS_SUPPRESSION:
            state = False
    return state


def timeline_facts(
    timeline: Timeline, history: Sequence[DeliveryEvent], dispatches_on_record: int
) -> f.Facts:
    dispatch = timeline.dispatch
    last = outcome(timeline)
    role = None
    if dispatch is not None:
        role = next(
            (r.role.value for r in dispatch.recipients if r.address == timeline.recipient), None
        )
    return {
        "dispatch": {
            "found": dispatch is not None or bool(timeline.events),
            "id": dispatch.id if dispatch else (last.dispatch_id if last else None),
            "kind": dispatch.kind if dispatch else None,
            "subject": dispatch.subject if dispatch else None,
            "state": dispatch.state.value if dispatch else None,
            "internal_error": dispatch.internal_error if dispatch else None,
            "created_at": dispatch.created_at.isoformat()
            if dispatch and dispatch.created_at
            else None,
            "role": role,
            "sender": dispatch.sender or None if dispatch else None,
            "reply_to": dispatch.reply_to or None if dispatch else None,
            "return_path": None,
            "platform_sender": None,
            "relay": dispatch.relay or None if dispatch else None,
        },
        "event": {
            "found": bool(timeline.events),
            "type": last.event_type.value if last else None,
            "timestamp": last.timestamp.isoformat() if last else None,
            "provider": last.provider if last else None,
            "smtp_code": last.smtp_code if last else None,
            "enhanced_status": last.enhanced_status if last else None,
            "diagnostic": last.diagnostic if last else None,
            "reject_reason": last.reject_reason if last else None,
            "reason": last.reason if last else None,
            "hard": last.hard if last else None,
            "suppressed": last.suppressed if last else False,
            "count": len(timeline.events),
        },
        "history": {
            "complained": any(e.event_type is EventType.COMPLAINED for e in history),
            "opened": any(e.event_type in (EventType.OPENED, EventType.CLICKED) for e in history),
            "deferrals": sum(e.event_type is EventType.DEFERRED for e in timeline.events),
            "dispatches": dispatches_on_record,
            "unsubscribed": any(e.event_type is EventType.UNSUBSCRIBED for e in history),
            "reasons": list(
                dict.fromkeys(
                    e.reason for e in timeline.events if e.event_type in _FAILING and e.reason
                )
            ),
            "deferred_hours": _deferred_hours(timeline),
        },
    }


def _deferred_hours(timeline: Timeline) -> int:
    """How long this message has been deferred: a first deferral is routine, days of them are
    not, so trees answer "wait" or "act" by it rather than by the count alone."""
    deferrals = [e.timestamp for e in timeline.events if e.event_type is EventType.DEFERRED]
    if not deferrals:
        return 0
    return int((timeline.events[-1].timestamp - deferrals[0]).total_seconds() // 3600)
