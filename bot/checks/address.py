"""Address syntax and the one form every stage compares addresses in.

email-validator does the syntax (RFC 5321/5322/6531) without its network checks: its DNS step
turns timeouts into "deliverable" (and `.test` into "invalid"), so deliverability is our own
DNS stage's job, with honest timeouts. Internationalised domains are stored as ASCII (IDNA), the
form ESP events and DNS use, while the Unicode form stays available for showing to people.
"""

from __future__ import annotations

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from bot.addresses import normalise_address


@dataclass(frozen=True, slots=True)
class InvalidAddress:
    text: str
    #: What is wrong, as one of PROBLEMS: a code the trees name in the reader's language
    #: (`{{ address.problem | label }}`), never the validator's English sentence.
    problem: str


#: The validator's complaints, told apart by their words, first match wins: what is wrong
#: with an address in a handful of codes that knowledge/ui.yml names in every language.
_PROBLEMS: tuple[tuple[str, str], ...] = (
    ("quoting the part before the @-sign", "quoted_local_part"),
    ("must have an @-sign", "no_at_sign"),
    ("must be something before the @-sign", "nothing_before_at"),
    ("too long", "too_long"),
    ("anything after the email address", "extra_text"),
    ("display name", "extra_text"),
    ("angle bracket", "extra_text"),
    ("after the @-sign", "bad_domain"),
    ("period", "bad_local_part"),
    ("before the @-sign", "bad_local_part"),
    ("character", "bad_local_part"),
)
PROBLEMS = frozenset({code for _, code in _PROBLEMS} | {"invalid"})


def problem_code(message: str) -> str:
    """The code for a validator's message; `invalid` for one no rule knows."""
    text = message.lower()
    return next((code for words, code in _PROBLEMS if words in text), "invalid")


@dataclass(frozen=True, slots=True)
class Address:
    #: Lower-case addr-spec with an ASCII (IDNA) domain: the form events are stored under.
    normalised: str
    local: str
    #: The domain as DNS sees it (xn-- labels for IDN).
    domain: str
    #: The domain as people write it (æøå, ç, ã).
    unicode_domain: str


def parse_address(candidate: str) -> Address | InvalidAddress:
    """Validate syntax only; `.test` names pass so tests and demos can use reserved domains.

    `test_environment` only admits the reserved `.test` names; the DNS stage still says whether
    such a domain exists, so nothing invalid slips through as deliverable.
    """
    try:
        result = validate_email(
            candidate,
            check_deliverability=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            test_environment=True,
        )
    except EmailNotValidError as exc:
        return InvalidAddress(candidate, problem_code(str(exc)))
    normalised = normalise_address(f"{result.local_part}@{result.ascii_domain}")
    local, _, domain = normalised.rpartition("@")
    return Address(normalised, local, domain, result.domain.lower())


def check_address(candidate: str) -> str | InvalidAddress:
    """The normalised address, or why it is not one."""
    parsed = parse_address(candidate)
    return parsed.normalised if isinstance(parsed, Address) else parsed
