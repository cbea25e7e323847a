"""Measure the Slack bot under a burst of concurrent slash commands, as Slack would send them.

Run from the repository root:

    python bench/slack.py                  # 50 concurrent commands, 3 measured rounds
    python bench/slack.py -n 200 --rounds 5
    python bench/slack.py -n 40 --pastes 20    # 20 of the 40 paste a 40,000-character bounce

What runs where: `whymail serve --http` in its own process (the app as deployed: uvicorn,
Bolt, SQLite store with the e2e delivery data, a private copy of the knowledge so edits in the
working tree cannot trigger a reload mid-run), bot.demo.dns answering DNS on loopback in a
second process; this one holds the fake Slack Web API (testkit/fakeslack.py) and sends signed
slash commands to the app over raw keep-alive connections, N at once, each with its own
`response_url` on the fake. The app's /metrics give the mean time per diagnosis stage.

What it prints, per round and over all measured rounds (a warm-up round is not counted):

- ack: time from sending the command to the app's HTTP 200 (Slack's limit is 3 s);
- answer: time from sending the command to the answer arriving at its `response_url`;
- delivered: answers received out of commands sent (each answer must arrive exactly once).

It asserts nothing; compare with the targets: ack p99 < 100 ms, every answer delivered,
time-to-answer p99 < 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
# bench/dns.py would shadow dnspython: run with the repository root first instead of bench/.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from bot.config import shipped_knowledge  # noqa: E402
from bot.sources.ingest import ingest_lines  # noqa: E402
from bot.sources.store import open_store  # noqa: E402
from testkit.dnsserver import serve_until_stdin_closes  # noqa: E402
from testkit.fakeslack import (  # noqa: E402
    AGENT,
    INTERNAL,
    SECRET,
    FakeSlack,
    default_channels,
    default_users,
    form,
    signed_headers,
)
from testkit.servers import free_port, serve  # noqa: E402

# The end-to-end tests' delivery data and zones: the bench asks what those tests ask.
E2E = ROOT / "tests" / "data" / "e2e"
ZONES = ROOT / "tests" / "zones"

ADDRESSES = (
    "ola@firma.mailtest.test",
    "per@firma.mailtest.test",
    "kari@outlook.mailtest.test",
    "ingrid@firma.mailtest.test",
    "bjorn@firma.mailtest.test",
    "joao@uol.mailtest.test",
    "t-7",
    "lars@doesnotexist.mailtest.test",
    "post@nullmx.mailtest.test",
    "nobody@firma.mailtest.test",
)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


class Connection:
    """One keep-alive HTTP/1.1 connection, as a Slack edge server holds one.

    A raw socket and pre-built request bytes keep the client's own cost out of the figures:
    with a full HTTP client, preparing 50 requests in one process takes longer than the
    server needs to acknowledge them.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        return cls(*await asyncio.open_connection(host, port))

    async def send(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for header in head.split(b"\r\n"):
            name, _, value = header.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


def slash_command(host: str, port: int, fake: FakeSlack, rid: str, text: str) -> bytes:
    body = form(
        {
            "team_id": "T_HOME",
            "channel_id": INTERNAL,
            "user_id": AGENT,
            "command": "/whymail",
            "text": text,
            "response_url": fake.response_url(rid),
            "trigger_id": f"{rid}.1.1",
        }
    )
    headers = signed_headers(SECRET, body)
    lines = [
        "POST /slack/events HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/x-www-form-urlencoded",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# A pasted bounce as big as a Slack message gets: 40,000 characters, a failed address a line.
PASTE = (
    "Delivery has failed to these recipients:\n"
    + "".join(f"<user{i}@firma.no>: 550 5.1.1 User unknown\n" for i in range(1000))[:40_000]
)


async def one_round(
    connections: list[Connection],
    host: str,
    port: int,
    fake: FakeSlack,
    tag: str,
    pastes: int = 0,
) -> tuple[list[float], list[float], int]:
    """The first `pastes` commands carry PASTE; the acks reported are the other commands'."""
    n = len(connections)
    texts = [PASTE if i < pastes else ADDRESSES[i % len(ADDRESSES)] for i in range(n)]
    requests = {
        f"{tag}-{i}": slash_command(host, port, fake, f"{tag}-{i}", texts[i]) for i in range(n)
    }
    pasted = {f"{tag}-{i}" for i in range(pastes)}
    sent: dict[str, float] = {}
    acks: list[float] = []

    async def command(connection: Connection, rid: str) -> None:
        started = time.monotonic()
        sent[rid] = started
        status = await connection.send(requests[rid])
        if rid not in pasted:
            acks.append(time.monotonic() - started)
        if status != 200:
            print(f"  command {rid}: HTTP {status}", file=sys.stderr)

    await asyncio.gather(*(command(c, rid) for c, rid in zip(connections, requests, strict=True)))
    deadline = time.monotonic() + 10
    arrived = []
    while time.monotonic() < deadline:
        arrived = [c for c in fake.called("response_url") if c.path.rsplit("/", 1)[1] in sent]
        if len(arrived) >= n:
            break
        await asyncio.sleep(0.005)
    answers = [c.at - sent[c.path.rsplit("/", 1)[1]] for c in arrived]
    return acks, answers, len({c.path for c in arrived})


def line(label: str, values: list[float]) -> str:
    if not values:
        return f"{label}: no samples"
    return (
        f"{label}: p50 {statistics.median(values) * 1000:7.1f} ms   "
        f"p99 {percentile(values, 99) * 1000:7.1f} ms   max {max(values) * 1000:7.1f} ms"
    )


def dns_child() -> None:
    """The child process: serve tests/zones on loopback, print the port, run until stdin ends.

    DNS gets its own process (and core) so its replies never queue behind this process's
    fake Slack and client under the burst, which would add resolver timeouts to the figures.
    """

    serve_until_stdin_closes(ZONES)


@contextlib.contextmanager
def dns_server() -> Iterator[tuple[str, int]]:
    child = subprocess.Popen(
        [sys.executable, __file__, "--dns-child"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert child.stdin is not None
    assert child.stdout is not None
    try:
        yield "127.0.0.1", int(child.stdout.readline())
    finally:
        child.stdin.close()
        child.wait(5)


async def main(args: argparse.Namespace) -> None:
    fake = FakeSlack(users=default_users(), channels=default_channels())
    with tempfile.TemporaryDirectory() as tmp, dns_server() as dns:
        async with serve(fake.app()) as fake_url:
            fake.url = fake_url
            port = free_port()
            knowledge = Path(tmp) / "knowledge"
            shutil.copytree(shipped_knowledge(), knowledge)
            env = {k: v for k, v in os.environ.items() if not k.startswith(("WHYMAIL_", "SLACK_"))}
            env.update(
                WHYMAIL_STORE=str(Path(tmp) / "bench.sqlite3"),
                WHYMAIL_DNS_NAMESERVERS=f"{dns[0]}:{dns[1]}",
                WHYMAIL_DNS_TIMEOUT="1",
                WHYMAIL_KNOWLEDGE=str(knowledge),
                SLACK_BOT_TOKEN="xoxb-test",
                SLACK_SIGNING_SECRET=SECRET,
                SLACK_API_URL=f"{fake_url}/api/",
            )
            store = await open_store(env["WHYMAIL_STORE"])
            for provider, name in (("whymail", "records.jsonl"), ("postmark", "postmark.jsonl")):
                await ingest_lines(store, provider, (E2E / name).read_text("utf-8").splitlines())
            await store.close()
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "serve", "--http", f"127.0.0.1:{port}",
                env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            url = f"http://127.0.0.1:{port}"
            connections: list[Connection] = []
            try:
                async with httpx.AsyncClient(timeout=30) as http:
                    await wait_until_up(http, url)
                connections = [await Connection.open("127.0.0.1", port) for _ in range(args.n)]
                print(f"whymail serve on {url}; {args.n} concurrent slash commands per round")
                await one_round(connections, "127.0.0.1", port, fake, "warmup")
                all_acks: list[float] = []
                all_answers: list[float] = []
                delivered = 0
                for r in range(args.rounds):
                    await asyncio.sleep(0.5)
                    acks, answers, got = await one_round(
                        connections, "127.0.0.1", port, fake, f"r{r}", args.pastes
                    )
                    all_acks += acks
                    all_answers += answers
                    delivered += got
                    print(f"round {r + 1}: {line('ack', acks)}")
                    print(f"         {line('answer', answers)}   delivered {got}/{args.n}")
                total = args.n * args.rounds
                paths = [c.path for c in fake.called("response_url")]
                failed = sum(
                    "went wrong" in str(c.body.get("text")) for c in fake.called("response_url")
                )
                print(f"all:     {line('ack', all_acks)}")
                print(f"         {line('answer', all_answers)}")
                print(
                    f"         delivered {delivered}/{total}, "
                    f"duplicate answers {len(paths) - len(set(paths))}, "
                    f"answers that report an error {failed}"
                )
                print(f"         load average {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
                async with httpx.AsyncClient(timeout=10) as http:
                    print(stages((await http.get(f"{url}/metrics")).text))
            finally:
                for connection in connections:
                    connection.close()
                proc.terminate()
                await proc.wait()


def stages(metrics: str) -> str:
    """Mean time per diagnosis stage and DNS timeouts, from the app's own /metrics."""
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    timeouts = 0.0
    for row in metrics.splitlines():
        if row.startswith("whymail_diagnosis_stage_seconds_sum"):
            sums[row.split('"')[1]] = float(row.rsplit(" ", 1)[1])
        elif row.startswith("whymail_diagnosis_stage_seconds_count"):
            counts[row.split('"')[1]] = float(row.rsplit(" ", 1)[1])
        elif row.startswith("whymail_dns_timeouts_total"):
            timeouts = float(row.rsplit(" ", 1)[1])
    means = ", ".join(
        f"{name} {sums[name] / counts[name] * 1000:.1f} ms" for name in sums if counts.get(name)
    )
    return f"         server, mean per stage: {means or 'no samples'}; DNS timeouts {timeouts:g}"


async def wait_until_up(http: httpx.AsyncClient, url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if (await http.get(f"{url}/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit("whymail serve did not come up within 60 s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=50, help="concurrent commands per round")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds (default 3)")
    parser.add_argument(
        "--pastes",
        type=int,
        default=0,
        help="of each round's commands, this many paste a 40,000-character bounce; acks are "
        "then the other commands' (how much pastes delay everyone else)",
    )
    parser.add_argument("--dns-child", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.dns_child:
        dns_child()
    else:
        asyncio.run(main(options))
