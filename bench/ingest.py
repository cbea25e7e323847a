"""Webhook ingest throughput and durability: deliveries/s accepted, then a store count.

Run from the repository root:

    python bench/ingest.py                          # 10 s burst, 64 connections
    python bench/ingest.py --seconds 20 --connections 128 --dup-rate 0.2
    python bench/ingest.py --kill-restart           # SIGKILL the server mid-burst, restart it

What it does:

- Starts the server on a fresh temporary SQLite store: `whymail serve --http 127.0.0.1:PORT`
  when this checkout has `bot/web.py` (the real server), otherwise this file's own minimal
  Starlette app around `WebhookReceiver` under uvicorn (`--server-only`, same receiver, same
  group-commit writer); the output says which. `--server app` forces the latter.
- Fires signed webhook deliveries over keep-alive HTTP/1.1 connections for `--seconds`: half
  Postmark (Basic auth, a bounce with a unique `ID`), half Mailgun (HMAC-signed, unique
  `event-data.id`). With probability `--dup-rate` a connection re-sends a delivery that was
  already acknowledged (byte for byte, as an ESP retry would).
- A delivery that gets no 2xx (connection reset, 5xx) is retried, as ESPs do, until acknowledged.
- With `--kill-restart`, halfway through it SIGKILLs the server and starts it again on the same
  store; the connections reconnect and retry what was not acknowledged.
- Then it stops the server and reads the store: every acknowledged delivery must be there
  (lost = acknowledged but not stored), and there must be exactly one row per distinct delivery
  (duplicated = rows beyond the distinct deliveries sent).

Figures printed: requests/s and deliveries/s accepted (2xx) during the burst, unique deliveries
acknowledged, duplicates sent, retries, stored rows, lost, duplicated, plus the server's group
commit figures when it reports them. It asserts nothing; it exits 1 if anything was lost or
duplicated.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Not bench/ itself (Python puts the script's folder first): bench/dns.py would shadow dnspython.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from testkit.servers import stop_process  # noqa: E402

PM_USER, PM_PASSWORD = "bench", "bench-secret"
MG_KEY = "bench-signing-key"


# ---------------------------------------------------------------- the fallback server


def serve_app(host: str, port: int) -> None:
    """The minimal ASGI app: `POST /webhooks/{provider}` → WebhookReceiver, nothing else."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from bot.app import running
    from bot.config import Settings
    from bot.sources.webhooks import WebhookReceiver

    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        settings = Settings.load()
        async with running(settings) as whymail:
            state["receiver"] = WebhookReceiver(whymail.store, settings.esp)
            yield
            await state["receiver"].aclose()

    async def webhook(request: Request) -> Response:
        body = await request.body()
        result = await state["receiver"].receive(
            request.path_params["provider"], request.headers, body
        )
        return Response(result.body, result.status, headers=result.headers)

    async def stats(request: Request) -> Response:
        s = state["receiver"].writer.stats
        return JSONResponse(
            {"batches": s.batches, "events": s.events, "largest_batch": s.largest_batch}
        )

    app = Starlette(
        routes=[
            Route("/webhooks/{provider}", webhook, methods=["POST"]),
            Route("/bench/stats", stats),
        ],
        lifespan=lifespan,
    )
    http = os.environ.get("WHYMAIL_BENCH_HTTP", "auto")  # auto: httptools when installed
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, http=http)


# ---------------------------------------------------------------- deliveries


@dataclass
class Delivery:
    key: str  # the dedupe key the store will hold
    path: str
    headers: bytes
    body: bytes


def postmark_delivery(n: int) -> Delivery:
    body = json.dumps(
        {
            "RecordType": "Bounce",
            "ID": n,
            "Type": "HardBounce",
            "TypeCode": 1,
            "MessageID": f"pm-{n}",
            "Metadata": {"dispatch_id": f"d-{n}", "tenant": "bench"},
            "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
            "Email": f"user{n}@example.com",
            "BouncedAt": "2026-11-20T08:00:07.1234567Z",
            "Inactive": True,
            "CanActivate": True,
        }
    ).encode()
    auth = base64.b64encode(f"{PM_USER}:{PM_PASSWORD}".encode()).decode()
    return Delivery(f"postmark:Bounce:{n}", "/webhooks/postmark", _headers(auth, body), body)


def mailgun_delivery(n: int) -> Delivery:
    stamp = str(int(time.time()))
    token = hashlib.sha256(f"token{n}{random.random()}".encode()).hexdigest()[:50]
    signature = hmac.new(MG_KEY.encode(), f"{stamp}{token}".encode(), hashlib.sha256).hexdigest()
    when = 1795000000.0 + n
    body = json.dumps(
        {
            "signature": {"timestamp": stamp, "token": token, "signature": signature},
            "event-data": {
                "event": "delivered",
                "id": f"mg-{n}",
                "timestamp": when,
                "recipient": f"user{n}@example.com",
                "user-variables": {"dispatch_id": f"d-{n}", "tenant": "bench"},
                "message": {"headers": {"message-id": f"{n}@mg.example"}},
                "delivery-status": {"code": 250, "message": "OK", "mx-host": "mx.example.com"},
            },
        }
    ).encode()
    return Delivery(f"mailgun:mg-{n}:{when:.6f}", "/webhooks/mailgun", _headers(None, body), body)


def _headers(basic: str | None, body: bytes) -> bytes:
    lines = ["Host: bench", "Content-Type: application/json", f"Content-Length: {len(body)}"]
    if basic:
        lines.append(f"Authorization: Basic {basic}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# ---------------------------------------------------------------- the load


@dataclass
class Tally:
    accepted: int = 0  # 2xx responses during the burst (duplicates included)
    acked: set[str] = field(default_factory=set)
    sent_keys: set[str] = field(default_factory=set)
    duplicates: int = 0
    retries: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)


class Load:
    def __init__(self, port: int, dup_rate: float, seconds: float) -> None:
        self.port = port
        self.dup_rate = dup_rate
        self.deadline = time.monotonic() + seconds
        self.tally = Tally()
        self.next_id = 0
        self.acked_list: list[Delivery] = []

    def make(self) -> Delivery:
        if self.acked_list and random.random() < self.dup_rate:
            self.tally.duplicates += 1
            return random.choice(self.acked_list)
        self.next_id += 1
        n = self.next_id
        delivery = postmark_delivery(n) if n % 2 else mailgun_delivery(n)
        self.tally.sent_keys.add(delivery.key)
        return delivery

    async def connection(self) -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        pending: Delivery | None = None
        while time.monotonic() < self.deadline or pending is not None:
            if pending is None:
                pending = self.make()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                assert reader is not None
                writer.write(b"POST " + pending.path.encode() + b" HTTP/1.1\r\n")
                writer.write(pending.headers + pending.body)
                status = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                name = type(exc).__name__
                self.tally.errors[name] = self.tally.errors.get(name, 0) + 1
                self.tally.retries += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                await asyncio.sleep(0.05)
                if time.monotonic() > self.deadline + 30:
                    return
                continue
            self.tally.statuses[status] = self.tally.statuses.get(status, 0) + 1
            if 200 <= status < 300:
                if time.monotonic() < self.deadline:
                    self.tally.accepted += 1
                if pending.key not in self.tally.acked:
                    self.tally.acked.add(pending.key)
                    self.acked_list.append(pending)
                pending = None
            else:
                self.tally.retries += 1
                await asyncio.sleep(0.01)
        if writer is not None:
            writer.close()


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


# ---------------------------------------------------------------- the server process


class Server:
    def __init__(self, store: Path, port: int, kind: str) -> None:
        self.port = port
        self.kind = kind
        self.env: dict[str, str] = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("WHYMAIL_", "SLACK_"))},
            "WHYMAIL_STORE": str(store),
            "POSTMARK_WEBHOOK_USER": PM_USER,
            "POSTMARK_WEBHOOK_PASSWORD": PM_PASSWORD,
            "MAILGUN_WEBHOOK_SIGNING_KEY": MG_KEY,
            "PYTHONPATH": str(ROOT),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.cpu_before_kill = 0.0
        self.log = store.parent / "server.log"

    def command(self) -> list[str]:
        address = f"127.0.0.1:{self.port}"
        if self.kind == "serve":
            return [sys.executable, "-m", "bot", "serve", "--http", address]
        return [sys.executable, __file__, "--server-only", address]

    def start(self) -> None:
        with self.log.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                self.command(), env=self.env, cwd=ROOT, stdout=log, stderr=log
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited with {self.proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("server did not start listening within 30 s")

    def cpu_seconds(self) -> float:
        """User + system CPU the server process has used so far (Linux /proc)."""
        assert self.proc is not None
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kill(self) -> None:
        assert self.proc is not None
        self.cpu_before_kill = self.cpu_seconds()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        assert self.proc is not None
        stop_process(self.proc)


def _free_port() -> int:
    """A free port below Linux's ephemeral range (32768+): while the server is down, a client
    reconnecting to an ephemeral port can connect to itself (TCP simultaneous open)."""
    for _ in range(200):
        port = random.randint(20_000, 32_000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit("no free port found")


def _server_kind(forced: str | None) -> str:
    if forced:
        return forced
    if not (ROOT / "bot" / "web.py").exists():
        return "app"
    help_text = subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    ).stdout
    return "serve" if "--http" in help_text else "app"


async def _stats(port: int) -> dict[str, Any] | None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /bench/stats HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        data = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        head, _, body = data.partition(b"\r\n\r\n")
        if b" 200 " not in head.split(b"\r\n")[0]:
            return None
        result: dict[str, Any] = json.loads(body)
        return result
    except (OSError, ValueError, TimeoutError):
        return None


async def run(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="whymail-bench-"))
    store = workdir / "bench.sqlite3"
    port = _free_port()
    server = Server(store, port, _server_kind(args.server))
    print(f"server: {' '.join(server.command()[1:])}  ({server.kind})")
    print(f"store:  {store}  (server output: {server.log})")
    server.start()
    server_cpu_at_start = server.cpu_seconds()
    client_cpu_at_start = time.process_time()
    load = Load(port, args.dup_rate, args.seconds)
    started = time.monotonic()
    tasks = [asyncio.create_task(load.connection()) for _ in range(args.connections)]
    killed_at = None
    if args.kill_restart:
        await asyncio.sleep(args.seconds / 2)
        acked_before = len(load.tally.acked)
        server.kill()
        killed_at = time.monotonic() - started
        print(f"SIGKILL at {killed_at:.1f} s with {acked_before} unique deliveries acknowledged")
        await asyncio.to_thread(server.start)
        print(f"restarted after {time.monotonic() - started - killed_at:.2f} s")
    await asyncio.gather(*tasks)
    elapsed = min(time.monotonic() - started, args.seconds)
    client_cpu = time.process_time() - client_cpu_at_start
    server_cpu = server.cpu_seconds() + server.cpu_before_kill - server_cpu_at_start
    stats = await _stats(port)
    server.stop()

    db = sqlite3.connect(store)
    stored_keys = {row[0] for row in db.execute("SELECT dedupe_key FROM events")}
    rows = db.execute("SELECT count(*) FROM events").fetchone()[0]
    db.close()
    t = load.tally
    lost = t.acked - stored_keys
    duplicated = rows - len(stored_keys & t.sent_keys)
    foreign = stored_keys - t.sent_keys
    print(
        f"load:   {os.getloadavg()[0]:.2f} (1-min average, after the run), {os.cpu_count()} cores"
    )
    print(f"burst:  {args.seconds:g} s, {args.connections} connections, dup rate {args.dup_rate}")
    print(f"accepted: {t.accepted} deliveries (2xx) = {t.accepted / elapsed:,.0f}/s")
    requests = sum(t.statuses.values())
    print(
        f"cpu:    server {server_cpu:.1f} s = {1000 * server_cpu / max(requests, 1):.3f} ms per "
        f"request ({requests / max(server_cpu, 1e-9):,.0f} requests per server-CPU-second); "
        f"client {client_cpu:.1f} s"
    )
    print(f"unique deliveries sent {len(t.sent_keys)}, acknowledged {len(t.acked)}")
    print(f"duplicates sent {t.duplicates}, retries {t.retries}, statuses {t.statuses}")
    if t.errors:
        print(f"connection errors {t.errors}")
    if stats:
        print(
            f"group commit: {stats['batches']} commits for {stats['events']} events, "
            f"{stats['events'] / max(stats['batches'], 1):.1f} per commit on average, "
            f"largest {stats['largest_batch']} (since the last start)"
        )
    print(f"stored rows {rows}: lost {len(lost)}, duplicated {duplicated}, unknown {len(foreign)}")
    if killed_at is not None:
        print(f"kill-restart: every acknowledged delivery stored: {not lost}")
    return 1 if lost or duplicated or foreign else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--dup-rate", type=float, default=0.1)
    parser.add_argument("--kill-restart", action="store_true")
    parser.add_argument("--server", choices=["serve", "app"], help="force the server kind")
    parser.add_argument("--server-only", metavar="HOST:PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.server_only:
        host, _, port = args.server_only.rpartition(":")
        serve_app(host, int(port))
        return 0
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
