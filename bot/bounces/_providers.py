"""Which provider's server wrote a reply, told from its host name by knowledge/providers.yml.

The DNS checks and the classifier must agree on who a provider is, so both read the one table
(its ids key `_rules.PROVIDER_RULES`), through the checks' own loader: re-read when editors
change the file, the last good table kept when an edit breaks it. A bounce names the server
that answered, which is an MX host (matched as the checks match MX hosts) or, at consumer
providers, often a machine inside the provider's own mail domain ("bay004-mc1f22.hotmail.com"),
so an entry's `domains` count as host suffixes when no MX suffix does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from bot.checks.providers import ProviderTable, load_table
from bot.checks.settings import SHIPPED_PROVIDERS

# The own-domain suffixes of the last table seen; the table is rebuilt only on an edit.
_domains: dict[int, tuple[ProviderTable, dict[tuple[str, ...], str]]] = {}
_MAX_LABELS: Final = 16


def _own_domains(table: ProviderTable) -> dict[tuple[str, ...], str]:
    cached = _domains.get(id(table))
    if cached is not None and cached[0] is table:
        return cached[1]
    index: dict[tuple[str, ...], str] = {}
    for provider in table.providers:
        for domain in provider.domains:
            index.setdefault(tuple(domain.split(".")), provider.id)
    _domains.clear()
    _domains[id(table)] = (table, index)
    return index


def provider_of(host: str, path: Path = SHIPPED_PROVIDERS) -> str | None:
    """The providers.yml id of the provider running `host`, or None; never raises."""
    try:
        table = load_table(path)
    except ValueError:
        return None
    entry = table.by_mx(host)
    if entry is not None:
        return entry.id
    labels = tuple(host.lower().rstrip(".").split("."))[-_MAX_LABELS:]
    own = _own_domains(table)
    for size in range(len(labels), 1, -1):
        found = own.get(labels[-size:])
        if found is not None:
            return found
    return None
