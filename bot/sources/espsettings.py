"""The ESP part of the settings: each provider's own (declared by its record), and the few that
hold for all of them. The data layer takes these, never the whole of `bot.config`.

Every key is an environment variable (DESIGN.md) that the WHYMAIL_CONFIG file may also set,
by its field name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot.sources.esps import PROVIDERS
from bot.sources.provider import Provider, Providers, SettingsError, positive

S = TypeVar("S")

#: Settings that hold for every provider: field name → environment variable.
COMMON_ENV: dict[str, str] = {
    "webhook_replay_window": "WHYMAIL_WEBHOOK_REPLAY_WINDOW",
    "webhook_max_bytes": "WHYMAIL_WEBHOOK_MAX_BYTES",
    "esp_deadline": "WHYMAIL_ESP_DEADLINE",
}


def env_keys(providers: Providers = PROVIDERS) -> dict[str, str]:
    """Every ESP setting's field name → environment variable."""
    keys = dict(COMMON_ENV)
    for provider in providers.values():
        keys.update(provider.env)
    return keys


ENV_KEYS = env_keys()

EspConfigError = SettingsError


@dataclass(frozen=True, slots=True)
class EspSettings:
    #: Provider name → that provider's settings; a provider missing here has all defaults.
    accounts: Mapping[str, Any] = field(default_factory=dict)
    #: Seconds a signed webhook timestamp may be old (SendGrid retries for up to 24 h, Mailgun
    #: for 8 h, and neither documents re-signing retries), or in the future (clock skew: 5 min).
    webhook_replay_window: float = 86_400.0
    webhook_max_bytes: int = 1_048_576
    #: The whole ESP API stage's budget in a diagnosis.
    esp_deadline: float = 8.0

    def of(self, provider: Provider[S]) -> S:
        """`provider`'s own settings."""
        found = self.accounts.get(provider.name)
        return found if found is not None else provider.read({})

    @classmethod
    def from_values(
        cls, values: Mapping[str, Any], providers: Providers = PROVIDERS
    ) -> EspSettings:
        """From config keys (field names); empty strings count as unset."""
        common: dict[str, Any] = {}
        for key, name in COMMON_ENV.items():
            if values.get(key) not in (None, ""):
                kind = int if key == "webhook_max_bytes" else float
                common[key] = positive(name, values[key], kind)
        accounts = {p.name: p.read(values) for p in providers.values()}
        return cls(accounts=accounts, **common)
