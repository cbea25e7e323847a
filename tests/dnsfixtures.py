"""Real DNS servers on loopback for the test suite.

whymail's verdicts depend on what a resolver sees on the wire (answer, NODATA, NXDOMAIN,
SERVFAIL, REFUSED, timeout), so tests query real servers instead of mocking dnspython. Every test
that takes ``dns_server`` runs twice: against ``bot.demo.dns`` (what the offline demo uses) and
against Knot (the reference authoritative server), which keeps the two honest with each other.

tests/conftest.py imports these names; a test module must not import them itself, or pytest
would start a second copy of each session-wide server.
"""

from __future__ import annotations

import os
import selectors
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.zone
import pytest

from testkit.dnsserver import serve_in_thread
from testkit.servers import free_udp_and_tcp_port

__all__ = [
    "KNOTD_MISSING",
    "ZONE_DIR",
    "DNSServer",
    "blackhole",
    "dns_server",
    "find_knotd",
    "knot_server",
    "localdns_server",
    "run_knot",
    "slow_dns_server",
]

ZONE_DIR = Path(__file__).resolve().parent / "zones"
KNOTD_MISSING = "knotd not installed: apt-get install knot"
# Debian installs knotd in /usr/sbin, which is not on a non-root user's PATH.
_KNOTD_DIRS = ("/usr/sbin", "/usr/local/sbin")
_KNOT_READY_TIMEOUT = 10.0
_KNOT_STOP_TIMEOUT = 5.0
_SLOW_DELAY = 0.2


@dataclass(frozen=True)
class DNSServer:
    """Where a test's resolver should send its queries."""

    host: str
    port: int
    kind: str

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def nameservers(self) -> list[str]:
        """The value for WHYMAIL_DNS_NAMESERVERS (comma-joined), e.g. ``["127.0.0.1:53530"]``."""
        return [self.address]


def find_knotd() -> str | None:
    return shutil.which("knotd", path=os.pathsep.join([os.environ.get("PATH", ""), *_KNOTD_DIRS]))


def _knotd_or_skip() -> str:
    knotd = find_knotd()
    if knotd is None:
        if os.environ.get("CI"):
            pytest.fail(f"{KNOTD_MISSING} (CI must test against Knot, not skip it)")
        pytest.skip(KNOTD_MISSING)
    return knotd


def _knot_conf(zone_dir: Path, workdir: Path, host: str, port: int) -> str:
    zones = "".join(
        f'  - domain: "{path.name.removesuffix(".zone")}"\n'
        for path in sorted(zone_dir.glob("*.zone"))
    )
    # zonefile-sync -1 and journal-content none: Knot never writes into the repository.
    return f"""\
server:
    rundir: "{workdir / "run"}"
    listen: {host}@{port}
database:
    storage: "{workdir / "db"}"
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: "{zone_dir}"
    file: "%s.zone"
    zonefile-sync: -1
    journal-content: none
zone:
{zones}"""


def _loadable_zones(zone_dir: Path) -> list[str]:
    """Zones Knot will serve once loaded; the rest SERVFAIL from the start, loaded or not."""
    names = []
    for path in sorted(zone_dir.glob("*.zone")):
        name = path.name.removesuffix(".zone")
        try:
            dns.zone.from_file(str(path), origin=name, relativize=False)
        except Exception:  # the parse failures Knot also refuses to load
            continue
        names.append(name)
    return names


def _soa_rcode(zone: str, host: str, port: int) -> dns.rcode.Rcode | None:
    try:
        reply = dns.query.udp(dns.message.make_query(zone, "SOA"), host, port=port, timeout=0.05)
    except (dns.exception.Timeout, OSError):
        return None
    return reply.rcode()


def _fail_start(log: Path, why: str) -> NoReturn:
    pytest.fail(f"knotd {why}; its log:\n{log.read_text(errors='replace')[-4000:]}")


@contextmanager
def run_knot(zone_dir: Path, workdir: Path, *, host: str = "127.0.0.1") -> Iterator[DNSServer]:
    """Knot serving every ``*.zone`` file of ``zone_dir``, ready once each good zone answers.

    Knot loads zones in the background after it starts listening, so the first zone to answer
    says nothing about the others.
    """
    knotd = _knotd_or_skip()
    (workdir / "run").mkdir(parents=True, exist_ok=True)
    port = free_udp_and_tcp_port(host)
    conf = workdir / "knot.conf"
    conf.write_text(_knot_conf(zone_dir, workdir, host, port))
    log = workdir / "knotd.log"
    waiting = _loadable_zones(zone_dir)
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            [knotd, "-c", str(conf)], stdout=log_file, stderr=subprocess.STDOUT, cwd=workdir
        )
    try:
        deadline = time.monotonic() + _KNOT_READY_TIMEOUT
        while waiting:
            if proc.poll() is not None:
                _fail_start(log, f"exited with status {proc.returncode}")
            if time.monotonic() > deadline:
                _fail_start(log, f"not ready after {_KNOT_READY_TIMEOUT} s: {waiting} not loaded")
            if _soa_rcode(waiting[-1], host, port) == dns.rcode.NOERROR:
                waiting.pop()
            else:
                time.sleep(0.005)
        yield DNSServer(host, port, "knot")
    finally:
        proc.terminate()
        try:
            proc.wait(_KNOT_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def localdns_server() -> Iterator[DNSServer]:
    """bot.demo.dns serving tests/zones, for tests that need only one server."""
    with serve_in_thread(ZONE_DIR) as (host, port):
        yield DNSServer(host, port, "localdns")


@pytest.fixture(scope="session")
def knot_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DNSServer]:
    """Knot serving tests/zones; skipped without knotd, except under CI where that fails."""
    with run_knot(ZONE_DIR, tmp_path_factory.mktemp("knot")) as server:
        yield server


@pytest.fixture(
    scope="session",
    params=["localdns", pytest.param("knot", marks=pytest.mark.knot)],
)
def dns_server(request: pytest.FixtureRequest) -> DNSServer:
    """Each test that takes it runs once per server, so both must answer alike."""
    server: DNSServer = request.getfixturevalue(f"{request.param}_server")
    return server


@pytest.fixture(scope="session")
def slow_dns_server() -> Iterator[DNSServer]:
    """bot.demo.dns answering every query 0.2 s late, for deadline and concurrency tests."""
    with serve_in_thread(ZONE_DIR, delay=_SLOW_DELAY) as (host, port):
        yield DNSServer(host, port, "localdns")


@pytest.fixture(scope="session")
def blackhole() -> Iterator[str]:
    """``"127.0.0.1:<port>"`` of a server that takes queries and never answers.

    A closed port gives the same LifetimeTimeout on loopback, but only after ICMP handling that
    varies by kernel; a silent listener makes timeout tests deterministic, over TCP too.
    """
    with ExitStack() as stack:
        udp, tcp = stack.enter_context(_silent_sockets("127.0.0.1"))
        stop = threading.Event()
        thread = threading.Thread(target=_swallow, args=(udp, tcp, stop), daemon=True)
        thread.start()
        stack.callback(thread.join, 2.0)
        stack.callback(stop.set)
        yield f"127.0.0.1:{udp.getsockname()[1]}"


@contextmanager
def _silent_sockets(host: str) -> Iterator[tuple[socket.socket, socket.socket]]:
    for _attempt in range(50):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind((host, 0))
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            tcp.bind((host, udp.getsockname()[1]))
        except OSError:
            udp.close()
            tcp.close()
            continue
        tcp.listen(128)
        try:
            yield udp, tcp
        finally:
            udp.close()
            tcp.close()
        return
    raise OSError(f"no port free for both UDP and TCP on {host}")


def _swallow(udp: socket.socket, tcp: socket.socket, stop: threading.Event) -> None:
    """Read and drop everything, so neither socket fills its buffers and starts refusing."""
    connections: list[socket.socket] = []
    with selectors.DefaultSelector() as selector:
        selector.register(udp, selectors.EVENT_READ)
        selector.register(tcp, selectors.EVENT_READ)
        while not stop.is_set():
            for key, _events in selector.select(timeout=0.05):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is tcp:
                    with suppress(OSError):
                        connection, _peer = tcp.accept()
                        connections.append(connection)
                        selector.register(connection, selectors.EVENT_READ)
                    continue
                try:
                    data = sock.recv(65535)
                except OSError:
                    data = b""
                if not data and sock is not udp:  # the client hung up
                    selector.unregister(sock)
                    connections.remove(sock)
                    sock.close()
    for connection in connections:
        connection.close()
