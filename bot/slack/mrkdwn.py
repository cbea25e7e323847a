"""Slack's mrkdwn, the one text format this package writes.

Everything that reaches a Slack message from outside (a remote server's reply, an address, a
customer's words) is escaped with `escape` on its way into the text: the trees render through
it, and the block builders apply it to whatever they add themselves.
"""

from __future__ import annotations


def escape(value: str) -> str:
    """Slack's three control characters; with them escaped, `<!channel>` is just text."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
