"""whymail: answers "why didn't my email arrive?" from delivery events, bounce codes and DNS."""

__version__ = "0.1.0"
