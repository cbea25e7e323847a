"""Who runs a domain's mail, read from MX host names through knowledge/providers.yml.

The table is data so editors can add a provider without a release; it is re-read when the file
changes, and a broken edit keeps the last good table (a typo in YAML must not stop diagnoses).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

KINDS = frozenset({"mailbox", "gateway", "forwarder", "inbound"})


@dataclass(frozen=True, slots=True)
class Provider:
    id: str
    name: str
    kind: str
    mx: tuple[tuple[str, ...], ...] = ()
    domains: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProviderTable:
    providers: tuple[Provider, ...]
    #: Consumer mail domains, most used first: what typo suggestions are drawn from.
    popular_domains: tuple[str, ...]
    #: Exact suffixes → entry, so matching a host costs one probe per label, not per pattern.
    _exact: dict[tuple[str, ...], Provider] = field(default_factory=dict, compare=False)
    _wild: tuple[tuple[tuple[str, ...], Provider], ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        exact: dict[tuple[str, ...], Provider] = {}
        wild: list[tuple[tuple[str, ...], Provider]] = []
        for provider in self.providers:
            for pattern in provider.mx:
                if "*" in pattern:
                    wild.append((pattern, provider))
                else:
                    exact.setdefault(pattern, provider)
        object.__setattr__(self, "_exact", exact)
        object.__setattr__(self, "_wild", tuple(wild))

    def by_domain(self, domain: str) -> Provider | None:
        domain = domain.lower().rstrip(".")
        for provider in self.providers:
            if domain in provider.domains:
                return provider
        return None

    def by_mx(self, host: str) -> Provider | None:
        """The entry whose MX suffix matches `host` on whole labels; the longest suffix wins."""
        labels = tuple(host.lower().rstrip(".").split("."))
        best: Provider | None = None
        best_len = 0
        for size in range(len(labels), 0, -1):
            found = self._exact.get(labels[-size:])
            if found is not None:
                best, best_len = found, size
                break
        for pattern, provider in self._wild:
            if len(pattern) > best_len and _suffix_match(labels, pattern):
                best, best_len = provider, len(pattern)
        return best


def _suffix_match(labels: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    if len(pattern) > len(labels):
        return False
    tail = labels[len(labels) - len(pattern) :]
    return all(p in ("*", h) for p, h in zip(pattern, tail, strict=True))


def _strings(entry: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where}: {key} must be a list of names")
    return tuple(v.strip().lower().rstrip(".") for v in value if v.strip())


def parse_table(data: Any, source: str = "providers.yml") -> ProviderTable:
    """Build a table from the YAML document; ValueError names the entry at fault."""
    if not isinstance(data, dict) or not isinstance(data.get("providers"), list):
        raise ValueError(f"{source}: expected a mapping with a `providers` list")
    providers: list[Provider] = []
    seen: set[str] = set()
    for index, entry in enumerate(data["providers"], 1):
        where = f"{source}: providers[{index}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected a mapping")
        pid, name, kind = entry.get("id"), entry.get("name"), entry.get("kind", "mailbox")
        if not isinstance(pid, str) or not pid or pid in seen:
            raise ValueError(f"{where}: `id` must be a new, non-empty name")
        if kind not in KINDS:
            raise ValueError(f"{where}: kind must be one of {sorted(KINDS)}")
        seen.add(pid)
        mx = tuple(tuple(p.split(".")) for p in _strings(entry, "mx", where))
        providers.append(
            Provider(pid, str(name or pid), kind, mx, _strings(entry, "domains", where))
        )
    extra = _strings(data, "popular_domains", source)
    popular = dict.fromkeys([d for p in providers for d in p.domains] + list(extra))
    return ProviderTable(tuple(providers), tuple(popular))


_cache: dict[Path, tuple[tuple[int, int], ProviderTable]] = {}
# libyaml's safe loader when installed: the same data, read several times faster.
_SAFE: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_table(path: Path) -> ProviderTable:
    """The table in `path`, re-read only when the file changed; the last good one on errors."""
    try:
        stat = os.stat(path)
    except OSError as exc:
        cached = _cache.get(path)
        if cached is not None:
            return cached[1]
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    key = (stat.st_mtime_ns, stat.st_size)
    cached = _cache.get(path)
    if cached is not None and cached[0] == key:
        return cached[1]
    try:
        table = parse_table(yaml.load(path.read_text("utf-8"), Loader=_SAFE), str(path))
    except (OSError, yaml.YAMLError, ValueError) as exc:
        if cached is not None:
            log.error("keeping the last good provider table: %s", exc)
            return cached[1]
        raise ValueError(str(exc)) from None
    _cache[path] = (key, table)
    return table


@dataclass(frozen=True, slots=True)
class Identity:
    provider: Provider | None
    gateway: Provider | None


def identify(table: ProviderTable, domain: str, mx_hosts: Sequence[str]) -> Identity:
    """Mailbox provider and gateway from MX hosts in preference order, then from the domain.

    The domain's own entry wins for the provider: bol.com.br is BOL even if its MX is UOL's.
    A gateway hides the mailbox behind it, so `provider` may stay empty when one is found.
    """
    provider = table.by_domain(domain)
    gateway: Provider | None = None
    for entry in _matches(table, mx_hosts):
        if entry.kind == "gateway":
            gateway = gateway or entry
        elif provider is None:
            provider = entry
    return Identity(provider, gateway)


def _matches(table: ProviderTable, hosts: Iterable[str]) -> Iterable[Provider]:
    for host in hosts:
        entry = table.by_mx(host)
        if entry is not None:
            yield entry
