"""Measure whymail's bounce classifier and DSN parser on Sisimai's labelled corpus.

Run from the repository root:

    python bench/bounces.py                      # corpus at ../shared/corpora/bounces
    python bench/bounces.py --corpus DIR         # another copy (labels.jsonl + eml/)
    python bench/bounces.py --misses             # also list every miss with its text

What it prints, and how each figure is computed:

- reason accuracy, string rows: `classify(diagnostic, status=, smtp_code=)` on `kind: string`
  rows; a row counts when the reason equals `reason` or is one of `also_accepted`.
- reason accuracy, email rows: `parse_bounce(eml bytes)`, then each labelled row is paired with a
  parsed row (same recipient address; else the same position `index`); an unpaired row is a miss.
- hard/soft accuracy: the same pairing, comparing `hard` (True, False or None) over all rows.
- recipient extraction: email rows with a labelled recipient whose address is among the parsed
  rows. flufl.bounce (GNU Mailman's detector) is scored the same way when it is installed
  (`pip install flufl.bounce`); when it is not, the bench says so and carries on.
- a confusion table of misses (expected -> got, with counts), then throughput on one core:
  diagnostics/s (classify over all string and email diagnostics, repeated) and emails/s
  (parse_bounce over every email, repeated), each measured `--repeat` times and printed as the
  best and the median round. The machine is shared, so the rate is per CPU second this
  single-threaded process got (what one core does), with the wall-clock rate and the load
  average beside it. Nothing is cached between calls.

It asserts nothing; it prints figures for a person (or CI log) to compare with the targets.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Run as a script, bench/ comes first on the path, where bench/dns.py would hide dnspython from
# bot.checks (whose provider table the classifier reads): the repository root takes its place.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from bot.bounces import BouncedRecipient, classify, parse_bounce  # noqa: E402

DEFAULT_CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora" / "bounces"


def _ok(row: dict[str, Any], reason: str) -> bool:
    accepted = {row["reason"]}
    for alt in row.get("also_accepted") or []:
        accepted.update(alt.values() if isinstance(alt, dict) else [alt])
    return reason in accepted


def _pair(row: dict[str, Any], parsed: list[BouncedRecipient]) -> BouncedRecipient | None:
    want = (row.get("recipient") or "").lower()
    if want:
        same = [p for p in parsed if p.recipient.lower() == want]
        if same:
            idx = min(len(same), max(1, int(row.get("index") or 1))) - 1
            return same[idx] if len(same) > 1 and idx < len(same) else same[0]
    idx = int(row.get("index") or 1) - 1
    return parsed[idx] if 0 <= idx < len(parsed) else None


def _flufl(path: Path) -> set[str] | None:
    try:
        from flufl.bounce import all_failures  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    import email
    from email.policy import compat32

    msg = email.message_from_bytes(path.read_bytes(), policy=compat32)
    try:
        temp, perm = all_failures(msg)
    except Exception:  # a third-party detector crashing is a miss, not the end of the bench
        return set()
    return {(a.decode() if isinstance(a, bytes) else str(a)).lower() for a in temp | perm}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        default=DEFAULT_CORPUS,
        help="directory with labels.jsonl and eml/ (default: %(default)s)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=2.0,
        help="minimum time spent on each throughput figure (default: 2)",
    )
    parser.add_argument("--misses", action="store_true", help="list every miss with its text")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="throughput rounds; best and median are printed (default: 3)",
    )
    args = parser.parse_args(argv)

    labels = args.corpus / "labels.jsonl"
    if not labels.is_file():
        print(f"no corpus at {args.corpus} (expected labels.jsonl and eml/); use --corpus DIR")
        return 2
    rows = [json.loads(line) for line in labels.read_text(encoding="utf-8").splitlines() if line]
    strings = [r for r in rows if r["kind"] == "string"]
    emails = [r for r in rows if r["kind"] == "email"]

    confusion: Counter[tuple[str, str]] = Counter()
    misses: list[str] = []
    hard_ok = hard_n = 0

    s_ok = 0
    for r in strings:
        got = classify(r["diagnostic"], status=r["status"] or None, smtp_code=r["smtp_code"])
        if _ok(r, got.reason):
            s_ok += 1
        else:
            confusion[(r["reason"], got.reason)] += 1
            misses.append(f"string {r['reason']} -> {got.reason}: {r['diagnostic'][:150]}")
        hard_n += 1
        hard_ok += got.hard == r["hard"]

    parsed: dict[str, list[BouncedRecipient]] = {}
    for name in sorted({r["eml"] for r in emails}):
        parsed[name] = parse_bounce((args.corpus / "eml" / name).read_bytes())
    e_ok = rcpt_ok = rcpt_n = flufl_ok = 0
    flufl_cache: dict[str, set[str] | None] = {}
    for r in emails:
        got_row = _pair(r, parsed[r["eml"]])
        reason = got_row.reason if got_row else "(no row)"
        if _ok(r, reason):
            e_ok += 1
        else:
            confusion[(r["reason"], reason)] += 1
            misses.append(
                f"{r['eml']}#{r['index']} {r['reason']} -> {reason}: "
                f"{(got_row.diagnostic or '')[:150] if got_row else ''}"
            )
        hard_n += 1
        hard_ok += (got_row.hard if got_row else None) == r["hard"]
        want = (r.get("recipient") or "").lower()
        if want:
            rcpt_n += 1
            rcpt_ok += any(p.recipient.lower() == want for p in parsed[r["eml"]])
            if r["eml"] not in flufl_cache:
                flufl_cache[r["eml"]] = _flufl(args.corpus / "eml" / r["eml"])
            found = flufl_cache[r["eml"]]
            flufl_ok += found is not None and want in found

    def pct(a: int, b: int) -> str:
        return f"{a}/{b} = {100 * a / b:.1f} %" if b else "n/a"

    print(
        f"corpus: {args.corpus} ({len(strings)} string rows, {len(emails)} email rows, "
        f"{len(parsed)} emails)"
    )
    print(f"reason accuracy, string rows : {pct(s_ok, len(strings))}   (target >= 95 %)")
    print(f"reason accuracy, email rows  : {pct(e_ok, len(emails))}   (target >= 93 %)")
    print(f"hard/soft accuracy, all rows : {pct(hard_ok, hard_n)}   (target >= 98 %)")
    print(f"recipient extraction (whymail): {pct(rcpt_ok, rcpt_n)}   (target >= 97 %)")
    if any(v is not None for v in flufl_cache.values()):
        print(f"recipient extraction (flufl.bounce): {pct(flufl_ok, rcpt_n)}")
    else:
        print("recipient extraction (flufl.bounce): not installed (pip install flufl.bounce)")

    print("\nmisses: expected -> got (count)")
    for (want, got), n in sorted(confusion.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {want:16} -> {got:16} {n}")
    if args.misses:
        print("\nevery miss:")
        for line in misses:
            print("  " + line)

    diags = [(r["diagnostic"], r["status"] or None, r["smtp_code"]) for r in rows]
    blobs = [(args.corpus / "eml" / name).read_bytes() for name in parsed]

    def rate(work: Callable[[], int]) -> tuple[float, float]:
        """Items per wall-clock second and per CPU second of this (single-threaded) process."""
        n = 0
        wall, cpu = time.perf_counter(), time.process_time()
        while time.perf_counter() - wall < args.seconds:
            n += work()
        return n / (time.perf_counter() - wall), n / (time.process_time() - cpu)

    def classify_all() -> int:
        for d, st, code in diags:
            classify(d, status=st, smtp_code=code)
        return len(diags)

    def parse_all() -> int:
        for blob in blobs:
            parse_bounce(blob)
        return len(blobs)

    rounds = max(1, args.repeat)
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print(
        f"\nthroughput, one core ({rounds} rounds of {args.seconds:g} s; load average {load};"
        " per CPU second of this process, wall-clock in brackets):"
    )
    for label, work, unit, target in (
        ("classify    ", classify_all, "diagnostics/s", "20,000"),
        ("parse_bounce", parse_all, "emails/s", "1,000"),
    ):
        results = [rate(work) for _ in range(rounds)]
        cpu = sorted(r[1] for r in results)
        wall = sorted(r[0] for r in results)
        print(
            f"  {label} : best {cpu[-1]:,.0f}, median {statistics.median(cpu):,.0f} {unit}"
            f"   [wall: best {wall[-1]:,.0f}, median {statistics.median(wall):,.0f}]"
            f"   (target >= {target})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
