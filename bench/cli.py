"""How long `whymail ask` takes from the shell, against the floor its dependencies set.

Run from the repository root:

    python bench/cli.py                 # 9 runs of each command
    python bench/cli.py --runs 21

A one-shot CLI cannot be faster than starting Python and importing what it uses, so the figure
that says whether whymail's own start-up is lean is the ratio of the two. For each command:

- wall time: the command run as a user runs it (`python -m bot ask ...` in a fresh process, output
  discarded), median of `--runs` after one warm-up run, taking turns with the floor's runs so
  that a busy moment on a shared machine weighs on both, with Python's bytecode cache on (as after
  `pip install`, which writes it; PYTHONDONTWRITEBYTECODE is dropped for the runs);
- import floor: a fresh process that only imports every module the command loaded that is not
  whymail's own (read from the command's `sys.modules` at exit: the standard library and the
  dependencies, in the order they were loaded), median of `--runs`;
- ratio: wall / floor.

The commands: an answer that needs no DNS (`ask --json 'ola@@firma.no'`, a mistyped address;
target <= 1.3x) and a demo case (`ask --demo CASE`: records and a DNS server in-process; target
<= 1.5x). It prints figures and exits 1 when a ratio is over its target.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

COMMANDS: tuple[tuple[str, tuple[str, ...], float], ...] = (
    ("ask, no DNS", ("ask", "--json", "ola@@firma.no"), 1.3),
    ("ask --demo CASE", ("ask", "--demo", "per@bakeri.no"), 1.5),
)

# Runs the CLI as `python -m bot` would, then reports the modules it loaded (stdout stays the
# command's; the list goes to the file named in argv[1]).
_RECORD = """
import json, runpy, sys
out = sys.argv.pop(1)
sys.argv[0] = "whymail"
try:
    runpy.run_module("bot", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
finally:
    with open(out, "w") as f:
        json.dump(list(sys.modules), f)
"""


def _own(name: str) -> bool:
    top = name.partition(".")[0]
    return top in {"bot", "testkit", "__main__", "runpy"}


def loaded_modules(args: tuple[str, ...]) -> list[str]:
    with tempfile.NamedTemporaryFile("r", suffix=".json") as f:
        subprocess.run(
            [sys.executable, "-c", _RECORD, f.name, *args],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            check=False,
        )
        names = json.load(f)
    return [n for n in names if not _own(n) and not n.startswith("_frozen")]


# As after `pip install`, which writes the bytecode of what it installs: without it, every run
# would compile whymail's own source (and the floor's dependencies have theirs).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, env=ENV, check=False)
    return time.perf_counter() - started


def medians(first: list[str], second: list[str], runs: int) -> tuple[float, float]:
    """Median wall times of two commands, run in turns so that a busy moment hits both."""
    timed(first)  # warm-up: bytecode written, files in the page cache
    timed(second)
    pairs = [(timed(first), timed(second)) for _ in range(runs)]
    return statistics.median(a for a, _ in pairs), statistics.median(b for _, b in pairs)


_FLOOR = """
import importlib
for name in {modules}:
    try:
        importlib.import_module(name)
    except Exception:
        pass
"""


def floor_script(modules: list[str]) -> str:
    # A module that fails to import on its own (a platform-only submodule) is skipped: the floor
    # must never include work the command did not do.
    return _FLOOR.format(modules=json.dumps(modules))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=9, help="runs of each command (default 9)")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"python {sys.version.split()[0]}, {args.runs} runs each, load average {load:.2f}")
    failed = False
    for label, command, target in COMMANDS:
        modules = loaded_modules(command)
        floor, wall = medians(
            [sys.executable, "-c", floor_script(modules)],
            [sys.executable, "-m", "bot", *command],
            args.runs,
        )
        ratio = wall / floor
        verdict = "ok" if ratio <= target else "over target"
        failed |= ratio > target
        print(
            f"{label:<16} wall {wall * 1000:6.0f} ms   import floor {floor * 1000:6.0f} ms "
            f"({len(modules)} modules)   ratio {ratio:.2f}x   (target <= {target}x: {verdict})"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
