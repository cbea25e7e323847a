"""The names of the facts trees can test. Editors see this list in knowledge/README.md.

A tree that names a fact not listed here is refused by `whymail knowledge check`, so a typo in a
condition can never silently evaluate to "false" in production.
"""

from __future__ import annotations

FACTS: dict[str, str] = {
    "query.kind": "what was asked about: address, dispatch or none",
    "query.text": "the words the person typed (untrusted)",
    "address.value": "the recipient address being diagnosed",
    "address.valid": "true when the address is syntactically valid",
    "address.problem": "why the address is not valid, in the validator's words",
    "address.domain": "the part after the @",
    "address.suppressed": "the address is on the ESP's suppression list as far as events show",
    "address.suggestion": "a likely intended address when this one looks mistyped",
    "dispatch.found": "a dispatch or delivery event matched the question",
    "dispatch.id": "the dispatch id",
    "dispatch.kind": "invoice, reminder, order, quote, ...",
    "dispatch.subject": "the subject line",
    "dispatch.state": "pending, in_progress, sent, failed or cancelled",
    "dispatch.internal_error": "why the system could not send (missing_template, ...), or empty",
    "dispatch.created_at": "when the dispatch was created (UTC)",
    "dispatch.role": "how the recipient was addressed: to, cc or bcc",
    "event.found": "there is at least one delivery event for this recipient",
    "event.type": "the latest outcome event: queued, sent, rejected, failed, bounced, "
    "deferred or delivered",
    "event.timestamp": "when the latest outcome event happened (UTC)",
    "event.provider": "the ESP that reported it",
    "event.smtp_code": "the remote server's SMTP reply code",
    "event.enhanced_status": "the remote server's enhanced status code (e.g. 5.1.1)",
    "event.diagnostic": "the remote server's reply text (untrusted)",
    "event.reject_reason": "the ESP's reason for rejecting (invalid, bounced, blocked, spam, ...)",
    "event.reason": "the bounce reason (Sisimai's names: userunknown, mailboxfull, ...)",
    "event.hard": "true for a hard bounce, false for a soft one",
    "event.suppressed": "the event says the message was not sent because of suppression",
    "event.count": "how many delivery events the recipient has for this dispatch",
    "history.complained": "the recipient marked a message as spam",
    "history.opened": "the recipient opened or clicked a message",
    "history.deferrals": "how many times delivery was deferred",
    "history.dispatches": "how many dispatches to this address are on record",
    "domain.name": "the recipient's domain",
    "domain.exists": "true, false, or empty when DNS could not tell",
    "domain.accepts_mail": "true when the domain has a usable MX or an implicit MX",
    "domain.mx": "the MX host names, best preference first",
    "domain.null_mx": "the domain publishes a null MX (RFC 7505): it accepts no mail",
    "domain.implicit_mx": "no MX record, but an A/AAAA record acts as the mail server",
    "domain.inconclusive": "DNS could not answer (timeout, SERVFAIL, REFUSED)",
    "domain.cause": "why DNS was inconclusive",
    "domain.mx_resolves": "true when at least one MX host has an address; false when none does",
    "domain.provider": "the mailbox provider behind the MX hosts: gmail, google_workspace, "
    "outlook (Outlook.com/Hotmail/Live), microsoft365, yahoo, icloud, gmx, uol, bol, terra, ...",
    "domain.provider_name": "the provider's display name, e.g. Outlook.com / Hotmail",
    "domain.gateway": "a filtering gateway in front of the mailbox: proofpoint, mimecast, "
    "barracuda, cisco, trendmicro, sophos, ...",
    "domain.gateway_name": "the gateway's display name, e.g. Proofpoint",
    "domain.suggestion": "the domain the person probably meant (gmial.com → gmail.com)",
    "sender.domain": "the sending domain (the dispatch's From domain, or configured)",
    "sender.inconclusive": "DNS could not answer for the sender's domain",
    "sender.spf.present": "the sender's domain publishes an SPF record",
    "sender.spf.authorizes_esp": "the SPF record authorises the configured ESP",
    "sender.spf.problem": "what is wrong with the SPF record (too many lookups, several "
    "records, ...), or empty",
    "sender.dkim.present": "a DKIM key exists for the configured selector (or any selector)",
    "sender.dmarc.present": "the sender's domain (or its organisational domain) has DMARC",
    "sender.dmarc.policy": "the DMARC policy: none, quarantine or reject",
    "sender.dmarc.aligned": "the ESP's signing or return-path domain aligns with the sender",
    "reputation.listed": "a sending IP is listed on a configured blocklist",
    "reputation.listings": "which blocklists list which sending IPs",
    "reputation.inconclusive": "a blocklist could not be checked (error code, timeout)",
    "domain.mx_unresolved": "MX hosts DNS says have no address (a dangling MX), best preference "
    "first",
    "domain.typo_candidate": "the closest popular domain even when the typed one receives mail; "
    "domain.suggestion is only set when DNS says it cannot",
    "sender.cause": "why DNS was inconclusive for the sender's domain",
    "sender.exists": "false when the sending domain does not exist (NXDOMAIN): receivers "
    "refuse mail from it",
    "sender.spf.record": "the SPF record as published (untrusted text)",
    "sender.spf.lookups": "how many DNS-querying terms the SPF record uses (the limit is 10)",
    "sender.dkim.selectors": "the configured DKIM selectors that have a key",
    "sender.dkim.domain": "the domain the DKIM key was looked for (the ESP's signing domain, or "
    "the sender's)",
    "sender.dmarc.record": "the DMARC record that applies (untrusted text)",
    "sender.dmarc.domain": "where that DMARC record was found: the sender's domain or its "
    "organisational domain",
    "sender.dmarc.problem": "what is wrong with DMARC (several records, invalid policy), or empty",
    "reputation.cause": "why a blocklist could not be checked",
    "reputation.checked": "which sending IPs were looked up on which blocklists",
}

#: Replies to question nodes arrive as `answers.<question id>`; any id is allowed.
OPEN_ROOTS = frozenset({"answers"})

ROOTS = frozenset(name.partition(".")[0] for name in FACTS) | OPEN_ROOTS
