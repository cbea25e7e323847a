"""The evidence store: one small async interface, SQLite embedded by default.

`open_store(url)` picks the backend from the URL, so the rest of whymail never knows which one
it talks to.
"""

from __future__ import annotations

import re
from pathlib import Path

from bot.sources.store.base import AlertClaim, Store, StoreError

__all__ = ["AlertClaim", "Store", "StoreError", "default_sqlite_path", "open_store"]


def default_sqlite_path() -> Path:
    """The user's data directory, so a first run needs no configuration at all."""
    from platformdirs import user_data_path

    return user_data_path("whymail", appauthor=False) / "whymail.sqlite3"


def redacted(url: str) -> str:
    """`url` fit for an error message: its user and password (`user:pass@`) replaced."""
    return _USERINFO.sub("***@", url)


_USERINFO = re.compile(r"(?<=://)[^/?#]*@")


def _password(url: str) -> str | None:
    found = re.search(r"://[^/?#:@]*:([^/?#@]*)@", url)
    return found.group(1) if found and found.group(1) else None


async def open_store(url: str | None) -> Store:
    """Open (creating and migrating as needed) the store that `url` names.

    `None` or "" means the default SQLite file; `sqlite:///path` or a bare path an SQLite file;
    `:memory:` a throwaway database; `postgresql://user@host/db` a PostgreSQL database shared
    by several instances (add `?search_path=schema` to use a schema other than `public`).
    """
    from bot.sources.store.sqlite import SQLiteStore

    if not url:
        path = default_sqlite_path()
    elif url == ":memory:":
        return await SQLiteStore.open(":memory:")
    elif url.startswith(("postgresql://", "postgres://")):
        from bot.sources.store.postgres import PostgresStore

        try:
            return await PostgresStore.open(url)
        except ValueError as exc:  # the driver's URL parser: a bad port, a broken IPv6 host
            password = _password(url)
            why = str(exc)
            if password and password in why:  # the driver's words, but not at that price
                why = "the driver cannot read it"
            raise StoreError(f"malformed PostgreSQL URL {redacted(url)!r}: {why}") from None
    elif url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
    elif "://" in url:
        raise StoreError(
            f"unknown store URL {redacted(url)!r}: "
            "use a file path, sqlite:///path or postgresql://..."
        )
    else:
        path = Path(url)
    path = path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    return await SQLiteStore.open(str(path))
