"""Measure alerts: signed bounce webhooks in at a steady rate, alerts out at a fake Slack.

Run from the repository root:

    python bench/alerts.py                          # 200 webhooks/s for 60 s, then a replay
    python bench/alerts.py --seconds 10             # a shorter run
    python bench/alerts.py --kill-restart           # SIGKILL the server halfway, restart it
    python bench/alerts.py --burst 100000           # every alert posted on its own, no digests
    python bench/alerts.py --store postgresql://postgres@127.0.0.1:5432/test

What runs where: `whymail serve --http` in its own process (uvicorn, the SQLite or PostgreSQL
store, alerts on: customer channels C_ACME (tenant acme, nb) and C_BETA (tenant beta, pt-BR)
each asking for `user_unknown`, the agents' channel C_ALERTS), bot.demo.dns serving
tests/zones on loopback in a second process; this one sends Postmark hard bounces signed with
Basic auth, half for tenant acme and half for beta, each to its own recipient and dispatch,
and holds the fake Slack Web API that records every post with its arrival time.

Figures printed:

- latency: from the webhook's 200 to the first Slack call (a post, or a digest post or edit)
  that names the recipient, per channel kind; a digest names its first 40 alerts and counts the
  rest, so with digests only the named ones are timed (`--burst 100000` times every alert);
- duplicates: after the run, the first `--replay` deliveries (default 2,000) are sent again;
  a duplicate is a recipient named in two different messages of one channel;
- wrong tenant: alerts naming a recipient of one tenant in the other tenant's channel;
- with `--kill-restart`, the server is SIGKILLed halfway; deliveries not acknowledged are sent
  again once it is back (as an ESP retries), and the duplicates figure covers the restart.

It asserts nothing; compare with the targets: latency p99 <= 2 s at 200 webhooks/s for 60 s,
0 duplicates, 0 alerts in another tenant's channel. Loopback only; every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import re
import signal
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

from testkit.dnsserver import serve_until_stdin_closes  # noqa: E402
from testkit.fakeslack import SECRET, FakeSlack, default_users  # noqa: E402
from testkit.servers import free_port, serve, stop_process  # noqa: E402

ZONES = ROOT / "tests" / "zones"
ACME, BETA, AGENTS = "C_ACME", "C_BETA", "C_ALERTS"
USER, PASSWORD = "bench-hook", "bench-secret"
AUTH = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
NAMED = re.compile(r"(acme|beta)-(\d+)@firma\.mailtest\.test")
#: How long the bench waits for the last alerts after the last webhook.
SETTLE_SECONDS = 20.0


def bounce(n: int, event: int = 0) -> tuple[str, bytes]:
    """Delivery `n`'s bounce; another `event` is another bounce event (a new id) of the same
    dispatch and recipient, which the store keeps as new and only the alert claims stop."""
    tenant = "acme" if n % 2 == 0 else "beta"
    to = f"{tenant}-{n}@firma.mailtest.test"
    body = {
        "RecordType": "Bounce",
        "ID": 1_000_000 * (event + 1) + n,
        "Type": "HardBounce",
        "TypeCode": 1,
        "Name": "Hard bounce",
        "MessageID": f"bench-{n}",
        "Metadata": {"dispatch_id": f"bench-{n}", "tenant": tenant},
        "MessageStream": "outbound",
        "Description": "The server was unable to deliver your message.",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": to,
        "From": "billing@acme.mailtest.test",
        "BouncedAt": "2026-12-01T08:00:05Z",
        "Inactive": True,
        "CanActivate": True,
        "Subject": f"Invoice {n}",
    }
    return to, json.dumps(body).encode()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def dns_child() -> None:
    serve_until_stdin_closes(ZONES)


@contextlib.contextmanager
def dns_server() -> Iterator[int]:
    child = subprocess.Popen(
        [sys.executable, __file__, "--dns-child"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert child.stdin is not None
    assert child.stdout is not None
    try:
        yield int(child.stdout.readline())
    finally:
        child.stdin.close()
        child.wait(5)


class Server:
    """`whymail serve --http` as a child process that can be SIGKILLed and started again."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spawn(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "bot", "serve", "--http", f"127.0.0.1:{self.port}"],
                env=self.env, cwd=ROOT, stdout=log, stderr=log,
            )  # fmt: skip

    async def start(self) -> None:
        self.proc = self.spawn()
        async with httpx.AsyncClient(timeout=2) as http:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise SystemExit(f"whymail serve exited; see {self.log}")
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"{self.url}/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise SystemExit("whymail serve did not come up within 60 s")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


class Sender:
    """Posts deliveries at a fixed rate and remembers when each was acknowledged.

    Raw keep-alive connections and request bytes built up front, as bench/slack.py does: with
    a full HTTP client, this process spent more CPU sending than the server spent storing.
    """

    def __init__(self, server: Server) -> None:
        self.server = server
        self.acked: dict[str, float] = {}
        self.unacked: set[int] = set()
        self.statuses: dict[int, int] = {}

    def request(self, body: bytes) -> bytes:
        head = (
            f"POST /webhooks/postmark HTTP/1.1\r\nHost: 127.0.0.1:{self.server.port}\r\n"
            f"Authorization: {AUTH}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    async def paced(
        self, numbers: list[int], rate: float, senders: int = 64, event: int = 0
    ) -> None:
        """Send `numbers` at `rate` per second from `senders` connections, each delivery at
        its slot (or at once when the senders fell behind). A fixed number of senders keeps
        the client's own work bounded if the server slows down: what is not sent in time is
        sent late, and shows in the achieved rate."""
        start = time.monotonic()
        queue = list(enumerate(numbers))
        queue.reverse()

        async def sender() -> None:
            connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
            while queue:
                i, n = queue.pop()
                to, body = bounce(n, event)
                request = self.request(body)
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                try:
                    if connection is None:
                        connection = await asyncio.open_connection("127.0.0.1", self.server.port)
                    status = await exchange(*connection, request)
                except (OSError, asyncio.IncompleteReadError):
                    connection = None
                    self.unacked.add(n)
                    continue
                self.statuses[status] = self.statuses.get(status, 0) + 1
                if status == 200:
                    self.acked.setdefault(to, time.monotonic())
                    self.unacked.discard(n)
                else:
                    self.unacked.add(n)
            if connection is not None:
                connection[1].close()

        await asyncio.gather(*(sender() for _ in range(senders)))
        took = time.monotonic() - start
        print(f"sent {len(numbers)} in {took:.1f} s ({len(numbers) / took:.0f}/s)")


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    """One request on a keep-alive connection; the response's status."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for header in head.split(b"\r\n"):
        name, _, value = header.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


def named_by_message(fake: FakeSlack) -> dict[tuple[str, str], list[tuple[float, str]]]:
    """(channel, recipient) → [(arrival, message ts)] for every Slack call naming it."""
    found: dict[tuple[str, str], list[tuple[float, str]]] = {}
    for call in fake.calls:
        if call.method not in ("chat.postMessage", "chat.update") or not call.answer.get("ok"):
            continue
        channel = str(call.body.get("channel"))
        ts = str(call.body.get("ts") or call.answer.get("ts"))
        text = json.dumps(call.body.get("blocks") or call.body.get("text"))
        for match in {m.group(0) for m in NAMED.finditer(text)}:
            found.setdefault((channel, match), []).append((call.at, ts))
    return found


def counted(fake: FakeSlack, channels: tuple[str, ...]) -> list[float]:
    """When each alert of `channels` reached Slack, in order: +1 at each alert posted alone,
    and a digest's count as each post or edit of it raised it. A digest names only its first
    alerts, so this is how every alert is timed, named or not."""
    arrivals: list[float] = []
    shown: dict[str, int] = {}
    for call in fake.calls:
        channel = str(call.body.get("channel"))
        if channel not in channels or not call.answer.get("ok"):
            continue
        if call.method not in ("chat.postMessage", "chat.update"):
            continue
        count = digest_count(_blocks(call.body))
        if count is None:
            arrivals.append(call.at)
            continue
        ts = str(call.body.get("ts") or call.answer.get("ts"))
        arrivals += [call.at] * max(0, count - shown.get(ts, 0))
        shown[ts] = max(shown.get(ts, 0), count)
    return arrivals


def digest_count(blocks: list[dict[str, object]]) -> int | None:
    """The count in a digest's header (":rotating_light: 12 …"); None for a single alert."""
    for block in blocks:
        text = block.get("text") if block.get("type") == "header" else None
        if isinstance(text, dict):
            match = re.match(r":rotating_light: (\d+) ", str(text.get("text")))
            if match:
                return int(match.group(1))
    return None


def report(fake: FakeSlack, sender: Sender, sent: int) -> None:
    for label, channels, tenants in (
        ("customer", (ACME, BETA), ("acme-", "beta-")),
        ("agents", (AGENTS,), ("acme-", "beta-")),
    ):
        acks = sorted(at for r, at in sender.acked.items() if r.startswith(tenants))
        arrivals = counted(fake, channels)
        latencies = [arrived - acked for acked, arrived in zip(acks, arrivals, strict=False)]
        missing = len(acks) - len(latencies)
        if latencies:
            print(
                f"latency {label:8}: p50 {percentile(latencies, 50) * 1000:7.0f} ms   "
                f"p99 {percentile(latencies, 99) * 1000:7.0f} ms   "
                f"max {max(latencies) * 1000:7.0f} ms   "
                f"({len(latencies)} alerts, {missing} never arrived)"
            )
        else:
            print(f"latency {label:8}: no alerts arrived ({missing} expected)")
    named = named_by_message(fake)
    duplicates = sum(len({ts for _, ts in arrivals}) > 1 for arrivals in named.values())
    wrong = sum(
        (channel == ACME and r.startswith("beta-")) or (channel == BETA and r.startswith("acme-"))
        for channel, r in named
    )
    posts = fake.called("chat.postMessage")
    updates = fake.called("chat.update")
    digests = sum(digest_count(_blocks(c.body)) is not None for c in posts)
    print(f"deliveries sent {sent}, acknowledged {len(sender.acked)}, statuses {sender.statuses}")
    print(
        f"Slack: {len(posts)} posts ({digests} digests), {len(updates)} digest edits, "
        f"{sum(1 for c in posts + updates if not c.answer.get('ok'))} refused"
    )
    print(f"duplicates (a recipient named in two messages of a channel): {duplicates}")
    print(f"alerts in another tenant's channel: {wrong}")


def _blocks(body: dict[str, object]) -> list[dict[str, object]]:
    blocks = body.get("blocks")
    found = json.loads(blocks) if isinstance(blocks, str) else blocks
    return found if isinstance(found, list) else []


async def main(args: argparse.Namespace) -> None:
    fake = FakeSlack(users=default_users())
    with tempfile.TemporaryDirectory() as tmp, dns_server() as dns_port:
        async with serve(fake.app()) as fake_url:
            fake.url = fake_url
            config = Path(tmp) / "whymail.yml"
            config.write_text(
                json.dumps(
                    {
                        "slack_channels": {
                            ACME: {"tenant": "acme", "locale": "nb", "alerts": ["user_unknown"]},
                            BETA: {"tenant": "beta", "locale": "pt-BR", "alerts": ["user_unknown"]},
                        }
                    }
                )
            )
            env = {k: v for k, v in os.environ.items() if not k.startswith(("WHYMAIL_", "SLACK_"))}
            env.update(
                WHYMAIL_STORE=args.store or str(Path(tmp) / "bench.sqlite3"),
                WHYMAIL_CONFIG=str(config),
                WHYMAIL_DNS_NAMESERVERS=f"127.0.0.1:{dns_port}",
                WHYMAIL_DNS_TIMEOUT="1",
                WHYMAIL_SLACK_ALERT_CHANNEL=AGENTS,
                WHYMAIL_ALERT_BURST=str(args.burst),
                SLACK_BOT_TOKEN="xoxb-test",
                SLACK_SIGNING_SECRET=SECRET,
                SLACK_API_URL=f"{fake_url}/api/",
                POSTMARK_WEBHOOK_USER=USER,
                POSTMARK_WEBHOOK_PASSWORD=PASSWORD,
            )
            server = Server(env, free_port(), Path(tmp) / "server.log")
            await server.start()
            total = int(args.rate * args.seconds)
            try:
                sender = Sender(server)
                print(
                    f"{args.rate:g} webhooks/s for {args.seconds:g} s ({total}), "
                    f"burst {args.burst}, store {'PostgreSQL' if args.store else 'SQLite'}"
                )
                numbers = list(range(total))
                if args.kill_restart:
                    half = total // 2
                    await sender.paced(numbers[:half], args.rate)
                    server.kill()
                    print(f"SIGKILL after {half} deliveries; restarting")
                    await server.start()
                    await sender.paced(sorted(sender.unacked) + numbers[half:], args.rate)
                else:
                    await sender.paced(numbers, args.rate)
                await settle(fake)
                report(fake, sender, total)
                replay = numbers[: min(args.replay, total)]
                if replay:
                    print(
                        f"-- replaying the first {len(replay)} deliveries, then new bounce "
                        "events (new ids) for the same dispatches and recipients"
                    )
                    before = len(fake.calls)
                    await sender.paced(replay, args.rate)
                    await sender.paced(replay, args.rate, event=1)
                    await settle(fake)
                    new_posts = [c for c in fake.calls[before:] if c.method == "chat.postMessage"]
                    print(f"posts after the replay: {len(new_posts)}")
                    report(fake, sender, total + 2 * len(replay))
                print(f"load average {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
            finally:
                server.stop()


async def settle(fake: FakeSlack) -> None:
    """Wait until no Slack call arrived for 3 s (at most SETTLE_SECONDS)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        last = fake.calls[-1].at if fake.calls else 0.0
        if time.monotonic() - last > 3:
            return
        await asyncio.sleep(0.2)


if __name__ == "__main__":
    if sys.argv[1:] == ["--dns-child"]:
        dns_child()
        raise SystemExit(0)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200, help="webhooks per second")
    parser.add_argument("--seconds", type=float, default=60, help="how long to send")
    parser.add_argument("--burst", type=int, default=5, help="WHYMAIL_ALERT_BURST")
    parser.add_argument("--replay", type=int, default=2000, help="deliveries sent again after")
    parser.add_argument("--kill-restart", action="store_true", help="SIGKILL halfway, restart")
    parser.add_argument("--store", help="a postgresql:// URL (default: a fresh SQLite file)")
    asyncio.run(main(parser.parse_args()))
