"""The offline demo: bundled records and DNS zones, so anyone sees real answers in a minute.

The zones are served by whymail's own loopback DNS server (bot.demo.dns) and the records loaded
into an in-memory store, through exactly the code paths production uses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot.demo.dns import LocalDNSServer
from bot.sources.ingest import ingest_lines
from bot.sources.store import Store, open_store

HERE = Path(__file__).parent

DEMO_QUESTIONS = (
    "ola@firma.no",
    "kari@hotmail.com",
    "per@bakeri.no",
    "lars@gmial.com",
    "siri@fjellhytta.no",
    "post@nomail.no",
    "ingrid@firma.no",
    "bjorn@regnskap.no",
    "joao@uol.com.br",
    "lise@firma.no",
    "nils@firma.no",
    "eva@firma.no",
    "d-1007",
    "d-1010",
    "ola.hanssen@firma.no",
    '"<!channel>"@firma.no',
)


@asynccontextmanager
async def demo_world() -> AsyncIterator[tuple[Store, list[tuple[str, int]]]]:
    """An in-memory store with the demo data, and nameservers serving the demo zones."""
    store = await open_store(":memory:")
    try:
        for provider, name in (("whymail", "records.jsonl"), ("postmark", "postmark.jsonl")):
            with (HERE / name).open(encoding="utf-8") as lines:
                await ingest_lines(store, provider, lines)
        async with LocalDNSServer(HERE / "zones") as server:
            yield store, [server.address]
    finally:
        await store.close()
