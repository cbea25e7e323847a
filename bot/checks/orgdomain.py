"""Organisational domains for DMARC (RFC 7489 §3.2), from a small data list of public suffixes.

A full Public Suffix List package would be one more dependency to keep current for a question
that only matters for DMARC's fallback lookup and relaxed alignment of our own sending domains,
which operators configure and can check; the list lives in data/public_suffixes.txt.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_DATA = Path(__file__).resolve().parent / "data" / "public_suffixes.txt"


@cache
def _suffixes() -> frozenset[str]:
    lines = _DATA.read_text("utf-8").splitlines()
    return frozenset(s.strip().lower() for s in lines if s.strip() and not s.startswith("#"))


def organisational_domain(domain: str) -> str:
    """firma.no → firma.no, mail.firma.no → firma.no, nf.loja.com.br → loja.com.br."""
    labels = domain.lower().rstrip(".").split(".")
    suffixes = _suffixes()
    for size in range(len(labels) - 1, 1, -1):
        if ".".join(labels[-size:]) in suffixes:
            return ".".join(labels[-size - 1 :]) if len(labels) > size else domain
    return ".".join(labels[-2:])
