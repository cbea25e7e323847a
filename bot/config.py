"""Settings from the environment, or a YAML file (WHYMAIL_CONFIG) for what env expresses badly.

The environment wins over the file, so an operator can override one key without editing it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot import SHIPPED_KNOWLEDGE
from bot.checks.dns import parse_nameservers
from bot.checks.settings import ChecksConfig
from bot.chrome import TimeZones
from bot.slack.settings import ENV_KEYS as _SLACK_ENV_KEYS
from bot.slack.settings import FILE_KEYS as _SLACK_FILE_KEYS
from bot.slack.settings import SlackConfigError, SlackSettings
from bot.sources.espsettings import ENV_KEYS as _ESP_ENV_KEYS
from bot.sources.espsettings import EspConfigError, EspSettings

_ENV_KEYS = {
    "store": "WHYMAIL_STORE",
    "dns_nameservers": "WHYMAIL_DNS_NAMESERVERS",
    "dns_timeout": "WHYMAIL_DNS_TIMEOUT",
    "knowledge": "WHYMAIL_KNOWLEDGE",
    "api_token": "WHYMAIL_API_TOKEN",
    "time_zone": "WHYMAIL_TIME_ZONE",
    **_ESP_ENV_KEYS,
    **_SLACK_ENV_KEYS,
}


class ConfigError(ValueError):
    pass


def shipped_knowledge() -> Path:
    """The trees whymail ships with, for a `knowledge` setting left unset."""
    return SHIPPED_KNOWLEDGE


@dataclass(frozen=True, slots=True)
class Settings:
    store: str | None = None
    dns_nameservers: tuple[tuple[str, int], ...] = ()
    dns_timeout: float = 2.0
    knowledge: Path = field(default_factory=shipped_knowledge)
    #: The bearer token of `POST /api/ask`; unset, the endpoint refuses every request.
    api_token: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    esp: EspSettings = field(default_factory=EspSettings)
    slack: SlackSettings = field(default_factory=SlackSettings)
    #: How we send (the `sending` block): what the DNS checks judge our own domain and IPs by.
    checks: ChecksConfig = field(default_factory=ChecksConfig)
    #: The zone each tenant reads dates and times in (`time_zone`, `tenant_time_zones`).
    time_zones: TimeZones = field(default_factory=TimeZones)

    @property
    def dns_deadline(self) -> float:
        """The whole DNS stage's budget: a chain of two waits plus slack, never unbounded."""
        return self.dns_timeout * 2 + 0.5

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        config_path = env.get("WHYMAIL_CONFIG")
        if config_path:
            values.update(_read_config(Path(config_path)))
        for key, name in _ENV_KEYS.items():
            if env.get(name):
                values[key] = env[name]
        return cls._from(values)

    @classmethod
    def _from(cls, values: dict[str, Any]) -> Settings:
        extra = {
            k: v
            for k, v in values.items()
            if k not in _ENV_KEYS and k not in _SLACK_FILE_KEYS and k != "tenant_time_zones"
        }
        try:
            timeout = float(values.get("dns_timeout", 2.0))
        except (TypeError, ValueError):
            raise ConfigError("WHYMAIL_DNS_TIMEOUT must be a number of seconds") from None
        if not 0 < timeout <= 30:
            raise ConfigError("WHYMAIL_DNS_TIMEOUT must be between 0 and 30 seconds")
        try:
            nameservers = parse_nameservers(str(values.get("dns_nameservers") or ""))
        except ValueError as exc:
            raise ConfigError(f"WHYMAIL_DNS_NAMESERVERS: {exc}") from None
        knowledge = values.get("knowledge")
        try:
            esp = EspSettings.from_values(values)
        except EspConfigError as exc:
            raise ConfigError(str(exc)) from None
        try:
            slack = SlackSettings.from_values(values)
        except SlackConfigError as exc:
            raise ConfigError(str(exc)) from None
        try:
            time_zones = TimeZones.from_values(
                values.get("time_zone"), values.get("tenant_time_zones")
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        knowledge_dir = Path(knowledge).expanduser() if knowledge else shipped_knowledge()
        try:
            checks = ChecksConfig.from_mapping(values, knowledge_dir)
        except ValueError as exc:
            raise ConfigError(f"WHYMAIL_CONFIG: {exc}") from None
        return cls(
            store=str(values["store"]) if values.get("store") else None,
            dns_nameservers=tuple(nameservers),
            dns_timeout=timeout,
            knowledge=knowledge_dir,
            api_token=str(values["api_token"]) if values.get("api_token") else None,
            extra=extra,
            esp=esp,
            slack=slack,
            checks=checks,
            time_zones=time_zones,
        )


def _read_config(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text("utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read WHYMAIL_CONFIG {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        # The place and the kind of fault only: the YAML library would quote the line, and in
        # this file that line may hold a secret.
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or "cannot be read"
        raise ConfigError(f"WHYMAIL_CONFIG {where}: not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"WHYMAIL_CONFIG {path} must be a mapping of settings")
    return {str(k): v for k, v in data.items()}
