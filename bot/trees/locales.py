"""Which language to answer in: what the person asked for, else what Slack knows about them,
else what the channel is set to, else English.

Slack reports locales as `nb-NO`, `no-NO`, `nl-NL`, `pt-BR`, `en-US`...; whymail's trees are
written in `en`, `nb`, `nl` and `pt-BR`. Portuguese from Portugal (`pt-PT`) is close enough to
read the Brazilian text, so it maps there rather than falling back to English.
"""

from __future__ import annotations

from bot.trees.model import LOCALES

DEFAULT_LOCALE = "en"

_ALIASES = {
    "no": "nb",
    "nn": "nb",  # Nynorsk readers read Bokmål; a Norwegian answer beats an English one
    "nb": "nb",
    "nl": "nl",
    "pt": "pt-BR",
    "en": "en",
}


def normalize_locale(value: str | None) -> str | None:
    """A supported locale for `value` ("nb-NO", "no_NO", "pt-br", "NL"), or None."""
    if not value or not value.strip():
        return None
    text = value.strip().replace("_", "-")
    for locale in LOCALES:
        if text.lower() == locale.lower():
            return locale
    language = text.split("-", 1)[0].lower()
    return _ALIASES.get(language)


def choose_locale(
    explicit: str | None, user_locale: str | None, channel_default: str | None
) -> str:
    """The first of these that whymail can answer in: explicit (`--locale`, `/whymail lang nb`),
    the Slack user's locale, the channel's configured default; English otherwise."""
    for candidate in (explicit, user_locale, channel_default):
        chosen = normalize_locale(candidate)
        if chosen is not None:
            return chosen
    return DEFAULT_LOCALE
