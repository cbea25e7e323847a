"""Which normalizer reads which provider's payloads; webhooks and `whymail ingest` share them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bot.model import DeliveryEvent, Dispatch
from bot.sources import brevo, mailgun, postmark, records, sendgrid, ses

Normalizer = Callable[[Mapping[str, Any]], Sequence[Dispatch | DeliveryEvent]]

NORMALIZERS: dict[str, Normalizer] = {
    "whymail": records.normalize,
    "postmark": postmark.normalize,
    "mailgun": mailgun.normalize,
    "sendgrid": sendgrid.normalize,
    "ses": ses.normalize,
    "brevo": brevo.normalize,
}
