"""JSON-lines front ends for `whymail bounce classify` and `whymail bounce parse`.

They sit beside the CLI rather than in `bot.bounces`, which stays pure (text in, reasons out)
and knows no streams or exit codes. They take open text streams so that the CLI, tests and
pipes share one code path, and so that one bad line or unreadable file is reported and skipped
rather than ending the run.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Sequence
from dataclasses import asdict
from typing import BinaryIO, TextIO

from bot.bounces import MAX_BYTES, BounceReport, classify, parse_bounce_report


def _code(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def classify_jsonl(infile: TextIO, outfile: TextIO, errfile: TextIO) -> int:
    """`whymail bounce classify`: add `reason` and `hard` to each JSON line; 1 if any was bad.

    An optional `phase` in (the SMTP stage the reply answered: connect, helo, starttls, mail,
    rcpt, data, or a common alias such as "RCPT TO") is used and left as it was sent; when it is
    missing and the text names the stage, the stage read from the text is added as `phase`, so
    that a reader sees what the reason went by.
    """
    bad = False
    for lineno, line in enumerate(infile, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            print(f"line {lineno}: not valid JSON ({exc})", file=errfile)
            bad = True
            continue
        if not isinstance(row, dict):
            print(f"line {lineno}: expected a JSON object", file=errfile)
            bad = True
            continue
        diagnostic = row.get("diagnostic")
        if diagnostic is not None and not isinstance(diagnostic, str):
            print(f"line {lineno}: `diagnostic` must be a string", file=errfile)
            bad = True
            continue
        result = classify(
            diagnostic,
            status=_opt_str(row.get("status")),
            smtp_code=_code(row.get("smtp_code")),
            mx_host=_opt_str(row.get("mx_host")),
            phase=_opt_str(row.get("phase")),
        )
        row["reason"] = result.reason
        row["hard"] = result.hard
        if result.phase is not None and "phase" not in row:
            # the stage the classifier read from the text; a caller's own `phase` stays as sent
            row["phase"] = result.phase
        outfile.write(json.dumps(row, ensure_ascii=False) + "\n")
    return 1 if bad else 0


# Not a failure: a delivery report or an out-of-office reply says the message arrived. They are
# printed all the same (their reason says so, `hard` is null), because an agent who pastes one
# asking "why did it bounce?" needs to hear that it did not.
_NOT_FAILED = frozenset({"delivered", "vacation"})


def parse_files_jsonl(paths: Sequence[str], outfile: TextIO, errfile: TextIO) -> int:
    """`whymail bounce parse FILE.eml ...`: one JSON line per recipient the email reports on.

    Failed recipients carry their reason and hard/soft; complaint (`feedback`) rows are printed,
    because a complaint is why a later send is suppressed; a recipient reported as delivered or
    answered by an auto-reply is printed with that reason and `hard: null`, and the file is
    named on `errfile` as having no failed recipient. What the parser did not read (a cut) is in
    each row's `notes` and on `errfile`, once per file, so that a file with no row, or too few,
    says why. Only an unreadable file makes the exit status non-zero.
    """
    status = 0
    for path in paths:
        try:
            with open(path, "rb") as fh:
                report = _parse_file(fh)
        except OSError as exc:
            print(f"{path}: cannot read ({exc.strerror or exc})", file=errfile)
            status = 1
            continue
        notes = [str(note) for note in report.notes]
        if all(row.reason in _NOT_FAILED for row in report.recipients):
            print(f"{path}: no failed recipient found", file=errfile)
        for note in notes:
            print(f"{path}: {note}", file=errfile)
        for row in report.recipients:
            record: dict[str, object] = asdict(row)
            record.pop("mx_host", None)
            record["notes"] = notes
            outfile.write(json.dumps(record, ensure_ascii=False) + "\n")
    return status


def _parse_file(fh: BinaryIO) -> BounceReport:
    """Read no more than the parser uses (one byte more tells it the email was cut), so a
    200 MB file costs what a 512 KiB one does; its size on disk goes into the note."""
    info = os.fstat(fh.fileno())
    size = info.st_size if stat.S_ISREG(info.st_mode) else None
    return parse_bounce_report(fh.read(MAX_BYTES + 1), size=size)
