"""Which normalizer reads which provider's payloads: our own records, and every registered
ESP's events. Webhooks and `whymail ingest` share them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bot.model import DeliveryEvent, Dispatch
from bot.sources import records
from bot.sources.esps import PROVIDERS
from bot.sources.provider import Providers

Normalizer = Callable[[Mapping[str, Any]], Sequence[Dispatch | DeliveryEvent]]

#: `whymail ingest --provider whymail`: the product's own dispatch and event records.
OWN_RECORDS = "whymail"


def normalizers(providers: Providers = PROVIDERS) -> dict[str, Normalizer]:
    return {OWN_RECORDS: records.normalize, **{p.name: p.normalize for p in providers.values()}}


NORMALIZERS = normalizers()
