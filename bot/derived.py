"""What start-up derives from shipped data, kept between runs in the user's cache folder.

A one-shot `whymail ask` rebuilds the same things on every run: the parsed trees, the bounce
rules' trigger index. Each is kept under a key that digests exactly the inputs and the code that
derived it, so an entry can never be stale, and one entry per `name`, so an edit replaces its
entry instead of piling up beside it. Entries are pickles in the user's own cache folder,
trusted as Python trusts its __pycache__; a cache that cannot be read or written is skipped.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def cache_folder(kind: str) -> Path | None:
    """`kind`'s folder under the user's cache folder (XDG), if there is one."""
    base = os.environ.get("XDG_CACHE_HOME")
    try:
        root = Path(base) if base else Path.home() / ".cache"
    except RuntimeError:  # no home directory to be found
        return None
    return root / "whymail" / kind


def cached(folder: Path, name: str, key: bytes, derive: Callable[[], T]) -> T:
    """`derive()`, or what it returned last time for the same `key` under `name`."""
    digest = hashlib.sha256(key).digest()
    path = folder / f"{hashlib.sha256(name.encode()).hexdigest()[:32]}.pickle"
    try:
        kept, value = pickle.loads(path.read_bytes())
        if kept == digest:
            return value  # type: ignore[no-any-return]
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError):
        pass
    value = derive()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, scratch = tempfile.mkstemp(dir=folder)
    except OSError:
        return value
    try:
        with os.fdopen(fd, "wb") as f:
            pickle.dump((digest, value), f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(scratch, path)
    except OSError:
        Path(scratch).unlink(missing_ok=True)
    return value
