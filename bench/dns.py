"""Measure whymail's DNS check bundle: latency, throughput, the dependent-chain target, and
checkdmarc on the same domains.

Run from the repository root:

    python bench/dns.py                    # everything, about a minute on 2 cores
    python bench/dns.py --delay 0.05       # the delay section with 50 ms per answer (default)
    python bench/dns.py --delay 0          # skip the delay section
    python bench/dns.py --diagnoses 2000 --concurrency 32   # a longer throughput run

One "diagnosis" is the full bundle for one address, exactly what `whymail ask` runs
(bot.checks.run_checks): the recipient domain (MX, then A and AAAA of both MX hosts), the sender
domain (SPF with a nested include, the ESP's include, DKIM selector, DMARC plus its
organisational-domain fallback, asked only when the domain has no record of its own), and 2
sending IPs on 2 blocklists: 15 queries here.

The server is the demo's, bot.demo.dns, in a child process (its own core), serving a generated
zone of `--domains` recipient domains (testkit's slow variant of it for the delay section);
every figure below is measured against it in the same run.

What it prints, and how each figure is computed:

- latency: diagnoses one after another, the resolver cache off so every query goes to the
  server; median and p99 of the wall time per diagnosis.
- throughput: `--diagnoses` diagnoses, `--concurrency` at a time, cache off: diagnoses/s and
  the DNS queries/s they made; against dnspython's raw rate: the very same queries (recorded
  during a first, discarded pass that also warms the server's reply cache) through a bare
  `dns.asyncresolver.Resolver` (no cache, 64 in flight). The two are measured in alternating
  chunks of `--chunk` diagnoses (`--rounds` passes), so a neighbour's load spike hits both
  alike; each rate is total queries over total time; the ratio ours/raw (target >= 80 %: the
  checks' own cost is small beside dnspython's per-message cost, see ../shared/reference/dns.md
  section 3).
- checkdmarc (the peer; `pip install checkdmarc`, not a project dependency: the bench says so
  and carries on without it): the same recipient and sender domains, one diagnosis after
  another, each tool with its cache on and cold at the start; median per diagnosis and the
  ratio. checkdmarc checks less (no DKIM, no blocklists) but more per domain (SOA, NS, PTR of
  every MX address, DNSSEC, MTA-STS, BIMI), and runs its queries one after another.
- delay: a second server adds `--delay` seconds to every answer. Each bundle's wall time is
  compared with 1.2 x (longest chain of queries that must wait on one another x delay). The chain
  is measured by the DNS client (bot.checks.dns counts how many lookups each task awaited in a
  row) and checked against the zone's design (3: SPF TXT → include → nested include). The same
  3 lookups asked alone, one after another, are timed in between: the floor on this machine.

It asserts nothing; it prints figures and PASS/MISS against the targets. `uptime` load is
printed before and after, because the machine may be shared.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# This file is named like dnspython's package: take its folder off the path before importing it
# (hence the imports below the path edit).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import dns.asyncresolver  # noqa: E402
import dns.exception  # noqa: E402
import dns.nameserver  # noqa: E402
import dns.resolver  # noqa: E402

from bot.checks import ChecksConfig, DNSClient, Lookup, run_checks  # noqa: E402
from testkit.dnsserver import loopback_dns  # noqa: E402

ZONE = "bench.test"
SENDER = f"sender.{ZONE}"
DESIGNED_CHAIN = 3  # SPF: sender TXT → _spf.sender TXT → _net.sender TXT
RAW_IN_FLIGHT = 64
CONFIG = ChecksConfig(
    esp_spf_includes=(f"spf.esp.{ZONE}",),
    esp_signing_domain=SENDER,
    dkim_selectors=("s1",),
    sending_ips=("192.0.2.10", "192.0.2.11"),
    dnsbl_zones=(f"zen.{ZONE}", f"bl.{ZONE}"),
)


def write_zone(directory: Path, domains: int) -> None:
    lines = [
        f"$ORIGIN {ZONE}.",
        "$TTL 300",
        f"@ SOA ns1.test. hostmaster.{ZONE}. 1 3600 600 86400 300",
        "@ NS ns1.test.",
        'sender TXT "v=spf1 include:_spf.sender.bench.test include:spf.esp.bench.test ~all"',
        '_spf.sender TXT "v=spf1 include:_net.sender.bench.test -all"',
        '_net.sender TXT "v=spf1 ip4:198.51.100.0/24 -all"',
        'spf.esp TXT "v=spf1 ip4:192.0.2.0/24 -all"',
        '_dmarc.sender TXT "v=DMARC1; p=reject; adkim=r"',
        's1._domainkey.sender TXT "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQ"',
        "10.2.0.192.zen A 127.0.0.2",
    ]
    for i in range(domains):
        lines += [
            f"d{i} MX 10 mx1.d{i}.{ZONE}.",
            f"d{i} MX 20 mx2.d{i}.{ZONE}.",
            f"mx1.d{i} A 192.0.2.{i % 250 + 1}",
            f"mx2.d{i} A 198.51.100.{i % 250 + 1}",
            f"mx2.d{i} AAAA 2001:db8::{i:x}",
        ]
    (directory / f"{ZONE}.zone").write_text("\n".join(lines) + "\n")


def serve(zone_dir: str, delay: float) -> None:
    """The child process: serve, print the port, run until the parent closes stdin."""

    async def main() -> None:
        async with loopback_dns(Path(zone_dir), delay=delay) as server:
            print(server.port, flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

    asyncio.run(main())


class Server:
    def __init__(self, zone_dir: Path, delay: float) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(zone_dir), "--delay", str(delay)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        self.port = int(self._proc.stdout.readline())

    def close(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        try:
            self._proc.wait(5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


class RecordingClient(DNSClient):
    """Remembers every question, so dnspython alone can be asked exactly the same ones."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.asked: list[tuple[str, str]] = []

    async def lookup(self, name: str, rdtype: str) -> Lookup:
        self.asked.append((name, rdtype))
        return await super().lookup(name, rdtype)


async def diagnose(client: DNSClient, domain: str) -> None:
    await run_checks(
        client, CONFIG, recipient_domains=[domain], sender_domains=[SENDER], deadline=10.0
    )


def pct(values: Sequence[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


async def latency(port: int, domains: list[str]) -> list[float]:
    client = DNSClient([("127.0.0.1", port)], timeout=2.0, cache=False)
    times = []
    for domain in domains:
        started = time.perf_counter()
        await diagnose(client, domain)
        times.append(time.perf_counter() - started)
    return times


async def throughput(port: int, domains: list[str], concurrency: int) -> tuple[float, float, Any]:
    client = RecordingClient([("127.0.0.1", port)], timeout=2.0, cache=False)
    queue = list(reversed(domains))

    async def worker() -> None:
        while queue:
            await diagnose(client, queue.pop())

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return len(domains) / elapsed, len(client.asked) / elapsed, client.asked


async def raw_rate(port: int, questions: list[tuple[str, str]]) -> float:
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", port)]
    resolver.cache = None
    resolver.timeout, resolver.lifetime = 1.0, 2.0
    queue = list(reversed(questions))

    async def worker() -> None:
        while queue:
            name, rdtype = queue.pop()
            with contextlib.suppress(dns.exception.DNSException):
                await resolver.resolve(name, rdtype, search=False)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(RAW_IN_FLIGHT)))
    return len(questions) / (time.perf_counter() - started)


async def ours_cached(port: int, domains: list[str]) -> list[float]:
    client = DNSClient([("127.0.0.1", port)], timeout=2.0, cache=True)
    times = []
    for domain in domains:
        started = time.perf_counter()
        await diagnose(client, domain)
        times.append(time.perf_counter() - started)
    return times


def checkdmarc_times(port: int, domains: list[str]) -> list[float] | None:
    try:
        import warnings

        import checkdmarc  # type: ignore[import-untyped]
    except ImportError:
        return None
    warnings.simplefilter("ignore", DeprecationWarning)
    nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", port)]
    times = []
    for domain in domains:
        started = time.perf_counter()
        checkdmarc.check_domains([domain, SENDER], nameservers=nameservers, timeout=2.0)
        times.append(time.perf_counter() - started)
    return times


#: The bundle's longest chain, asked alone: the floor a bundle cannot beat on this machine now.
CHAIN = [SENDER, f"_spf.{SENDER}", f"_net.{SENDER}"]


async def delayed(
    port: int, domains: list[str], delay: float
) -> tuple[list[float], int, list[float]]:
    client = DNSClient([("127.0.0.1", port)], timeout=max(1.0, delay * 4), cache=False)
    times, bare = [], []
    chain = 0
    for domain in domains:
        client.reset_stats()
        started = time.perf_counter()
        await diagnose(client, domain)
        times.append(time.perf_counter() - started)
        chain = max(chain, client.longest_chain)
        started = time.perf_counter()
        for name in CHAIN:
            await client.lookup(name, "TXT")
        bare.append(time.perf_counter() - started)
    return times, chain, bare


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} ({os.cpu_count()} CPUs)"


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The module docstring as written (it explains every figure), and each option's default."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python bench/dns.py", description=__doc__, formatter_class=_HelpFormatter
    )
    parser.add_argument("--domains", type=int, default=2000, help="recipient domains in the zone")
    parser.add_argument("--latency", type=int, default=300, help="diagnoses for latency")
    parser.add_argument("--diagnoses", type=int, default=1000, help="diagnoses for throughput")
    parser.add_argument("--concurrency", type=int, default=16, help="diagnoses at a time")
    parser.add_argument("--rounds", type=int, default=2, help="throughput passes")
    parser.add_argument("--chunk", type=int, default=100, help="diagnoses per alternating chunk")
    parser.add_argument("--peer", type=int, default=100, help="diagnoses for the checkdmarc run")
    parser.add_argument(
        "--delay", type=float, default=0.05, help="seconds added to every answer (0: skip)"
    )
    parser.add_argument("--bundles", type=int, default=40, help="bundles in the delay section")
    parser.add_argument("--serve", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.delay)
        return 0

    print(f"before: {load()}")
    need = max(args.latency, args.diagnoses, args.peer, args.bundles) * 2
    domains = [f"d{i}.{ZONE}" for i in range(max(args.domains, need))]
    with tempfile.TemporaryDirectory() as tmp:
        write_zone(Path(tmp), len(domains))
        server = Server(Path(tmp), 0.0)
        try:
            run_plain(server.port, domains, args)
        finally:
            server.close()
        if args.delay > 0:
            slow = Server(Path(tmp), args.delay)
            try:
                run_delay(slow.port, domains, args)
            finally:
                slow.close()
    print(f"after: {load()}")
    return 0


def run_plain(port: int, domains: list[str], args: argparse.Namespace) -> None:
    asyncio.run(latency(port, domains[:20]))  # warm up imports, sockets and the server's cache
    times = asyncio.run(latency(port, domains[: args.latency]))
    print(
        f"latency, one diagnosis (cache off, n={len(times)}): "
        f"median {ms(statistics.median(times))}, p99 {ms(pct(times, 99))}"
    )
    # A first pass records each chunk's questions and fills the server's reply cache (which
    # raw would otherwise enjoy alone); then ours and raw alternate chunk by chunk, so load
    # from elsewhere on a shared machine falls on both alike.
    batch = domains[: args.diagnoses]
    chunks = [batch[i : i + args.chunk] for i in range(0, len(batch), args.chunk)]
    questions = [asyncio.run(throughput(port, c, args.concurrency))[2] for c in chunks]
    ours_time = raw_time = 0.0
    ours_queries = raw_queries = diagnoses = 0
    for _round in range(args.rounds):
        for chunk, asked in zip(chunks, questions, strict=True):
            per_s, qps, seen = asyncio.run(throughput(port, chunk, args.concurrency))
            ours_time += len(chunk) / per_s
            ours_queries += len(seen)
            diagnoses += len(chunk)
            raw_queries += len(asked)
            raw_time += len(asked) / asyncio.run(raw_rate(port, asked))
    per_s, qps = diagnoses / ours_time, ours_queries / ours_time
    raw = raw_queries / raw_time
    print(
        f"throughput ({diagnoses} diagnoses, {args.concurrency} at a time, cache off, "
        f"{ours_queries / diagnoses:.0f} queries each): {per_s:.0f} diagnoses/s = "
        f"{qps:.0f} queries/s"
    )
    verdict = "PASS" if qps >= 0.8 * raw else "MISS"
    print(
        f"dnspython raw, the same {raw_queries} queries, {RAW_IN_FLIGHT} in flight: {raw:.0f} "
        f"queries/s; ours/raw = {qps / raw:.0%} (target >= 80 %: {verdict})"
    )
    peer_domains = domains[-args.peer :]
    ours = asyncio.run(ours_cached(port, peer_domains))
    theirs = checkdmarc_times(port, peer_domains)
    ours_median = statistics.median(ours)
    print(
        f"whymail, {len(ours)} diagnoses one after another, cache on: "
        f"median {ms(ours_median)}, p99 {ms(pct(ours, 99))}, {len(ours) / sum(ours):.0f}/s"
    )
    if theirs is None:
        print("checkdmarc: not installed (pip install checkdmarc), comparison skipped")
        return
    theirs_median = statistics.median(theirs)
    print(
        f"checkdmarc, the same domains, cache on: median {ms(theirs_median)}, "
        f"p99 {ms(pct(theirs, 99))}, {len(theirs) / sum(theirs):.0f}/s; "
        f"checkdmarc/whymail = {theirs_median / ours_median:.1f}x "
        f"({'PASS' if theirs_median > ours_median else 'MISS'}: faster than checkdmarc)"
    )


def run_delay(port: int, domains: list[str], args: argparse.Namespace) -> None:
    times, chain, bare = asyncio.run(delayed(port, domains[: args.bundles], args.delay))
    budget = 1.2 * chain * args.delay
    worst = max(times)
    print(
        f"delay {ms(args.delay)} per answer, {len(times)} bundles: "
        f"median {ms(statistics.median(times))}, p99 {ms(pct(times, 99))}, max {ms(worst)}; "
        f"longest chain {chain} "
        f"(zone design: {DESIGNED_CHAIN}); chain x delay = {ms(chain * args.delay)}; "
        f"target 1.2 x chain x delay = {ms(budget)}: "
        f"{'PASS' if statistics.median(times) <= budget else 'MISS'} (median), "
        f"{'PASS' if worst <= budget else 'MISS'} (max)"
    )
    print(
        f"  the same chain of {len(CHAIN)} lookups asked alone, in between: median "
        f"{ms(statistics.median(bare))} (the floor here and now: delay plus this machine's "
        f"per-query overhead under its current load)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
