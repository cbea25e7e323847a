"""From what someone sent (text, a pasted bounce, an attached email, a button's question) and
who asks where, to the answer and what they may do with it. No surface owns this: Slack, the
terminal and the HTTP API each translate their input into a `Request` and render the `Reply`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from bot.bounces import BouncedRecipient, BounceReport, ParseNote
from bot.chrome import Chrome
from bot.conversation import pasted
from bot.conversation.asker import Asker
from bot.conversation.prefs import Lookup, MemoryPrefs, Prefs
from bot.diagnose import Diagnoser, Report
from bot.model import Diagnosis
from bot.sources.esps import PROVIDERS
from bot.sources.provider import Providers
from bot.trees import Escaper, choose_locale, normalize_locale

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Request:
    text: str
    asker: Asker
    #: A choice already made: a button's remembered locale; else the person's preference.
    locale: str | None = None
    #: The place's language (a channel's default), used when nothing else tells.
    place_locale: str | None = None
    answers: Mapping[str, str] = field(default_factory=dict)
    #: An attached bounce email (.eml), whose failed recipients are the question.
    eml: bytes | None = None


@dataclass(frozen=True, slots=True)
class Part:
    """One answer, and the ESP that may lift its suppression when the asker may ask it to."""

    diagnosis: Diagnosis
    reactivate: str | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    locale: str
    parts: tuple[Part, ...] = ()
    #: A `words` key when there is nothing to answer (not_linked, nothing_found, ...).
    notice: str | None = None
    #: The failed recipients of a bounce the person brought, shown before the answers.
    bounce: tuple[BouncedRecipient, ...] = ()
    #: What of that bounce was not read (its answer may be partial); empty when all was.
    bounce_notes: tuple[ParseNote, ...] = ()
    report: Report | None = None

    @property
    def diagnoses(self) -> tuple[Diagnosis, ...]:
        return tuple(p.diagnosis for p in self.parts)


class Conversation:
    def __init__(
        self,
        diagnoser: Diagnoser,
        *,
        escape: Escaper = str,
        prefs: Prefs | None = None,
        reactivation: Callable[[], Collection[str]] = frozenset,
        providers: Providers = PROVIDERS,
    ) -> None:
        """`escape` is the surface's escaper for untrusted text inside the trees' answers;
        `reactivation` names the ESPs whose API can lift a suppression (configured accounts)."""
        self.diagnoser = diagnoser
        self.prefs = prefs or MemoryPrefs()
        self._escape = escape
        self._reactivation = reactivation
        self._providers = providers
        self._parsing = asyncio.Semaphore(2)

    async def ask(self, request: Request) -> Reply:
        asker = request.asker
        explicit = request.locale or await self._preference(asker.user)
        fallback = choose_locale(None, asker.locale, request.place_locale)
        if not asker.allowed:
            return Reply(normalize_locale(explicit) or fallback, notice="not_linked")
        bounce = BounceReport(())
        if request.eml is not None:
            bounce = await pasted.read(request.eml, self._parsing)
            if not bounce.recipients:
                return Reply(
                    normalize_locale(explicit) or fallback,
                    notice="no_failed_recipient",
                    bounce_notes=bounce.notes,
                )
        elif pasted.looks_like_bounce(request.text):
            bounce = await pasted.read(request.text, self._parsing)
        rows, notes = bounce.recipients, bounce.notes
        report = await self.diagnoser.ask(
            "" if rows else request.text,
            locale=normalize_locale(explicit),
            default_locale=fallback,
            audience=asker.audience,
            tenant=asker.tenant,
            escape=self._escape,
            answers=request.answers,
            evidence=pasted.as_events(rows),
        )
        locale = normalize_locale(explicit) or report.query.locale_hint or fallback
        if not report.diagnoses:
            return Reply(
                locale, notice="nothing_found", bounce=rows, bounce_notes=notes, report=report
            )
        parts = tuple(
            Part(d, self._reactivator(d) if asker.agent else None) for d in report.diagnoses
        )
        return Reply(
            parts[0].diagnosis.answer.locale,
            parts,
            bounce=rows,
            bounce_notes=notes,
            report=report,
        )

    def chrome(self, locale: str, tenant: str | None = None) -> Chrome:
        """The words a surface shows around (or instead of) an answer, in `locale`."""
        return self.diagnoser.chrome(locale, tenant)

    async def set_locale(self, user: str, locale: str) -> None:
        await self.prefs.set_locale(user, locale)

    async def remember(self, user: str, text: str, reply: Reply) -> None:
        """Add the lookup to the person's history; call it after the answer is on its way."""
        if not reply.parts:
            return
        verdicts = ", ".join(dict.fromkeys(d.verdict for d in reply.diagnoses))
        summary = " ".join(text.split())[:200]
        try:
            await self.prefs.remember(user, Lookup(summary, verdicts, time.time()))
        except Exception:  # history is a convenience; it never costs an answer
            log.exception("could not remember a lookup")

    async def _preference(self, user: str) -> str | None:
        try:
            return await self.prefs.locale(user) if user else None
        except Exception:  # a preference that cannot be read is no reason not to answer
            log.exception("could not read a language preference")
            return None

    def reactivator(self, d: Diagnosis) -> str | None:
        """The ESP an agent may ask to lift `d`'s suppression (for answers nobody asked for,
        such as alerts), or None."""
        return self._reactivator(d)

    def _reactivator(self, d: Diagnosis) -> str | None:
        """The ESP that suppressed the address, when we can ask it to lift that and it allows
        it (the provider's own rule: Postmark says per bounce whether it can be lifted)."""
        configured = self._reactivation()
        for event in reversed(d.timeline.events if d.timeline else ()):
            if event.provider in configured:
                provider = self._providers.get(event.provider)
                if provider is not None and not provider.can_reactivate(event):
                    return None
                return event.provider
        return None
