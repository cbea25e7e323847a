"""What the checks need to know about our own sending: typed, validated once at start-up.

It lives here rather than in bot.config so the checks stay importable without the rest of the
configuration machinery (bot.config imports bot.checks, not the other way round).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot import SHIPPED_KNOWLEDGE

#: The shipped provider table, used when the configured knowledge folder has none.
SHIPPED_PROVIDERS = SHIPPED_KNOWLEDGE / "providers.yml"


def _names(value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key} must be a name or a list of names")
    return tuple(v.strip().lower().rstrip(".") for v in value if v.strip())


def _addresses(value: Any, key: str) -> tuple[str, ...]:
    out = []
    for item in _names(value, key):
        try:
            out.append(str(ipaddress.ip_address(item)))
        except ValueError:
            raise ValueError(f"{key}: {item!r} is not an IP address") from None
    return tuple(out)


@dataclass(frozen=True, slots=True)
class ChecksConfig:
    """Our sending setup, as the configuration file states it (see README.md, Configuration)."""

    #: Used when a dispatch carries no From address (or nothing was found).
    sender_domain: str | None = None
    #: SPF includes that mean "the ESP may send for us", e.g. spf.mtasv.net.
    esp_spf_includes: tuple[str, ...] = ()
    #: The DKIM d= domain the ESP signs with; None: unknown (DKIM is looked up at the sender
    #: domain, and DKIM alignment is not judged).
    esp_signing_domain: str | None = None
    #: The envelope (Return-Path) domain the ESP uses, for SPF alignment.
    esp_return_path_domain: str | None = None
    dkim_selectors: tuple[str, ...] = ()
    #: The ESP's outbound addresses: looked up in the DNSBL zones, and matched against SPF ip4/ip6.
    sending_ips: tuple[str, ...] = ()
    dnsbl_zones: tuple[str, ...] = ()
    providers_file: Path = SHIPPED_PROVIDERS

    @classmethod
    def from_mapping(
        cls, values: Mapping[str, Any], knowledge_dir: Path | None = None
    ) -> ChecksConfig:
        """Read the `sending` block of the configuration file; ValueError names the key at fault.

        One block, because these describe one thing (how we send), apart from the ESP
        credentials that live beside them in the same file.
        """
        block = values.get("sending") or {}
        if not isinstance(block, Mapping):
            raise ValueError("sending must be a mapping (domain, ips, spf_includes, ...)")
        unknown = sorted(set(block) - _KEYS)
        if unknown:
            raise ValueError(f"sending: unknown key(s) {', '.join(map(str, unknown))}")
        domain = _names(block.get("domain"), "sending.domain")
        signing = _names(block.get("signing_domain"), "sending.signing_domain")
        return_path = _names(block.get("return_path_domain"), "sending.return_path_domain")
        providers = SHIPPED_PROVIDERS
        if knowledge_dir is not None and (knowledge_dir / "providers.yml").is_file():
            providers = knowledge_dir / "providers.yml"
        return cls(
            sender_domain=domain[0] if domain else None,
            esp_spf_includes=_names(block.get("spf_includes"), "sending.spf_includes"),
            esp_signing_domain=signing[0] if signing else None,
            esp_return_path_domain=return_path[0] if return_path else None,
            dkim_selectors=_names(block.get("dkim_selectors"), "sending.dkim_selectors"),
            sending_ips=_addresses(block.get("ips"), "sending.ips"),
            dnsbl_zones=_names(block.get("dnsbl_zones"), "sending.dnsbl_zones"),
            providers_file=providers,
        )


_KEYS = frozenset(
    {
        "domain",
        "ips",
        "spf_includes",
        "signing_domain",
        "return_path_domain",
        "dkim_selectors",
        "dnsbl_zones",
    }
)
