"""The demo's DNS server as tests and benchmarks need it: slowed down, or on a thread of its own.

Deadline and concurrency tests, and the latency benchmark, need a server that answers late
without answering one query after another; session-wide pytest fixtures need one that outlives
every test's event loop. Neither is anything the demo does, so neither is in ``bot.demo.dns``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Final

from bot.demo.dns import LocalDNSServer

__all__ = ["SlowDNSServer", "loopback_dns", "serve_in_thread"]

STOP_TIMEOUT: Final = 5.0


class SlowDNSServer(LocalDNSServer):
    """Every answer ``delay`` seconds late, without holding up the others.

    UDP queries each wait on their own, so N at once take one delay, not N. Queries pipelined on
    one TCP connection wait one after another; dnspython opens a connection per TCP query, so
    concurrent TCP queries still overlap.
    """

    def __init__(
        self, zone_dir: Path, *, delay: float, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        super().__init__(zone_dir, host=host, port=port)
        self.delay = delay

    def _answer_udp(self, wire: bytes, addr: tuple[str, int]) -> None:
        task = asyncio.get_running_loop().create_task(self._answer_udp_later(wire, addr))
        # In the server's task set, so stop() cancels answers still waiting.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer_udp_later(self, wire: bytes, addr: tuple[str, int]) -> None:
        await asyncio.sleep(self.delay)
        super()._answer_udp(wire, addr)

    async def _answer_tcp(self, wire: bytes, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(self.delay)
        await super()._answer_tcp(wire, writer)


def loopback_dns(zone_dir: Path, *, delay: float = 0.0, port: int = 0) -> LocalDNSServer:
    """The demo's server, or the slow one when ``delay`` is set."""
    if delay > 0:
        return SlowDNSServer(zone_dir, delay=delay, port=port)
    return LocalDNSServer(zone_dir, port=port)


@contextmanager
def serve_in_thread(zone_dir: Path, *, delay: float = 0.0) -> Iterator[tuple[str, int]]:
    """Run a server on its own event loop in a daemon thread; yields its (host, port).

    Session-wide pytest fixtures and synchronous benchmarks have no event loop that lives as long
    as the server must, and pytest-asyncio gives each test its own loop.
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="localdns", daemon=True)
    thread.start()
    server = loopback_dns(zone_dir, delay=delay)
    try:
        address = asyncio.run_coroutine_threadsafe(server.start(), loop).result(STOP_TIMEOUT)
        yield address
    finally:
        with suppress(concurrent.futures.TimeoutError, RuntimeError):
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(STOP_TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(STOP_TIMEOUT)
        if not thread.is_alive():
            loop.close()


def serve_until_stdin_closes(zones: Path) -> None:
    """Serve `zones` on a loopback port, print the port, and stop when stdin closes: the body
    of a DNS child process, which the benches give a core of its own so its replies never
    queue behind their load."""

    async def run() -> None:
        async with LocalDNSServer(zones) as server:
            print(server.port, flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

    asyncio.run(run())
