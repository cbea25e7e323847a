"""From committed events to posted alerts, off the webhook's path.

The webhook receiver hands each committed batch to `Alerter.notify`, which only filters and
queues (never awaits, never raises), so an alert can neither delay nor fail the ESP's 200. A
few workers then take each subject (dispatch, recipient, tenant), diagnose it as the channel
will read it, and claim (dispatch, recipient, verdict) in the store before posting: the claim
is an insert-if-absent, so one alert goes out however many times the events are delivered, to
however many instances, across restarts. Claimed first, posted second: a process killed in
between loses that alert rather than posting it twice (at most once, by design).

The queue is bounded: past `queue_size` waiting subjects, new ones are dropped and counted
(`whymail_alerts_total{outcome="dropped"}`) rather than letting a flood grow memory without end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot import metrics
from bot.alerts.burst import Burst, Digest
from bot.alerts.policy import AlertPolicy, Target
from bot.diagnose import Diagnoser
from bot.model import DeliveryEvent, Diagnosis, EventType
from bot.sources.store import AlertClaim, Store
from bot.trees import Escaper

log = logging.getLogger(__name__)

#: Events that can make a diagnosis one that needs a person: failures, delays, complaints.
_FAILURES = frozenset(
    {
        EventType.BOUNCED,
        EventType.FAILED,
        EventType.REJECTED,
        EventType.DEFERRED,
        EventType.COMPLAINED,
    }
)
#: Verdicts a *delivered* event can lead to; delivered events (most of the traffic) are only
#: diagnosed when some channel asked for one of these.
_DELIVERED_VERDICTS = frozenset(
    {"provider_antispam_challenge", "delivered_check_spam", "gateway_filtering"}
)
#: Seconds between two edits of one digest message: a burst edits it about once a second,
#: not once per alert (Slack allows chat.update about once a second per channel).
DIGEST_INTERVAL = 1.0


@dataclass(frozen=True, slots=True)
class Subject:
    """What an alert is about: one recipient of one dispatch of one tenant."""

    dispatch_id: str | None
    recipient: str
    tenant: str | None

    @property
    def key(self) -> str:
        """The dispatch part of the alert's unique key: our id, else none ("")."""
        return self.dispatch_id or ""


@dataclass(frozen=True, slots=True)
class Alert:
    subject: Subject
    verdict: str
    #: The diagnosis as the target channel reads it (its audience, language, tenant).
    diagnosis: Diagnosis


class Poster(Protocol):
    """The chat side: posts an alert, or posts or edits a digest; returns the message's id
    (None when it could not be posted after its retries)."""

    async def alert(self, target: Target, alert: Alert) -> str | None: ...

    async def digest(
        self, target: Target, alerts: Sequence[Alert], ref: str | None
    ) -> str | None: ...


@dataclass(slots=True)
class AlerterStats:
    queued: int = 0
    dropped: int = 0
    diagnosed: int = 0
    #: Diagnoses whose verdict no channel asked for.
    quiet: int = 0
    #: Claims another delivery, instance or earlier run already held.
    duplicates: int = 0
    posted: int = 0
    digested: int = 0
    failed: int = 0


class Alerter:
    def __init__(
        self,
        diagnoser: Diagnoser,
        store: Store,
        policy: AlertPolicy,
        poster: Poster,
        *,
        escape: Escaper = str,
        queue_size: int = 10_000,
        workers: int = 4,
        burst: Burst | None = None,
        digest_interval: float = DIGEST_INTERVAL,
    ) -> None:
        self._diagnoser = diagnoser
        self._store = store
        self._policy = policy
        self._poster = poster
        self._escape = escape
        self._queue: asyncio.Queue[Subject] = asyncio.Queue(queue_size)
        self._pending: set[Subject] = set()
        self._workers = workers
        self._tasks: list[asyncio.Task[None]] = []
        self._burst = burst or Burst(policy.burst)
        self._digest_interval = digest_interval
        #: The running edit loop of each open digest (by the digest's identity).
        self._flushes: dict[int, asyncio.Task[None]] = {}
        self._delivered = bool(policy.verdicts & _DELIVERED_VERDICTS)
        #: Claims waiting for the next store round, each with the future its worker awaits.
        self._claims: list[tuple[AlertClaim, asyncio.Future[bool]]] = []
        self._claiming: asyncio.Task[None] | None = None
        self.stats = AlerterStats()

    @property
    def policy(self) -> AlertPolicy:
        return self._policy

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._work(), name=f"whymail-alerts-{n}")
                for n in range(self._workers)
            ]

    async def aclose(self, drain_seconds: float = 5.0) -> None:
        """Finish what is queued (for at most `drain_seconds`), then stop."""
        if self._tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), drain_seconds)
        flushes = list(self._flushes.values())
        if flushes:
            await asyncio.wait(flushes, timeout=drain_seconds)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def drained(self, within: float) -> bool:
        """Wait (at most `within` seconds) until nothing is queued, processed or being posted
        as a digest; True when that happened in time. For shutdowns, tests and benches."""
        try:
            await asyncio.wait_for(self._queue.join(), within)
        except TimeoutError:
            return False
        flushes = list(self._flushes.values())
        if flushes:
            _, pending = await asyncio.wait(flushes, timeout=within)
            return not pending
        return True

    def notify(self, events: Sequence[DeliveryEvent]) -> None:
        """Queue the subjects of committed `events` that could alert someone. Synchronous and
        never raising: it runs on the webhook's path, after the commit."""
        try:
            for event in events:
                if not self._candidate(event):
                    continue
                subject = Subject(event.dispatch_id, event.recipient, event.tenant)
                if subject in self._pending:
                    continue
                try:
                    self._queue.put_nowait(subject)
                except asyncio.QueueFull:
                    self.stats.dropped += 1
                    metrics.alert("dropped")
                    continue
                self._pending.add(subject)
                self.stats.queued += 1
        except Exception:  # an alert is never worth a failed webhook
            log.exception("queueing alerts failed")

    def _candidate(self, event: DeliveryEvent) -> bool:
        if not event.recipient:
            return False
        if event.event_type not in _FAILURES and not (
            self._delivered and event.event_type is EventType.DELIVERED
        ):
            return False
        return bool(self._policy.targets_for(event.tenant))

    async def _work(self) -> None:
        while True:
            subject = await self._queue.get()
            self._pending.discard(subject)
            try:
                await self.process(subject)
            except Exception:
                self.stats.failed += 1
                metrics.alert("failed")
                log.exception("alerting on %s failed", subject)
            finally:
                self._queue.task_done()

    async def process(self, subject: Subject) -> None:
        """Diagnose, claim, post: one subject, to every channel that wants its verdict."""
        targets = self._policy.targets_for(subject.tenant)
        if not targets:
            return
        seen: dict[tuple[str, str], Diagnosis] = {}
        first = await self._diagnosis(subject, targets[0], seen)
        self.stats.diagnosed += 1
        verdict = first.verdict
        wanted = [t for t in targets if t.wants(subject.tenant, verdict)]
        if not wanted:
            self.stats.quiet += 1
            return
        claimed = await self._claim(
            AlertClaim(subject.key, subject.recipient, verdict, subject.tenant)
        )
        if not claimed:
            self.stats.duplicates += 1
            metrics.alert("duplicate")
            return
        for target in wanted:
            diagnosis = await self._diagnosis(subject, target, seen)
            await self._deliver(target, Alert(subject, verdict, diagnosis))

    async def _claim(self, claim: AlertClaim) -> bool:
        """Claim through the store, claims of concurrent workers together in one transaction
        (group commit, as the webhook writer does): on SQLite a claim is a write, and one
        write per alert would compete with the webhooks' own commits."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._claims.append((claim, done))
        if self._claiming is None or self._claiming.done():
            self._claiming = asyncio.create_task(self._claim_rounds())
        return await done

    async def _claim_rounds(self) -> None:
        while self._claims:
            batch, self._claims = self._claims, []
            try:
                won = await self._store.claim_alerts([claim for claim, _ in batch])
            except Exception as exc:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for (_, done), result in zip(batch, won, strict=True):
                if not done.done():
                    done.set_result(result)

    async def _diagnosis(
        self, subject: Subject, target: Target, seen: dict[tuple[str, str], Diagnosis]
    ) -> Diagnosis:
        """The subject as `target` reads it. Diagnosed once, for the first target; every other
        language and audience is told from the same facts. The subject's own tenant bounds what
        is read, so an alert tells about that tenant's dispatch only (and a customer's about
        nothing else)."""
        key = (target.audience, target.locale)
        if key in seen:
            return seen[key]
        if seen:
            first = next(iter(seen.values()))
            told = self._diagnoser.retell(
                first,
                locale=target.locale,
                audience=target.audience,
                tenant=subject.tenant,
                escape=self._escape,
            )
        else:
            told = await self._diagnoser.about(
                subject.recipient,
                subject.dispatch_id,
                tenant=subject.tenant,
                locale=target.locale,
                audience=target.audience,
                escape=self._escape,
            )
        seen[key] = told
        return told

    async def _deliver(self, target: Target, alert: Alert) -> None:
        if self._burst.admit(target.channel):
            ref = await self._poster.alert(target, alert)
            if ref is None:
                self.stats.failed += 1
                metrics.alert("failed")
            else:
                self.stats.posted += 1
                metrics.alert("posted")
            return
        digest = self._burst.digest(target.channel)
        digest.items.append(alert)
        self.stats.digested += 1
        metrics.alert("digested")
        key = id(digest)
        if key not in self._flushes:
            task = asyncio.create_task(self._flush(target, digest))
            self._flushes[key] = task
            task.add_done_callback(lambda _: self._flushes.pop(key, None))

    async def _flush(self, target: Target, digest: Digest) -> None:
        """Post the digest, then edit it while alerts keep joining it, at most once per
        `digest_interval`; ends when it shows everything it holds."""
        try:
            while True:
                if digest.shown_at is not None:
                    wait = digest.shown_at + self._digest_interval - self._burst.now()
                    if wait > 0:
                        await asyncio.sleep(wait)
                digest.shown_at = self._burst.now()
                shown = len(digest.items)
                alerts = [a for a in digest.items if isinstance(a, Alert)]
                ref = await self._poster.digest(target, alerts, digest.ref)
                if ref is not None:
                    digest.ref = ref
                if len(digest.items) == shown:
                    return
        except Exception:
            log.exception("posting the digest to %s failed", target.channel)
