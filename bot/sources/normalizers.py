"""Which normalizer reads which provider's payloads; webhooks and `whymail ingest` share them.
Beside it, which reader finds the subject and sender in a provider's stored payload."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bot.model import DeliveryEvent, Dispatch
from bot.sources import brevo, mailgun, postmark, records, sendgrid, ses
from bot.sources.payload import Envelope

Normalizer = Callable[[Mapping[str, Any]], Sequence[Dispatch | DeliveryEvent]]
EnvelopeReader = Callable[[Mapping[str, Any]], Envelope]

NORMALIZERS: dict[str, Normalizer] = {
    "whymail": records.normalize,
    "postmark": postmark.normalize,
    "mailgun": mailgun.normalize,
    "sendgrid": sendgrid.normalize,
    "ses": ses.normalize,
    "brevo": brevo.normalize,
}

ENVELOPES: dict[str, EnvelopeReader] = {
    "postmark": postmark.envelope,
    "mailgun": mailgun.envelope,
    "sendgrid": sendgrid.envelope,
    "ses": ses.envelope,
    "brevo": brevo.envelope,
}
