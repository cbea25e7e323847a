"""`whymail …`: the command line. It only parses arguments and prints; the work is elsewhere."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from bot import __version__
from bot.app import running
from bot.config import ConfigError, Settings
from bot.diagnose import Diagnoser, Report
from bot.render.terminal import render_diagnosis
from bot.sources.ingest import IngestReport, UnknownProvider, bounded_lines, ingest_lines
from bot.sources.normalizers import NORMALIZERS
from bot.sources.store import StoreError, open_store
from bot.trees import LOCALES, Knowledge, KnowledgeError

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

_DESCRIPTION = """\
whymail answers "why didn't my email arrive?" from delivery events, bounce codes and DNS.

Start here:
  whymail ask --demo                       the bundled demo: every kind of answer, offline
  whymail ask --demo ola@firma.no          one demo answer in full
  whymail ingest --provider postmark F     load your ESP's webhook payloads (JSON lines)
  whymail ask "why didn't ola@firma.no get the invoice?"
"""

_ASK_EPILOG = """\
TEXT may be an address, a dispatch id, or a sentence in English, Norwegian, Dutch or
Portuguese: "hvorfor fikk ikke ola@firma.no fakturaen?" finds the address.

Environment: WHYMAIL_STORE (SQLite path; default in your data directory),
WHYMAIL_DNS_NAMESERVERS (ip[:port],...; default: the system's), WHYMAIL_DNS_TIMEOUT (seconds),
WHYMAIL_KNOWLEDGE (the knowledge folder, the one that holds trees/), WHYMAIL_TIME_ZONE (times
shown in this zone; default: the answer language's), WHYMAIL_CONFIG (a YAML file with the same
keys).
Exit status: 0 answered, 1 failed, 2 nothing to look up in TEXT.
"""


_SERVE_EPILOG = """\
Slack: SLACK_BOT_TOKEN (xoxb-...), and SLACK_SIGNING_SECRET for HTTP or SLACK_APP_TOKEN
(xapp-..., scope connections:write) for Socket Mode. SLACK_API_URL points the bot at another
Web API (a proxy, a test fake). Who is an agent, which channel belongs to which tenant, and
where refused knowledge edits are reported: see README.md, "Slack". Create the Slack app from
app-manifest.yml.

Examples:
  SLACK_APP_TOKEN=xapp-... SLACK_BOT_TOKEN=xoxb-... whymail serve --demo
  whymail serve --http 0.0.0.0:3000        behind a load balancer; point Slack at /slack/events
"""


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_FAIL) -> None:
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="whymail",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"whymail {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    ask = commands.add_parser(
        "ask",
        help="diagnose an address, a dispatch id or a question",
        description="Diagnose why an email did not arrive: the verdict, the evidence, what to do.",
        epilog=_ASK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ask.add_argument("text", nargs="*", metavar="TEXT", help="address, dispatch id or question")
    ask.add_argument("--json", action="store_true", help="one JSON object per answer")
    ask.add_argument("--locale", choices=LOCALES, help="answer language (default: guessed, en)")
    ask.add_argument(
        "--audience",
        choices=("agent", "customer"),
        default="agent",
        help="agent: evidence and internal steps; customer: plain words only (default: agent)",
    )
    ask.add_argument("--tenant", help="only look at this tenant's dispatches and events")
    ask.add_argument(
        "--demo",
        action="store_true",
        help="use the bundled demo data and DNS zones (no ESP, no network needed)",
    )

    ingest = commands.add_parser(
        "ingest",
        help="load provider payloads (JSON lines) into the store",
        description="Load JSON lines into the store: each line a webhook body as the ESP "
        "posted it (one event, or a JSON array of them as SendGrid and Brevo post), or one "
        "event. Every readable event is stored; each fault is reported with its line number. "
        "Loading the same file twice adds nothing.",
    )
    ingest.add_argument(
        "--provider", required=True, help=f"one of: {', '.join(sorted(NORMALIZERS))}"
    )
    ingest.add_argument("file", metavar="FILE", help="a JSON-lines file, or - for standard input")

    bounce = commands.add_parser("bounce", help="classify SMTP replies and parse bounce emails")
    bounce_commands = bounce.add_subparsers(dest="bounce_command", metavar="ACTION")
    classify = bounce_commands.add_parser(
        "classify",
        help="add reason and hard to JSON lines of diagnostics",
        description='Read JSON lines like {"diagnostic": "550 5.1.1 User unknown", '
        '"status": "5.1.1", "smtp_code": 550, "mx_host": "mx.example.com"} and write the same '
        "lines with `reason` (Sisimai's names) and `hard` added.",
    )
    classify.add_argument("file", nargs="?", default="-", metavar="FILE", help="default: stdin")
    parse_cmd = bounce_commands.add_parser(
        "parse",
        help="explain bounce emails (.eml)",
        description="One JSON line per failed recipient of each bounce email: recipient, "
        "status, smtp_code, diagnostic, reason, hard, and notes: what of the email was not "
        "read (a size, part or nesting limit), also printed to stderr. A delivery report or "
        "an auto-reply gives its recipients with reason delivered or vacation and hard null, "
        "and stderr says the file has no failed recipient.",
    )
    parse_cmd.add_argument("files", nargs="+", metavar="FILE.eml")

    knowledge = commands.add_parser("knowledge", help="check and draw the troubleshooting trees")
    knowledge_commands = knowledge.add_subparsers(dest="knowledge_command", metavar="ACTION")
    check = knowledge_commands.add_parser(
        "check",
        help="validate every tree and run its examples",
        description="Validate the trees in DIR (default: WHYMAIL_KNOWLEDGE or the shipped "
        "knowledge/) and run their examples. Prints file:line for each fault; exit 1 on any.",
    )
    check.add_argument("directory", nargs="?", metavar="DIR")
    preview = knowledge_commands.add_parser(
        "preview",
        help="show the answer one example gets, as a customer or agent reads it",
        description="Walk the trees with the facts of one example (its name, or a unique part "
        "of it) and print the answer's text in one language, for one audience. Lists the "
        "examples when none matches.",
    )
    preview.add_argument("example", metavar="EXAMPLE", help='e.g. "mailbox full"')
    preview.add_argument("--locale", choices=LOCALES, default="en")
    preview.add_argument("--audience", choices=("agent", "customer"), default="customer")
    preview.add_argument("--knowledge", metavar="DIR", help="default: the configured knowledge")
    graph = knowledge_commands.add_parser("graph", help="print a tree as a diagram")
    graph.add_argument("tree", metavar="TREE", help="tree id, e.g. delivery; all: every tree")
    graph.add_argument("--format", choices=("mermaid",), default="mermaid")
    graph.add_argument("--knowledge", metavar="DIR", help="default: the configured knowledge")

    serve = commands.add_parser(
        "serve",
        help="run the Slack bot (and the ESP webhook endpoint)",
        description="Run the Slack bot until Ctrl-C or SIGTERM. With SLACK_APP_TOKEN set it\n"
        "connects to Slack over Socket Mode (no public URL needed: good for a laptop);\n"
        "otherwise Slack reaches it over HTTP at /slack/events, as production and several\n"
        "instances behind a load balancer do. HTTP also serves the ESP webhooks.",
        epilog=_SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument(
        "--http",
        metavar="HOST:PORT",
        help="serve HTTP here: /slack/events, /webhooks/{provider}, /healthz, /metrics "
        "(default without SLACK_APP_TOKEN: 127.0.0.1:3000; with it: no HTTP unless given)",
    )
    serve.add_argument(
        "--demo", action="store_true", help="answer from the bundled demo data and DNS zones"
    )

    store = commands.add_parser("store", help="look after the evidence store (retention)")
    store_commands = store.add_subparsers(dest="store_command", metavar="ACTION")
    prune = store_commands.add_parser(
        "prune",
        help="delete events older than a given age",
        description="Delete delivery events older than AGE from the store named by "
        "WHYMAIL_STORE, and the dispatches created before then that have no newer event. "
        "Safe while `whymail serve` runs; on PostgreSQL whole months go at once.",
        epilog="AGE is a number and a unit: 90d (days), 12h (hours), 2w (weeks), 30m (minutes).\n"
        "Example, from a daily cron job: whymail store prune --older-than 90d",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    prune.add_argument(
        "--older-than", required=True, type=parse_age, metavar="AGE", help="e.g. 90d, 12h, 2w"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        # Run as the program: what is loaded by now (modules, tables, compiled patterns) lives
        # until the process ends. Frozen, the collector stops walking it again each time an
        # answer allocates: a third of a one-shot `ask`'s own time, and fewer pauses in
        # `serve`. A caller that passes argv owns its process, so its heap is left alone.
        gc.freeze()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.load()
        if args.command == "ask":
            return asyncio.run(_ask(args, settings))
        if args.command == "ingest":
            return asyncio.run(_ingest(args, settings))
        if args.command == "bounce":
            return _bounce(args, parser)
        if args.command == "knowledge":
            return _knowledge(args, settings, parser)
        if args.command == "store":
            return _store(args, settings, parser)
        if args.command == "serve":
            return asyncio.run(_serve(args, settings))
    except (CliError, ConfigError, StoreError, KnowledgeError, UnknownProvider) as exc:
        code = exc.code if isinstance(exc, CliError) else EXIT_FAIL
        print(f"whymail: {exc}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        print("whymail: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`); that is their choice, not our failure.
        sys.stderr.close()
        return EXIT_OK
    parser.print_help()
    return EXIT_USAGE


async def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from bot.web import parse_listen, serve

    try:
        listen = parse_listen(args.http) if args.http else None
    except ValueError as exc:
        raise CliError(f"--http: {exc}", EXIT_USAGE) from None
    try:
        # The trees reload while the bot runs; refused edits go to the Slack fault channel.
        async with running(settings, demo=args.demo, watch=True) as app:
            await serve(app, http=listen)
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    return EXIT_OK


async def _ask(args: argparse.Namespace, settings: Settings) -> int:
    text = " ".join(args.text)
    async with running(settings, demo=args.demo) as app:
        if args.demo and not text.strip():
            from bot.demo import DEMO_QUESTIONS

            return await _tour(app.diagnoser, DEMO_QUESTIONS, args)
        report = await app.diagnoser.ask(
            text, locale=args.locale, audience=args.audience, tenant=args.tenant
        )
    if report.empty:
        raise CliError(
            "nothing to look up: give an email address (ola@firma.no) or a dispatch id",
            EXIT_USAGE,
        )
    _print_report(report, as_json=args.json, out=sys.stdout)
    return EXIT_OK


async def _tour(diagnoser: Diagnoser, questions: Sequence[str], args: argparse.Namespace) -> int:
    for question in questions:
        report = await diagnoser.ask(question, locale=args.locale, audience=args.audience)
        if args.json:
            _print_report(report, as_json=True, out=sys.stdout)
            continue
        for d in report.diagnoses:
            print(f"{d.verdict:<28} {d.subject:<40} {d.answer.title}")
    if not args.json:
        print("\nSee one in full: whymail ask --demo ADDRESS   (add --json, --locale, --audience)")
    return EXIT_OK


def _print_report(report: Report, *, as_json: bool, out: TextIO) -> None:
    if report.query.truncated:
        print("whymail: the question was long; only its start was read", file=sys.stderr)
    if as_json:
        for d in report.diagnoses:
            out.write(json.dumps(d.to_json(), ensure_ascii=False) + "\n")
        return
    out.write("\n\n".join(render_diagnosis(d) for d in report.diagnoses) + "\n")


async def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    if args.provider not in NORMALIZERS:
        known = ", ".join(sorted(NORMALIZERS))
        raise CliError(f"unknown provider {args.provider!r}; choose one of: {known}", EXIT_USAGE)
    stream = _open_text(args.file)
    store = await open_store(settings.store)
    show = sys.stderr.isatty()

    def progress(report: IngestReport) -> None:
        if show:
            print(
                f"\r{report.lines} lines, {report.events_new} new events", end="", file=sys.stderr
            )

    try:
        with stream:
            report = await ingest_lines(
                store, args.provider, bounded_lines(stream), progress=progress
            )
    finally:
        await store.close()
    if show:
        print(file=sys.stderr)
    for error in report.errors[:50]:
        print(f"whymail: {args.file}: {error}", file=sys.stderr)
    if len(report.errors) > 50:
        print(f"whymail: … and {len(report.errors) - 50} more errors", file=sys.stderr)
    duplicates = report.events_seen - report.events_new
    print(
        f"{report.events_new} new events ({duplicates} already stored), "
        f"{report.dispatches} dispatches, {report.bad_lines} lines with errors"
    )
    return EXIT_FAIL if report.errors else EXIT_OK


def _open_text(name: str) -> TextIO:
    if name == "-":
        return sys.stdin
    try:
        return open(name, encoding="utf-8", errors="replace")  # the caller closes it
    except OSError as exc:
        raise CliError(f"cannot read {name}: {exc.strerror}") from None


def _bounce(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from bot.cli_bounce import classify_jsonl, parse_files_jsonl

    if args.bounce_command == "classify":
        with _open_text(args.file) as stream:
            return classify_jsonl(stream, sys.stdout, sys.stderr)
    if args.bounce_command == "parse":
        return parse_files_jsonl(args.files, sys.stdout, sys.stderr)
    parser.parse_args(["bounce", "--help"])
    return EXIT_USAGE


def _knowledge(
    args: argparse.Namespace, settings: Settings, parser: argparse.ArgumentParser
) -> int:
    if args.knowledge_command == "check":
        directory = Path(args.directory) if args.directory else settings.knowledge
        try:
            knowledge = Knowledge.load(directory)
        except KnowledgeError as exc:
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            print(f"whymail: {len(exc.problems)} problem(s) in {directory}", file=sys.stderr)
            return EXIT_FAIL
        for warning in knowledge.warnings:
            print(warning, file=sys.stderr)
        examples = sum(len(t.examples) for t in knowledge.trees)
        print(f"{len(knowledge.trees)} tree(s) OK, {examples} example(s) pass ({directory})")
        return EXIT_OK
    if args.knowledge_command == "preview":
        directory = Path(args.knowledge) if args.knowledge else settings.knowledge
        print(_preview(Knowledge.load(directory), args.example, args.locale, args.audience))
        return EXIT_OK
    if args.knowledge_command == "graph":
        from bot.trees.graph import mermaid, mermaid_all

        directory = Path(args.knowledge) if args.knowledge else settings.knowledge
        knowledge = Knowledge.load(directory)
        if args.tree == "all":
            print(mermaid_all(knowledge.trees))
            return EXIT_OK
        for tree in knowledge.trees:
            if tree.id == args.tree:
                print(mermaid(tree, knowledge.trees))
                return EXIT_OK
        names = ", ".join(t.id for t in knowledge.trees)
        raise CliError(f"no tree {args.tree!r}; trees: {names}", EXIT_USAGE)
    parser.parse_args(["knowledge", "--help"])
    return EXIT_USAGE


def _preview(knowledge: Knowledge, wanted: str, locale: str, audience: str) -> str:
    """One example's answer as plain text: what an editor checks after changing a sentence."""
    from bot.trees import render, render_question

    examples = [(tree, e) for tree in knowledge.trees for e in tree.examples]
    chosen = [(t, e) for t, e in examples if e.name == wanted] or [
        (t, e) for t, e in examples if wanted.lower() in e.name.lower()
    ]
    if len(chosen) != 1:
        names = "\n  ".join(f"{t.id}: {e.name}" for t, e in (chosen or examples))
        what = "several examples match" if chosen else "no example matches"
        raise CliError(f"{what} {wanted!r}; the examples:\n  {names}", EXIT_USAGE)
    ((tree, example),) = chosen
    walked = knowledge.walk_from(tree, example.facts)
    answer = render(walked.leaf, example.facts, locale=locale, audience=audience)
    lines = [
        f"# {example.name}: {walked.leaf.verdict} ({' > '.join(walked.path)})",
        "",
        answer.title,
        answer.summary,
        "",
        *(f"{n}. {step}" for n, step in enumerate(answer.steps, 1)),
    ]
    if walked.question is not None:
        question = render_question(walked.question, locale=locale)
        options = " / ".join(label for _, label in question.options)
        lines += ["", f"? {question.text} ({options})"]
    return "\n".join(lines)


_AGE_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    """`90d`, `12h`, `2w`, `30m` → a timedelta; argparse shows the message on a bad value."""
    value = text.strip().lower()
    number, unit = value[:-1], value[-1:]
    if unit not in _AGE_UNITS or not number.isdigit() or int(number) == 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an age: write a number and a unit, e.g. 90d, 12h, 2w or 30m"
        )
    return timedelta(**{_AGE_UNITS[unit]: int(number)})


def _store(args: argparse.Namespace, settings: Settings, parser: argparse.ArgumentParser) -> int:
    if args.store_command == "prune":
        return asyncio.run(_prune(args.older_than, settings))
    parser.parse_args(["store", "--help"])
    return EXIT_USAGE


async def _prune(older_than: timedelta, settings: Settings) -> int:
    cutoff = datetime.now(UTC) - older_than
    print(
        f"pruning events older than {cutoff:%Y-%m-%d %H:%M} UTC ({older_than} ago)…",
        file=sys.stderr,
    )
    started = time.monotonic()
    store = await open_store(settings.store)
    try:
        removed = await store.prune(older_than)
    finally:
        await store.close()
    print(
        f"removed {removed} events older than {cutoff:%Y-%m-%d %H:%M} UTC "
        f"in {time.monotonic() - started:.1f} s"
    )
    return EXIT_OK
