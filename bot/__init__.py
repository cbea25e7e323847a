"""whymail: answers "why didn't my email arrive?" from delivery events, bounce codes and DNS."""

from pathlib import Path

__version__ = "0.1.0"

#: The trees and provider table that ship with whymail. `bot/knowledge` links to the editors'
#: `knowledge/` folder at the top of a checkout, so one copy serves a source checkout, an
#: editable install and a wheel or sdist (which hold the files themselves). Resolved, so that
#: problems are reported at `knowledge/…`, the path editors know.
SHIPPED_KNOWLEDGE = (Path(__file__).parent / "knowledge").resolve()
