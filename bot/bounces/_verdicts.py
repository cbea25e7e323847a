"""Which whymail verdict (DESIGN.md) each Sisimai reason leads to.

Several reasons collapse onto one verdict because the advice to the user is the same: a
connection timeout and a retry budget running out both mean "their server is not answering".
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

REASON_VERDICTS: Final[Mapping[str, str]] = MappingProxyType(
    {
        # The address is wrong or gone; a disabled account is treated as gone because the
        # sender's fix is the same (get a current address), even though Sisimai calls it soft.
        "userunknown": "user_unknown",
        "hasmoved": "user_unknown",
        "suspend": "user_unknown",
        "filtered": "user_unknown",
        "hostunknown": "domain_not_found",
        "notaccept": "no_mail_server",
        "mailboxfull": "mailbox_full",
        "systemfull": "mailbox_full",
        "mesgtoobig": "message_too_large",
        "exceedlimit": "message_too_large",
        "expired": "recipient_server_unavailable",
        "networkerror": "recipient_server_unavailable",
        "systemerror": "recipient_server_unavailable",
        "toomanyconn": "recipient_server_unavailable",
        "speeding": "recipient_server_unavailable",
        "mailererror": "recipient_server_unavailable",
        "onhold": "in_progress",
        "spamdetected": "rejected_as_spam",
        "virusdetected": "rejected_as_spam",
        "contenterror": "rejected_as_spam",
        "notcompliantrfc": "rejected_by_policy",
        "blocked": "rejected_by_policy",
        "policyviolation": "rejected_by_policy",
        "badreputation": "rejected_by_policy",
        "rejected": "rejected_by_policy",
        "requireptr": "rejected_by_policy",
        "norelaying": "rejected_by_policy",
        "securityerror": "rejected_by_policy",
        "failedstarttls": "rejected_by_policy",
        "syntaxerror": "rejected_by_policy",
        "authfailure": "sender_auth_failed",
        "suppressed": "suppressed",
        "feedback": "spam_complaint",
        "delivered": "delivered_check_spam",
        "vacation": "delivered_check_spam",
        "undefined": "unknown",
    }
)
