"""The pipeline: text → query → evidence → facts → tree → answer. The only module that knows
every stage; each stage only hands plain data to the next.

Lookups for several subjects, and the DNS checks for their domains, run concurrently; the DNS
stage has one hard deadline, after which its findings are "inconclusive", never "no mail server".
"""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from bot.bounces import classify
from bot.checks import DNSClient, DomainFacts, check_recipient_domain
from bot.model import DeliveryEvent, Diagnosis, Dispatch, EventType, Timeline
from bot.query import InvalidAddress, Query, parse
from bot.sources.store import Store
from bot.timeline import focus, suppressed, timeline_facts
from bot.trees import Escaper, Knowledge, render

_CLASSIFIED = frozenset(
    {EventType.BOUNCED, EventType.DEFERRED, EventType.FAILED, EventType.REJECTED}
)


@dataclass(frozen=True, slots=True)
class Subject:
    """One recipient (of one dispatch, when known) that an answer is about."""

    label: str
    address: str | None = None
    invalid: InvalidAddress | None = None
    dispatch: Dispatch | None = None
    missing_id: str | None = None


@dataclass(frozen=True, slots=True)
class Report:
    query: Query
    diagnoses: tuple[Diagnosis, ...]

    @property
    def empty(self) -> bool:
        return self.query.empty


class Diagnoser:
    def __init__(
        self,
        store: Store,
        dns: DNSClient,
        knowledge: Callable[[], Knowledge],
        *,
        dns_deadline: float = 4.5,
    ) -> None:
        self._store = store
        self._dns = dns
        self._knowledge = knowledge
        self._dns_deadline = dns_deadline

    async def ask(
        self,
        text: str,
        *,
        locale: str | None = None,
        audience: str = "agent",
        tenant: str | None = None,
        escape: Escaper = str,
        answers: Mapping[str, str] | None = None,
    ) -> Report:
        """Diagnose every subject in `text`.

        `answers` holds replies to earlier questions (question id → option value); trees read
        them as `answers.<id>`.
        """
        query = parse(text)
        if query.empty:
            return Report(query, ())
        subjects = await self._subjects(query, tenant)
        domains = {s.address.rpartition("@")[2] for s in subjects if s.address}
        dns_task = asyncio.create_task(self._check_domains(domains))
        evidence = await asyncio.gather(*(self._evidence(s, tenant) for s in subjects))
        domain_facts = await dns_task
        knowledge = self._knowledge()
        chosen_locale = locale or query.locale_hint or "en"
        diagnoses = []
        for subject, (timeline, facts) in zip(subjects, evidence, strict=True):
            if subject.address:
                domain = subject.address.rpartition("@")[2]
                facts["domain"] = domain_facts[domain].as_facts()
            facts["query"] = {"kind": _kind(subject), "text": query.text}
            facts["answers"] = dict(answers or {})
            result = knowledge.decide(facts)
            answer = render(
                result.leaf, facts, locale=chosen_locale, audience=audience, escape=escape
            )
            last = facts.get("event", {})
            diagnoses.append(
                Diagnosis(
                    subject=subject.label,
                    verdict=result.leaf.verdict,
                    severity=result.leaf.severity,
                    path=result.path,
                    facts=facts,
                    answer=answer,
                    recipient=subject.address,
                    dispatch_id=facts.get("dispatch", {}).get("id"),
                    reason=last.get("reason"),
                    hard=last.get("hard"),
                    timeline=timeline,
                )
            )
        return Report(query, tuple(diagnoses))

    async def _subjects(self, query: Query, tenant: str | None) -> list[Subject]:
        subjects: list[Subject] = [Subject(i.text, invalid=i) for i in query.invalid]
        subjects += [Subject(address, address=address) for address in query.addresses]
        missing: list[str] = []
        for dispatch_id in query.dispatch_ids:
            dispatch = await self._store.dispatch(dispatch_id, tenant)
            if dispatch is not None:
                subjects += [
                    Subject(f"{dispatch.id} → {r.address}", address=r.address, dispatch=dispatch)
                    for r in dispatch.recipients
                ]
                continue
            events = await self._store.events_for_message(dispatch_id)
            events = [e for e in events if tenant is None or e.tenant == tenant]
            if events:
                for address in dict.fromkeys(e.recipient for e in events):
                    subjects.append(Subject(address, address=address))
            else:
                missing.append(dispatch_id)
        if not subjects and missing:
            subjects.append(Subject(missing[0], missing_id=missing[0]))
        return subjects

    async def _evidence(
        self, subject: Subject, tenant: str | None
    ) -> tuple[Timeline | None, dict[str, Any]]:
        if subject.invalid is not None:
            facts = _address_facts(None, subject.invalid)
            return None, facts | timeline_facts(Timeline(subject.label, None, ()), (), 0)
        if subject.address is None:
            facts = _address_facts(None, None)
            empty = timeline_facts(Timeline(subject.label, None, ()), (), 0)
            empty["dispatch"]["id"] = subject.missing_id
            return None, facts | empty
        address = subject.address
        history_list, dispatches = await asyncio.gather(
            self._store.events_for_recipient(address, tenant),
            self._store.dispatches_for_recipient(address, tenant),
        )
        history = [_classified(e) for e in history_list]
        dispatch = subject.dispatch or (dispatches[0] if dispatches else None)
        timeline = focus(address, dispatch, history)
        facts = _address_facts(address, None) | timeline_facts(timeline, history, len(dispatches))
        facts["address"]["suppressed"] = suppressed(history)
        if not facts["dispatch"]["found"]:
            facts["address"]["suggestion"] = await self._near_miss(address)
        return timeline, facts

    async def _near_miss(self, address: str) -> str | None:
        """A stored address one slip of the keyboard away from the one asked about."""
        domain = address.rpartition("@")[2]
        known = await self._store.known_recipients(domain)
        close = difflib.get_close_matches(address, known, n=1, cutoff=0.85)
        return close[0] if close else None

    async def _check_domains(self, domains: set[str]) -> dict[str, DomainFacts]:
        ordered = sorted(domains)
        tasks = [asyncio.ensure_future(check_recipient_domain(self._dns, d)) for d in ordered]
        if not tasks:
            return {}
        await asyncio.wait(tasks, timeout=self._dns_deadline)
        results: dict[str, DomainFacts] = {}
        for domain, task in zip(ordered, tasks, strict=True):
            if task.done() and not task.cancelled() and task.exception() is None:
                results[domain] = task.result()
            else:
                task.cancel()
                results[domain] = DomainFacts(
                    domain,
                    None,
                    None,
                    inconclusive=True,
                    cause=f"no answer within the {self._dns_deadline:g} s DNS deadline",
                )
        return results


def _classified(event: DeliveryEvent) -> DeliveryEvent:
    """Give every failure a reason from the remote server's words when the ESP gave none."""
    if event.event_type not in _CLASSIFIED or event.reason:
        return event
    if not (event.diagnostic or event.enhanced_status or event.smtp_code):
        return event
    result = classify(
        event.diagnostic,
        status=event.enhanced_status,
        smtp_code=event.smtp_code,
        mx_host=event.mx_host,
    )
    hard = event.hard if event.hard is not None else result.hard
    return replace(event, reason=result.reason, hard=hard)


def _address_facts(address: str | None, invalid: InvalidAddress | None) -> dict[str, Any]:
    value = address or (invalid.text if invalid else None)
    return {
        "address": {
            "value": value,
            "valid": False if invalid else (True if address else None),
            "problem": invalid.problem if invalid else None,
            "domain": value.rpartition("@")[2] if value else None,
            "suppressed": False,
            "suggestion": None,
        }
    }


def _kind(subject: Subject) -> str:
    if subject.dispatch is not None or subject.missing_id is not None:
        return "dispatch"
    return "address"
