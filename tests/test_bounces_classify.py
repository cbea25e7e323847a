"""The classifier on real-world replies, status-code traps, hard/soft, provider wording chosen
through knowledge/providers.yml, every reason handled by the bounced tree, and the JSON-lines
front end of `whymail bounce classify`."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from bot.bounces import REASONS, Classification, classify
from bot.bounces import _rules as rules
from bot.bounces._providers import provider_of
from bot.checks.providers import load_table
from bot.checks.settings import SHIPPED_PROVIDERS
from bot.cli_bounce import classify_jsonl
from bot.config import shipped_knowledge
from bot.trees import Knowledge

DATA = Path(__file__).parent / "data" / "bounces"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "550-5.1.1 The email account that you tried to reach does not exist. Please try "
            "550-5.1.1 double-checking the recipient's email address - gsmtp",
            "userunknown",
        ),
        (
            "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
            "userunknown",
        ),
        (
            "550 5.4.1 Recipient address rejected: Access denied. AS(201806281) "
            "[DB5EUR03FT012.eop-EUR03.prod.protection.outlook.com]",
            "userunknown",
        ),
        (
            "452-4.2.2 The recipient's inbox is out of storage space. Please direct the "
            "recipient to 452 4.2.2 https://support.google.com/mail/?p=OverQuotaTemp - gsmtp",
            "mailboxfull",
        ),
        ("552 5.2.2 Quota exceeded (mailbox for user is full)", "mailboxfull"),
        (
            "550 5.7.1 Service unavailable, Client host [203.0.113.9] blocked using "
            "zen.spamhaus.org; https://www.spamhaus.org/query/ip/203.0.113.9",
            "blocked",
        ),
        ("550 5.7.606 Access denied, banned sending IP [203.0.113.9]", "blocked"),
        (
            "550-5.7.26 Unauthenticated email from example.com is not accepted due to domain's "
            "550-5.7.26 DMARC policy. - gsmtp",
            "authfailure",
        ),
        (
            "550 5.7.9 This mail has been blocked because the sender is unauthenticated. Yahoo "
            "requires all senders to authenticate with either SPF or DKIM.",
            "authfailure",
        ),
        (
            "421 4.7.0 [TSS04] Messages from 203.0.113.9 temporarily deferred due to unexpected "
            "volume or user complaints",
            "badreputation",
        ),
        (
            "550 5.7.25 The IP address sending this message does not have a PTR record setup",
            "requireptr",
        ),
        ("552 5.3.4 Message size exceeds fixed limit", "mesgtoobig"),
        ("550 5.2.1 The email account that you tried to reach is disabled.", "suspend"),
        ("554 5.7.1 Message rejected as spam by Content Filtering.", "spamdetected"),
        ("550 5.7.1 Unable to relay for someone@example.org", "norelaying"),
        (
            "Host or domain name not found. Name service error for name=exmaple.cm type=A: "
            "Host not found",
            "hostunknown",
        ),
        ("connect to mx.example.net[203.0.113.5]:25: Connection timed out", "expired"),
        ("421 4.7.0 Too many concurrent SMTP connections from this IP address", "toomanyconn"),
        (
            "550 5.7.1 Messages with multiple addresses in From: header are not accepted.",
            "notcompliantrfc",
        ),
        ("554 5.7.0 Reject, id=123 - Virus found: Eicar-Test-Signature", "virusdetected"),
        ("Je suis absent du bureau. I am out of the office until Monday.", "vacation"),
        ("250 2.0.0 OK  1700000000 x1si123 - gsmtp", "delivered"),
    ],
)
def test_real_world_texts(text: str, reason: str) -> None:
    assert classify(text).reason == reason


@pytest.mark.parametrize(
    "text",
    [
        "El grupo ventas-norte no existe o ha sido eliminado por su propietario.",
        "Você não tem permissão para postar neste grupo; peça acesso ao administrador.",
        "Le groupe equipe-compta n'existe pas, ou son adresse a changé.",
        "Il gruppo clienti-2026 non esiste più su questo server.",
        "Die Gruppe support-intern existiert nicht mehr (gelöscht am 2. Mai).",
        "Sie sind nicht berechtigt, Beiträge zu posten; treten Sie der Gruppe zuerst bei.",
        "De groep facturen bestaat niet of is door de beheerder opgeheven.",
        "Du har ikke tillatelse til å poste i denne gruppen.",
    ],
)
def test_a_group_refusing_a_post_is_rejected_in_every_language_lists_ship(text: str) -> None:
    assert classify(text).reason == "rejected"


@pytest.mark.parametrize(
    "text",
    [
        "451 4.7.1 Sua mensagem foi retida pelo anti-spam; aguarde a confirmação do remetente",
        "550 E-mail retido pelo filtro AntiSpam: o remetente precisa se cadastrar",
        "451 Mensagem retenida por el antispam del destinatario",
        "450 Message held by anti-spam service, awaiting sender verification (reply to the "
        "challenge email)",
        "550 This address is protected by a challenge-response system",
        "451 aguardando autorização do destinatário para liberar a mensagem",
    ],
)
def test_an_anti_spam_hold_waiting_for_an_answer_is_the_recipients_filter(text: str) -> None:
    result = classify(text)
    assert (result.reason, result.hard) == ("filtered", False)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "554 sending IP 203.0.113.9 temporarily refused, see our postmaster page AUP#CDRBL",
            "blocked",
        ),
        ("550 5.7.1 message not accepted: IP in a DNSBL AUP#IPBL0010", "blocked"),
        ("421 4.7.0 too many sessions open from your address AUP#CXCNCT", "toomanyconn"),
        ("452 4.5.3 you have sent too much mail this hour AUP#CXMXRT", "speeding"),
        ("550 5.1.0 <news@example.org> sender refused AUP#CXSNDR", "rejected"),
    ],
)
def test_cox_codes_mean_what_its_postmaster_page_says(text: str, reason: str) -> None:
    assert classify(text, mx_host="mx.east.cox.net").reason == reason
    assert classify(text).reason == reason  # the code itself names the provider


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        # out-of-office replies in the languages auto-responders ship
        ("Danke für Ihre Mail. Ich bin abwesend bis 12. August.", "vacation"),
        ("Je suis actuellement absente et lirai votre message à mon retour.", "vacation"),
        ("Gracias. Estoy fuera de la oficina hasta el lunes.", "vacation"),
        ("Obrigada pelo contato, estou de férias até dia 20.", "vacation"),
        ("Ik ben met vakantie en lees mijn mail niet.", "vacation"),
        ("Jeg er på ferie og svarer når jeg er tilbake.", "vacation"),
        ("Sono fuori ufficio fino a venerdì.", "vacation"),
        # a provider's own "address not found" notice, localised
        ("Nous n'avons pas pu remettre le message : adresse introuvable.", "userunknown"),
        ("Meldingen kom ikke fram fordi vi finner ikke adressen hos mottakeren.", "userunknown"),
        ("Zustellung fehlgeschlagen: Empfänger wurde nicht gefunden.", "userunknown"),
        ("No se pudo entregar: la dirección no existe en este dominio.", "userunknown"),
        ("Falha na entrega: endereço não encontrado no servidor de destino.", "userunknown"),
        ("Bezorging mislukt: adres bestaat niet.", "userunknown"),
        ("Consegna non riuscita: indirizzo inesistente.", "userunknown"),
        # the envelope sender failed a callout, whatever the callout's own reply said
        ("550 sender verification failed: 550 5.1.1 no such mailbox", "rejected"),
        ("550 Verification failed for <billing@example.org> - unrouteable", "rejected"),
        # the recipient's own lists and choices
        ("554 message refused: you are on the user's personal block list", "filtered"),
        ("550 The recipient has blocked all mail from your address", "filtered"),
        # a DNSBL refusal names its list, even one called a reputation list
        ("554 Client host [192.0.2.4] blocked using rep.example-rbl.net Reputation", "blocked"),
        ("550 IP address blocked by our filters", "blocked"),
        ("554 your sending host is block listed here", "blocked"),
        # authentication, TLS, RFC form, size, rate
        ("421 4.7.0 throttled: DKIM signature did not pass for your domain", "authfailure"),
        ("TLS session: (SSL_connect): error: certificate verify failed", "failedstarttls"),
        ("550 5.7.1 messages missing a valid Date header are refused", "notcompliantrfc"),
        ("451 message contains bare LF characters", "notcompliantrfc"),
        ("552 message size 9000000 exceeds our limit", "mesgtoobig"),
        ("451 RateLimit exceeded for this sender, retry later", "speeding"),
        ("535 5.7.3 Authentication unsuccessful", "securityerror"),
        ("550 5.7.60 you do not have permission to send as this sender", "securityerror"),
        # the recipient's side: its destination system, its tables, its DNS
        ("The destination mail system is unknown for this recipient", "hostunknown"),
        ("451 4.3.0 <ann@example.net>: Temporary lookup failure", "systemerror"),
        ("MX lookup failed for example.net, will retry", "networkerror"),
        ("all hosts for 'example.net' have been failing for too long", "expired"),
        ("Child process of local_pipe transport returned 75", "mailererror"),
    ],
)
def test_phrasing_families_for_replies_nobody_tuned_on(text: str, reason: str) -> None:
    assert classify(text).reason == reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        # a full mailbox, as mail systems localise it
        ("Das Postfach von Frau Berg ist leider voll.", "mailboxfull"),
        ("El buzón de correo del usuario está lleno.", "mailboxfull"),
        ("La boîte aux lettres de votre correspondant est pleine.", "mailboxfull"),
        ("A caixa postal do destinatário está cheia.", "mailboxfull"),
        ("Postkassen til modtageren er fuld.", "mailboxfull"),
        ("Mottagarens postlåda är tyvärr full.", "mailboxfull"),
        ("De mailbox van de ontvanger is vol.", "mailboxfull"),
        ("La casella del destinatario è piena.", "mailboxfull"),
        ("Skrzynka odbiorcy jest pełna.", "mailboxfull"),
        ("Почтовый ящик адресата переполнен.", "mailboxfull"),
        # Exchange's "<user> wasn't found at <domain>", localised
        ("anna.berg wurde bei example.de nicht gefunden.", "userunknown"),
        ("anna.berg est introuvable sur example.fr.", "userunknown"),
        ("anna.berg não foi encontrado em example.com.br.", "userunknown"),
        ("Vi finner ikke e-postadressen du sendte til.", "userunknown"),
        ("E-postadressen du skrev kunde inte hittas.", "userunknown"),
        ("E-mailadressen blev ikke fundet hos modtageren.", "userunknown"),
        ("Пользователь не найден на этом сервере.", "userunknown"),
        ("553 this address is not in our validrcptto file", "userunknown"),
        ("Unknown list sales-2019@lists.example.org", "userunknown"),
        # the domain, not the mailbox, is what cannot be found
        ("Le nom de domaine du destinataire est introuvable.", "hostunknown"),
        ("all MX records point to non-existent hosts", "hostunknown"),
        # the recipient's own filter, however the refusal around it is worded
        (
            "550 rejected by the user's own mail filter: block everything from example.biz",
            "filtered",
        ),
        ("550 your mail to <ann@example.net> was automatically rejected", "filtered"),
        ("550 Nachricht wurde durch den Filter des Empfängers abgewiesen", "filtered"),
        ("550 failure for one or more recipients (ann@example.net:blocked)", "filtered"),
        # a sending IP refused by a reputation service, not a sender address
        ("550 Mail from 198.51.100.3 refused, see our lookup page", "blocked"),
        ("550 mail from news@example.org refused", "rejected"),
        # senders refused, in the languages servers speak
        ("553 remetente recusado pelo servidor", "rejected"),
        ("550 remitente rechazado", "rejected"),
        ("550 Absender ungültig", "rejected"),
        ("550 expéditeur refusé", "rejected"),
        ("550 5.7.1 sender not in the allowed-senders list of this group", "rejected"),
        # content scanners, RFC form, sizes, relays, TLS
        ("554 5.7.0 Reject, id=1-2 - INFECTED: Eicar-Signature", "virusdetected"),
        ("554 5.7.0 Reject, id=3-4 - BANNED: P=p002,M=application/zip,T=exe", "policyviolation"),
        ("550 a link in the message (shop.example) is listed by our URI list", "spamdetected"),
        ("554 DT:SPM mx1, see the postmaster page", "spamdetected"),
        ("550 Mail content denied by policy engine", "spamdetected"),
        ("550 message contains 3 Date headers", "notcompliantrfc"),
        ("552 message exceeds the mailsize limit of this host", "mesgtoobig"),
        ("553 sorry, not in my list of allowed rcpthosts", "norelaying"),
        ("Could not start TLS with the remote host", "failedstarttls"),
        ("550 SPF check for the envelope sender domain returned fail", "authfailure"),
        # a list holding the post for its moderator: nothing failed yet
        ("Your post is held for the list moderator to approve.", "onhold"),
        ("Your message was forwarded to the moderators for approval.", "onhold"),
    ],
)
def test_localised_and_vendor_families(text: str, reason: str) -> None:
    assert classify(text).reason == reason


def test_an_ip_address_is_not_a_suspended_mailbox() -> None:
    assert classify("550 IP address temporarily blocked").reason == "blocked"
    assert classify("550 this address is temporarily blocked").reason == "suspend"


def test_a_group_word_alone_is_no_refusal() -> None:
    assert classify("Die Gruppe hat Ihre Nachricht erhalten und weitergeleitet.").reason != (
        "rejected"
    )


def test_status_alone_decides_when_the_text_is_silent() -> None:
    assert classify("", status="5.1.1").reason == "userunknown"
    assert classify("Delivery failed", status="4.2.2").reason == "mailboxfull"
    assert classify("", status="5.7.26").reason == "authfailure"


def test_text_beats_a_misleading_status() -> None:
    # 5.1.1 used for a sender-side rate limit (GoDaddy): not a missing mailbox
    got = classify("550 5.1.1 example.com has sent to too many recipients this hour")
    assert got.reason == "toomanyconn"
    assert got.hard is False
    # 5.7.1 is a catch-all: the words decide
    assert classify("550 5.7.1 Recipient address rejected: Access denied").reason == "userunknown"
    assert classify("550 5.7.1 Sender address rejected: not owned by user").reason == "rejected"


def test_catch_all_status_is_not_a_reason() -> None:
    # A failure was reported but nothing says why: on hold, not a guess at a cause.
    assert classify("", status="5.0.0").reason == "onhold"
    assert classify("5.0.901 error").reason == "onhold"
    assert classify("Delivery failed for ann@example.net; no further details").reason == "onhold"
    # With no code and no address there is nothing to go on at all.
    assert classify("The mail system").reason == "undefined"
    assert classify("").reason == "undefined"


def test_phase_turns_user_unknown_after_data_into_filtered() -> None:
    text = "550 Unknown user kijitora@example.net (in reply to end of DATA command)"
    assert classify(text).reason == "filtered"
    assert classify("550 Unknown user kijitora@example.net", phase="rcpt").reason == "userunknown"
    assert classify("550 5.1.1 Unknown user", phase="data").reason == "userunknown"


def test_mx_host_selects_provider_rules() -> None:
    got = classify(
        "550 5.4.1 Recipient address rejected: Access denied",
        mx_host="example-com.mail.protection.outlook.com",
    )
    assert got == Classification("userunknown", True)


@pytest.mark.parametrize(
    ("text", "hard"),
    [
        ("550 5.1.1 User unknown", True),
        ("Host or domain name not found", True),
        ("550 5.1.6 Destination mailbox has moved", True),
        ("552 5.2.2 Mailbox full", False),
        ("550 5.7.1 blocked using bl.spamcop.net", False),
        ("550 5.2.1 The email account that you tried to reach is disabled", False),
        ("556 5.1.10 Recipient address has null MX", True),
        ("I am out of the office", None),
    ],
)
def test_hard_soft(text: str, hard: bool | None) -> None:
    assert classify(text).hard is hard


def test_string_rows_of_the_corpus_copy() -> None:
    rows = [json.loads(line) for line in (DATA / "labels.jsonl").read_text().splitlines()]
    strings = [r for r in rows if r["kind"] == "string"]
    ok = sum(
        classify(r["diagnostic"], status=r["status"] or None, smtp_code=r["smtp_code"]).reason
        == r["reason"]
        for r in strings
    )
    assert ok / len(strings) >= 0.95


@pytest.mark.parametrize(
    "text",
    ["", "   ", "\x00\xff\xfe garbage \x01", "é" * 10, "5" * 5000, "a" * 100_000 + " user unknown"],
)
def test_bad_input_never_raises_and_is_bounded(text: str) -> None:
    start = time.perf_counter()
    got = classify(text)
    assert time.perf_counter() - start < 0.1
    assert isinstance(got.reason, str)


def test_long_line_is_cut_not_scanned_whole() -> None:
    assert classify("x" * 100_000 + " 550 5.1.1 user unknown").reason == "undefined"
    assert classify(None).reason == "undefined"


# Not failures: they describe mail that arrived (the delivered tree decides by the event type).
ARRIVED = frozenset({"delivered", "vacation"})


def test_every_reason_leads_the_bounced_tree_to_a_verdict() -> None:
    # The tree is the one table of reason -> verdict: a reason the classifier can return and the
    # tree does not name would fall through to "unknown" without anyone noticing.
    knowledge = Knowledge.load(shipped_knowledge())
    bounced = knowledge.tree("bounced")
    assert bounced is not None
    assert ARRIVED < REASONS

    def verdict(reason: str) -> str:
        walk = knowledge.walk_from(bounced, {"event": {"type": "bounced", "reason": reason}})
        assert walk.question is None, reason
        return walk.leaf.verdict

    # undefined (nothing to go on) and onhold (a failure with no cause given) say no cause
    no_cause = {"undefined", "onhold"}
    unhandled = sorted(r for r in REASONS - ARRIVED - no_cause if verdict(r) == "unknown")
    assert unhandled == []
    assert verdict("undefined") == "unknown"
    assert verdict("onhold") == "unknown"
    assert verdict("authfailure") == "sender_auth_failed"
    assert verdict("userunknown") == "user_unknown"
    assert verdict("mailboxfull") == "mailbox_full"


def test_every_reason_a_rule_gives_is_listed() -> None:
    given = set(rules.STATUS_REASONS.values()) | set(rules.STRONG_STATUS.values())
    for table in (rules.TEXT_RULES, rules.WEAK_RULES, rules.OVERRIDES):
        given |= set(table)
    for entry in rules.PROVIDER_RULES:
        given |= set(entry.rules)
    assert given <= REASONS


def test_provider_rules_name_entries_of_providers_yml() -> None:
    # A renamed or mistyped id would silently switch a provider's wording off.
    known = {p.id for p in load_table(SHIPPED_PROVIDERS).providers}
    for entry in rules.PROVIDER_RULES:
        assert entry.ids <= known, sorted(entry.ids - known)


@pytest.mark.parametrize(
    ("host", "provider"),
    [
        ("gmail-smtp-in.l.google.com", "gmail"),
        ("alt1.gmail-smtp-in.l.google.com.", "gmail"),
        ("mail-qk0-f170.google.com", "google_workspace"),
        ("aspmx.l.google.com", "google_workspace"),
        ("example-com.mail.protection.outlook.com", "microsoft365"),
        ("eur03.olc.protection.outlook.com", "outlook"),
        # a consumer provider's own machines, named inside its mail domain rather than as an MX
        ("bay004-mc1f22.hotmail.com", "outlook"),
        ("mx.aol.com", "aol"),
        ("mta5.am0.yahoodns.net", "yahoo"),
        ("mx-aol.mail.gm0.yahoodns.net", "aol"),
        ("eu-smtp-inbound-1.mimecast.com", "mimecast"),
        ("mx0a-00123.pphosted.com", "proofpoint"),
        ("mx.bol.com.br", "bol"),
        ("mail.example.net", None),
        ("xpphosted.com", None),
        ("", None),
        ("a." * 300, None),
    ],
)
def test_reply_hosts_are_told_by_providers_yml(host: str, provider: str | None) -> None:
    assert provider_of(host) == provider


def test_an_edited_provider_table_moves_a_host(tmp_path: Path) -> None:
    # Editors own providers.yml: a host they add to a provider gets that provider's wording.
    edited = tmp_path / "providers.yml"
    text = SHIPPED_PROVIDERS.read_text("utf-8")
    old = "mx: [olc.protection.outlook.com]"
    assert old in text
    edited.write_text(text.replace(old, "mx: [olc.protection.outlook.com, mx.example.net]"))
    assert provider_of("mx.example.net") is None
    assert provider_of("mx.example.net", edited) == "outlook"


@pytest.mark.parametrize(
    ("text", "host", "reason"),
    [
        ("550 5.7.1 Message blocked", "mx0a-00123.pphosted.com", "blocked"),
        ("550 5.7.1 Message blocked", "mx1.ppe-hosted.com", "blocked"),
        ("550 Mensagem bloqueada pelo AntiSpam", "mx.uol.com.br", "filtered"),
        ("550 Mensagem bloqueada pelo AntiSpam", "mx.bol.com.br", "filtered"),
    ],
)
def test_one_rule_set_serves_several_providers(text: str, host: str, reason: str) -> None:
    assert classify(text, mx_host=host).reason == reason
    # elsewhere the same words decide nothing: a refusal whose cause is not said
    assert classify(text, mx_host="mx.example.net").reason == "onhold"


def test_a_phrasing_matches_the_word_it_names() -> None:
    # Patterns match whole words at their ends; "phish" is written to take in "phishing".
    assert classify("554 5.7.1 Message refused: phishing attempt detected").reason == (
        "spamdetected"
    )


def test_classify_jsonl_adds_fields_and_reports_bad_lines() -> None:
    src = io.StringIO(
        '{"diagnostic": "550 5.1.1 User unknown", "id": 7}\n'
        "not json\n"
        "\n"
        '{"diagnostic": "452 4.2.2 Mailbox full", "status": "4.2.2", "smtp_code": 452}\n'
        "[1, 2]\n"
    )
    out, err = io.StringIO(), io.StringIO()
    assert classify_jsonl(src, out, err) == 1
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert rows[0] == {
        "diagnostic": "550 5.1.1 User unknown",
        "id": 7,
        "reason": "userunknown",
        "hard": True,
    }
    assert rows[1]["reason"] == "mailboxfull"
    assert rows[1]["hard"] is False
    assert "line 2" in err.getvalue()
    assert "line 5" in err.getvalue()


def test_classify_jsonl_all_good_returns_zero() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert classify_jsonl(io.StringIO('{"diagnostic": null}\n'), out, err) == 0
    assert json.loads(out.getvalue())["reason"] == "undefined"
    assert err.getvalue() == ""


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        # a resolver's TRY_AGAIN and Google's own failed MX lookup are network errors ...
        ("Name service error for domain example.com: Host not found, try again", "networkerror"),
        (
            "DNS Error: 80335577 DNS type 'mx' lookup of example.jp responded with code NXDOMAIN "
            "Domain name not found: example.jp",
            "networkerror",
        ),
        # ... while a plain NXDOMAIN and a null MX stay what they are
        (
            "Host or domain name not found. Name service error for name=example.cm type=A: Host "
            "not found",
            "hostunknown",
        ),
        (
            "DNS Error: 24275403 DNS type 'mx' lookup of example.org responded with code NOERROR "
            "The domain example.org doesn't receive email according to the administrator: returned "
            "Null MX",
            "notaccept",
        ),
        # qmail's "queue too long" suffix does not hide the deferral's own reason
        (
            "Unable to contact LDAP server. (#4.4.3)I'm not going to try again; this message has "
            "been in the queue too long.",
            "systemerror",
        ),
        ("I'm not going to try again; this message has been in the queue too long.", "expired"),
        # Postfix's "delivery temporarily suspended" is about the queue, not an account
        (
            "delivery temporarily suspended: host mx.example.net[192.0.2.7] refused to talk to me: "
            "421 Service not available",
            "blocked",
        ),
        (
            "550-REJECTED - Blacklisted URL in message. (example.com) in [black]. 550-See "
            "http://lookup.uribl.com. - Blacklisted Link",
            "spamdetected",
        ),
        # the last line of a multi-line reply repeats its prefix mid-sentence
        (
            "550-5.7.1 [192.0.2.9 13] Messages with multiple 550 5.7.1 addresses in From: header "
            "are not accepted.",
            "notcompliantrfc",
        ),
        ("User  not listed in public Name & Address Book", "userunknown"),
        (
            "501 <a@example.jp>... no access from mail server [192.0.2.55] which is an open relay.",
            "blocked",
        ),
        ("550 Insecure Mail Relay", "norelaying"),
        ("500 Remote server does not support TLS (state 6).", "failedstarttls"),
        (
            "550 5.7.650 The mail server [192.0.2.9] has been temporarily rate limited due to IP "
            "reputation.",
            "badreputation",
        ),
        (
            "550 5.7.606 Access denied, banned sending IP [192.0.2.9]. To request removal from "
            "this list please visit https://sender.office.com/",
            "blocked",
        ),
    ],
)
def test_formats_that_look_like_a_neighbouring_reason(text: str, reason: str) -> None:
    assert classify(text).reason == reason


def test_without_a_phase_user_unknown_stays_user_unknown() -> None:
    # An ESP's diagnostic almost always answers RCPT TO: no phase is not "after DATA".
    assert classify("550 Unknown user who@example.net").reason == "userunknown"
    assert classify("550 5.2.1 <who@example.jp>... User Unknown").hard is True


def test_null_mx_is_hard_unless_temporary() -> None:
    assert classify("556 5.1.10 Recipient address has null MX").hard is True
    assert classify("No MX found for domain", status="4.4.4").hard is False


def test_provider_host_selects_outlook_wording() -> None:
    text = "550 Requested action not taken: mailbox unavailable (-0000000022:2222:-0000000022)"
    assert classify(text, mx_host="bay004-mc1f22.hotmail.com").reason == "userunknown"


def test_a_transcript_2xx_is_not_a_delivery() -> None:
    text = "Out: 250 2.1.5 Ok In: DATA Out: 354 End data Out: 451 4.3.0 Error: queue file write"
    got = classify(text)
    assert got.reason == "systemerror"
    assert got.hard is False
