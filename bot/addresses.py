"""The one form every stage stores and compares addresses and domains in.

At the bottom of the house, beside the model, because everyone needs it: the ESP normalizers
store recipients in it, the checks ask DNS for it, the parser of people's words produces it.
"""

from __future__ import annotations

import idna


def normalise_address(address: str) -> str:
    """Lower-case addr-spec with an ASCII (IDNA) domain: the form events are stored under.

    IDNA 2008 with UTS #46 mapping, as email-validator and browsers use: Python's own "idna"
    codec is IDNA 2003, which turns straße.de into strasse.de, another domain.
    """
    local, _, domain = address.rpartition("@")
    return f"{local}@{ascii_domain(domain)}".lower()


def ascii_domain(domain: str) -> str:
    """The domain as DNS asks for it; unchanged when it is not a valid IDN."""
    if domain.isascii():
        # What UTS #46 makes of any ASCII name, valid or not, without its cost (a tenth of a
        # webhook's CPU time when every event's recipient went through it).
        return domain.lower()
    try:
        return idna.encode(domain, uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError):
        return domain.lower()
