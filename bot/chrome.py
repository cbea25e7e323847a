"""The words around an answer (headings, buttons, notices, evidence lines), fact values named
in a language, and times in a language's format and the reader's time zone.

The words are data that knowledge editors own (knowledge/ui.yml, read by bot.trees.ui); this
module only applies them. A `Chrome` is one locale's words bound to one time zone: every
surface renders with the chrome its answer was made with, so a Slack button, a terminal
heading and a date inside a tree's sentence always speak the same language.

Dates and times come from CLDR through Babel, loaded the first time a time is shown (a
one-shot `whymail ask` that shows none never pays for it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from babel import Locale

#: The zone times are shown in when nothing is configured for the tenant: where readers of
#: that language most likely are.
DEFAULT_TIME_ZONES: Mapping[str, str] = {
    "en": "UTC",
    "nb": "Europe/Oslo",
    "nl": "Europe/Amsterdam",
    "pt-BR": "America/Sao_Paulo",
}


def time_zone_for(locale: str, configured: str | None = None) -> str:
    """`configured` when given, else the locale's usual zone, else UTC."""
    return configured or DEFAULT_TIME_ZONES.get(locale, "UTC")


def valid_time_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class TimeZones:
    """Which zone a tenant reads times in: its own (`tenant_time_zones`), else the one set for
    everyone (`WHYMAIL_TIME_ZONE`), else the answer language's usual zone."""

    default: str | None = None
    tenants: Mapping[str, str] = field(default_factory=dict)

    def configured(self, tenant: str | None) -> str | None:
        """The zone set for `tenant` (or for everyone); None leaves it to the language."""
        own = self.tenants.get(tenant) if tenant else None
        return own or self.default

    @classmethod
    def from_values(cls, default: Any, tenants: Any) -> TimeZones:
        """From the settings; raises ValueError naming a zone the system does not know."""
        if default is not None and not isinstance(default, str):
            raise ValueError("WHYMAIL_TIME_ZONE must be a zone name such as Europe/Oslo")
        if tenants is None:
            tenants = {}
        if not isinstance(tenants, Mapping):
            raise ValueError("tenant_time_zones must map tenants to zone names")
        zones = {str(k): str(v) for k, v in tenants.items()}
        for name in [default, *zones.values()]:
            if name and not valid_time_zone(name):
                raise ValueError(f"unknown time zone {name!r} (write e.g. Europe/Oslo)")
        return cls(default or None, zones)


@dataclass(frozen=True, slots=True)
class Chrome:
    """One locale's words and value names, and the time zone its times are shown in."""

    locale: str
    time_zone: str
    words: Mapping[str, str]
    labels: Mapping[str, str]

    def __call__(self, key: str, **values: Any) -> str:
        """The word `key`, with `values` filled in (`{count}`, `{address}` …).

        An unknown key is a programming error, not an editor's: `knowledge check` refuses a
        ui.yml that lacks a key the shipped one has, so it raises rather than shows a key.
        """
        text = self.words[key]
        return text.format(**values) if values else text

    def label(self, value: Any) -> str:
        """A fact value (`deferred`, `in_progress`, `userunknown`) in this locale's words;
        a value nobody named (an ESP's name, a host) is shown as it is."""
        if value is None:
            return ""
        text = str(value)
        return self.labels.get(text, text)

    def when(self, value: datetime | str, *, form: str = "when") -> str:
        """A moment in this locale's format and time zone; `form` is the ui.yml word that
        arranges its parts (`when` inside sentences, `when_line` in evidence lines)."""
        moment = _moment(value)
        if moment is None:
            return str(value)
        local = moment.astimezone(_zone(self.time_zone))
        return self(form, **_parts(local, self.locale))


def _moment(value: datetime | str) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@lru_cache(maxsize=32)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@lru_cache(maxsize=8)
def _babel_locale(locale: str) -> Locale:
    from babel import Locale

    return Locale.parse(locale.replace("-", "_"))


def _parts(local: datetime, locale: str) -> dict[str, str]:
    from babel.dates import format_date, format_time

    babel = _babel_locale(locale)
    return {
        "date": format_date(local, "medium", locale=babel),
        "day": format_date(local, "short", locale=babel),
        "time": format_time(local, "short", locale=babel),
        "zone": format_time(local, "z", locale=babel),
    }
