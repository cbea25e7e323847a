"""The one composition root: settings in, every running part out, each built exactly once.

The CLI, `whymail serve`, the demo and the benches all start here, and every surface is handed
the parts it needs. So there is one store, one DNS client, one set of ESP clients with one
lookup cache (a reactivation from Slack is seen by the next diagnosis at once), one source of
trees and one diagnoser, however many surfaces answer. Nothing below this module imports it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from bot.checks import DNSClient
from bot.config import Settings
from bot.conversation import Conversation, Prefs
from bot.diagnose import Diagnoser
from bot.sources.esp import EspSources
from bot.sources.store import Store, open_store
from bot.trees import Escaper, Knowledge
from bot.trees.status import Faults, Fixed, KnowledgeSource


@dataclass(frozen=True, slots=True)
class App:
    settings: Settings
    store: Store
    esp: EspSources
    knowledge: KnowledgeSource
    diagnoser: Diagnoser
    #: Where refused knowledge edits go; surfaces that can tell editors subscribe.
    faults: Faults

    def conversation(self, *, escape: Escaper = str, prefs: Prefs | None = None) -> Conversation:
        """A surface's conversation over the shared diagnoser; `escape` is the surface's own
        (mrkdwn for Slack, none for JSON and the terminal)."""
        return Conversation(
            self.diagnoser,
            escape=escape,
            prefs=prefs,
            reactivation=lambda: frozenset(self.esp.clients),
        )


@asynccontextmanager
async def running(
    settings: Settings, *, demo: bool = False, watch: bool = False
) -> AsyncIterator[App]:
    """Everything `settings` describe, open until the block ends. `demo` answers from the
    bundled records and DNS zones (no ESP, no network); `watch` reloads the trees when editors
    change them, keeping the last good set. Without `watch` the app answers and exits, so the
    trees load lazily: a text is compiled when it is first rendered, not all 700 up front."""
    faults = Faults()
    async with AsyncExitStack() as stack:
        knowledge = await _knowledge(settings, watch, faults, stack)
        if demo:
            from bot.demo import demo_world

            store, nameservers = await stack.enter_async_context(demo_world())
            esp = EspSources({})
            dns = DNSClient(nameservers, timeout=settings.dns_timeout)
        else:
            store = await open_store(settings.store)
            stack.push_async_callback(store.close)
            esp = EspSources.from_settings(settings.esp)
            stack.push_async_callback(esp.aclose)
            dns = DNSClient(settings.dns_nameservers or None, timeout=settings.dns_timeout)
        diagnoser = Diagnoser(
            store,
            dns,
            knowledge.current,
            dns_deadline=settings.dns_deadline,
            checks=settings.checks,
            esp=esp if esp.clients else None,
            time_zones=settings.time_zones,
        )
        yield App(settings, store, esp, knowledge, diagnoser, faults)


async def _knowledge(
    settings: Settings, watch: bool, faults: Faults, stack: AsyncExitStack
) -> KnowledgeSource:
    if not watch:
        return Fixed(Knowledge.load(settings.knowledge, lazy=True))
    from bot.trees.reload import KnowledgeWatcher

    watcher = KnowledgeWatcher(settings.knowledge, on_fault=faults)
    watcher.start()
    stack.push_async_callback(watcher.stop)
    return watcher
