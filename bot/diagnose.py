"""The pipeline: text → query → evidence → facts → tree → answer. The only module that knows
every stage; each stage only hands plain data to the next.

Lookups for several subjects, and the DNS checks for their domains, run concurrently; the DNS
stage has one hard deadline, after which its findings are "inconclusive", never "no mail server".
"""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from bot import facts as f
from bot.bounces import classify
from bot.checks import CheckRun, ChecksConfig, DNSClient, Findings, sender_domain
from bot.chrome import Chrome, TimeZones
from bot.metrics import DIAGNOSES, stage, timed
from bot.model import DeliveryEvent, Diagnosis, Dispatch, EventType, Timeline, Unanswered
from bot.query import InvalidAddress, Query, parse
from bot.sources import dispatches
from bot.sources.store import Store
from bot.timeline import focus, suppressed, timeline_facts
from bot.trees import Escaper, Knowledge, render, render_question
from bot.trees.model import Leaf

if TYPE_CHECKING:
    from bot.sources.esp import EspSources

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
        checks: ChecksConfig | None = None,
        esp: EspSources | None = None,
        time_zones: TimeZones | None = None,
    ) -> None:
        self._store = store
        self._time_zones = time_zones or TimeZones()
        self._esp = esp
        self._dns = dns
        self._knowledge = knowledge
        self._dns_deadline = dns_deadline
        self._checks = checks or ChecksConfig()

    def chrome(self, locale: str, tenant: str | None = None) -> Chrome:
        """The words of the trees in force for `locale`, with times in `tenant`'s zone: what a
        surface shows when it has no answer to show (a notice, help, an error)."""
        return self._knowledge().ui.chrome(locale, self._time_zones.configured(tenant))

    async def ask(
        self,
        text: str,
        *,
        locale: str | None = None,
        audience: str = "agent",
        tenant: str | None = None,
        escape: Escaper = str,
        answers: Mapping[str, str] | None = None,
        default_locale: str | None = None,
        evidence: Sequence[DeliveryEvent] = (),
    ) -> Report:
        """Diagnose every subject in `text`, and every recipient of `evidence`.

        The locale is `locale`, else the one the text is written in, else `default_locale`
        (what the surface knows of the person), else English. `answers` holds replies to
        earlier questions (question id → option value); trees read them as `answers.<id>`.
        `evidence` is what the asker brought (the events of a pasted bounce): it joins the
        stored history of its recipients.
        """
        query = parse(text)
        if query.empty and not evidence:
            return Report(query, ())
        subjects = await self._subjects(query, tenant)
        known = {s.address for s in subjects}
        subjects += [
            Subject(address, address=address)
            for address in dict.fromkeys(e.recipient for e in evidence)
            if address not in known
        ]
        return await self._diagnose(
            query,
            subjects,
            locale=locale,
            audience=audience,
            tenant=tenant,
            escape=escape,
            answers=answers,
            default_locale=default_locale,
            evidence=evidence,
        )

    async def about(
        self,
        recipient: str,
        dispatch_id: str | None,
        *,
        tenant: str | None,
        locale: str,
        audience: str,
        escape: Escaper = str,
    ) -> Diagnosis:
        """The diagnosis of one recipient of one dispatch, as an alert tells it: no text to
        parse, the subject is known (the event that prompted it), and `tenant` bounds what is
        read, so a customer's alert holds nothing of another tenant."""
        # The address comes from a stored event, normalized already: no text to parse.
        query = Query(recipient, (recipient,), (), (), None, False)
        dispatch = await self._dispatch(dispatch_id, tenant) if dispatch_id else None
        label = f"{dispatch.id} → {recipient}" if dispatch is not None else recipient
        subject = Subject(label, address=recipient, dispatch=dispatch)
        report = await self._diagnose(
            query, [subject], locale=locale, audience=audience, tenant=tenant, escape=escape
        )
        return report.diagnoses[0]

    def retell(
        self, d: Diagnosis, *, locale: str, audience: str, tenant: str | None, escape: Escaper = str
    ) -> Diagnosis:
        """`d` told for another language and audience, from the facts already gathered: no
        store, ESP or DNS work again. For one subject told to several channels (an alert); the
        facts must have been gathered for the same `tenant`."""
        knowledge = self._knowledge()
        node = knowledge.nodes.get(d.path[-1]) if d.path and d.question is None else None
        # The walk is only done again when the leaf is gone (the trees were reloaded since) or
        # a question is pending, whose node the diagnosis does not keep.
        result = None
        if isinstance(node, Leaf):
            leaf = node
        else:
            result = knowledge.decide(d.facts)
            leaf = result.leaf
        owner = d.timeline.dispatch.tenant if d.timeline and d.timeline.dispatch else None
        answer = render(
            leaf,
            d.facts,
            locale=locale,
            audience=audience,
            escape=escape,
            ui=knowledge.ui,
            time_zone=self._time_zones.configured(tenant or owner),
        )
        question = (
            render_question(result.question, locale=answer.locale, escape=escape)
            if result is not None and result.question
            else None
        )
        return replace(d, answer=answer, question=question)

    async def _diagnose(
        self,
        query: Query,
        subjects: list[Subject],
        *,
        locale: str | None,
        audience: str,
        tenant: str | None,
        escape: Escaper,
        answers: Mapping[str, str] | None = None,
        default_locale: str | None = None,
        evidence: Sequence[DeliveryEvent] = (),
    ) -> Report:
        domains = {s.address.rpartition("@")[2] for s in subjects if s.address}
        # Recipient checks start now; the senders of the dispatches found join the same run.
        checks = CheckRun(self._dns, self._checks, deadline=self._dns_deadline)
        checks.recipients(domains)
        found = await asyncio.gather(*(self._evidence(s, tenant, evidence) for s in subjects))
        senders = [_sender(timeline, self._checks) for timeline, _, _ in found]
        checks.senders(senders)
        findings = await self._check_domains(checks)
        knowledge = self._knowledge()
        chosen_locale = locale or query.locale_hint or default_locale or "en"
        diagnoses = []
        for subject, sender, (timeline, facts, notes) in zip(subjects, senders, found, strict=True):
            domain = subject.address.rpartition("@")[2] if subject.address else None
            facts.update(findings.facts_for(domain, sender))
            _own_setup(facts, self._checks)
            facts["query"] = {"kind": _kind(subject), "text": query.text}
            facts["answers"] = dict(answers or {})
            owner = timeline.dispatch.tenant if timeline and timeline.dispatch else None
            with stage("tree"):
                result = knowledge.decide(facts)
                answer = render(
                    result.leaf,
                    facts,
                    locale=chosen_locale,
                    audience=audience,
                    escape=escape,
                    ui=knowledge.ui,
                    time_zone=self._time_zones.configured(tenant or owner),
                )
            DIAGNOSES.labels(result.leaf.verdict).inc()
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
                    notes=notes,
                    question=render_question(result.question, locale=answer.locale, escape=escape)
                    if result.question
                    else None,
                )
            )
        return Report(query, tuple(diagnoses))

    @timed("store")
    async def _subjects(self, query: Query, tenant: str | None) -> list[Subject]:
        subjects: list[Subject] = [Subject(i.text, invalid=i) for i in query.invalid]
        subjects += [Subject(address, address=address) for address in query.addresses]
        missing: list[str] = []
        for dispatch_id in query.dispatch_ids:
            dispatch = await self._dispatch(dispatch_id, tenant)
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

    async def _dispatch(self, dispatch_id: str, tenant: str | None) -> Dispatch | None:
        """The product's record of the dispatch, completed from its events; or the dispatch as
        its events alone describe it, when the product never sent a record."""
        record, events = await asyncio.gather(
            self._store.dispatch(dispatch_id, tenant),
            self._store.events_for_dispatch(dispatch_id, tenant),
        )
        observed = dispatches.from_events(dispatch_id, events)
        return dispatches.merged(record, observed) if record is not None else observed

    async def _evidence(
        self, subject: Subject, tenant: str | None, brought: Sequence[DeliveryEvent]
    ) -> tuple[Timeline | None, f.Facts, tuple[Unanswered, ...]]:
        """The subject's timeline and facts, and notes on what could not be asked (an ESP that
        did not answer), which belong to the answer rather than to the facts trees test."""
        if subject.invalid is not None:
            facts = _address_facts(None, subject.invalid)
            return None, facts | timeline_facts(Timeline(subject.label, None, ()), (), 0), ()
        if subject.address is None:
            facts = _address_facts(None, None)
            empty = timeline_facts(Timeline(subject.label, None, ()), (), 0)
            empty["dispatch"]["id"] = subject.missing_id
            return None, facts | empty, ()
        address = subject.address
        with stage("store"):
            history_list, recorded = await asyncio.gather(
                self._store.events_for_recipient(address, tenant),
                self._store.dispatches_for_recipient(address, tenant),
            )
        esp_notes: list[Unanswered] = []
        esp_suppressed = False
        if not history_list and self._esp is not None:
            history_list, esp_notes, esp_suppressed = await self._from_esp(address, tenant)
        mine = [e for e in brought if e.recipient == address]
        if mine:
            history_list = sorted([*history_list, *mine], key=lambda e: e.timestamp)
        history = [_classified(e) for e in history_list]
        dispatch = subject.dispatch or (recorded[0] if recorded else None)
        timeline = _described(focus(address, dispatch, history))
        facts = _address_facts(address, None) | timeline_facts(timeline, history, len(recorded))
        facts["address"]["suppressed"] = suppressed(history) or esp_suppressed
        if not facts["dispatch"]["found"]:
            facts["address"]["suggestion"] = await self._near_miss(address, tenant)
        return timeline, facts, tuple(esp_notes)

    @timed("esp_api")
    async def _from_esp(
        self, address: str, tenant: str | None
    ) -> tuple[list[DeliveryEvent], list[Unanswered], bool]:
        """The ESPs' own records when the store has none (mail sent before the webhooks
        existed); a provider that fails or is late becomes a note naming it, never an error.
        A customer sees only events tagged with their tenant, and a suppression only then."""
        assert self._esp is not None
        found = await self._esp.lookup(address)
        events = [e for e in found.events if tenant is None or e.tenant == tenant]
        listed = bool(found.suppressions) and (tenant is None or bool(events))
        return events, list(found.notes), listed

    @timed("store")
    async def _near_miss(self, address: str, tenant: str | None) -> str | None:
        """A stored address one slip of the keyboard away from the one asked about.

        Only one the asker's tenant has sent to: a suggestion names a recipient, and a customer
        must learn nothing about another tenant's recipients.
        """
        local, _, domain = address.rpartition("@")
        known = {k.rpartition("@")[0]: k for k in await self._store.known_recipients(domain)}
        # Compare the part before the @ only: the shared domain would make every address look
        # alike.
        for near in difflib.get_close_matches(local, list(known), n=3, cutoff=0.8):
            candidate = known[near]
            if tenant is None:
                return candidate
            if await self._store.dispatches_for_recipient(candidate, tenant, limit=1):
                return candidate
            if await self._store.events_for_recipient(candidate, tenant, limit=1):
                return candidate
        return None

    @timed("dns")
    async def _check_domains(self, checks: CheckRun) -> Findings:
        return await checks.collect()


def _described(timeline: Timeline) -> Timeline:
    """A timeline whose events carry a dispatch id the store has no record of gets the dispatch
    those events describe, so its subject and sender reach the facts and the sender checks."""
    if timeline.dispatch is not None or not timeline.events:
        return timeline
    dispatch_id = timeline.events[-1].dispatch_id
    if dispatch_id is None:
        return timeline
    observed = dispatches.from_events(dispatch_id, timeline.events)
    return replace(timeline, dispatch=observed)


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


def _address_facts(address: str | None, invalid: InvalidAddress | None) -> f.Facts:
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


def _sender(timeline: Timeline | None, checks: ChecksConfig) -> str | None:
    """The domain our checks judge as the sender: the dispatch's From, else the configured one."""
    dispatch = timeline.dispatch if timeline is not None else None
    return sender_domain(dispatch.sender if dispatch is not None else None, checks)


def _own_setup(facts: f.Facts, checks: ChecksConfig) -> None:
    """Where bounces come back to, and whether From is our own address rather than the
    customer's: what our sending setup says of the dispatch."""
    dispatch = facts["dispatch"]
    dispatch["return_path"] = checks.esp_return_path_domain
    own = checks.sender_domain
    from_address = dispatch.get("sender")
    dispatch["platform_sender"] = (
        from_address.rpartition("@")[2].lower() == own if from_address and own else None
    )


def _kind(subject: Subject) -> str:
    if subject.dispatch is not None or subject.missing_id is not None:
        return "dispatch"
    return "address"
