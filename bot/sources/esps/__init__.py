"""The ESPs whymail knows, one package each; this list is the one place they are registered.

Everything else (webhook routes, `whymail ingest --provider`, API clients, display names,
settings keys) is derived from it. To add an ESP: a package beside these with an `ESP` record
(see `bot.sources.provider.Provider`), and one line here.
"""

from bot.sources.esps import brevo, mailgun, postmark, sendgrid, ses
from bot.sources.provider import Providers

PROVIDERS = Providers(
    [
        postmark.ESP,
        mailgun.ESP,
        sendgrid.ESP,
        ses.ESP,
        brevo.ESP,
    ]
)

__all__ = ["PROVIDERS"]
