"""Loopback servers for tests and benchmarks: free ports and an ASGI app on uvicorn.

The fake Slack, the fake ESPs and whymail's own routes are all served the way production serves
them (uvicorn on a real socket), in the caller's event loop, so one helper starts them all.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn

__all__ = ["free_port", "free_udp_and_tcp_port", "serve", "stop_process"]

HOST = "127.0.0.1"
_PORT_ATTEMPTS = 50


def free_port(host: str = HOST) -> int:
    """A TCP port nothing listens on now, for a server started in another process.

    The kernel may hand it out again before that process binds it; on an otherwise quiet
    loopback that race is rare enough for tests and benchmarks.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def free_udp_and_tcp_port(host: str = HOST) -> int:
    """A port free for both UDP and TCP, as a DNS server in another process needs both."""
    for _attempt in range(_PORT_ATTEMPTS):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port: int = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((host, port))
                except OSError:
                    continue
                return port
    raise OSError(f"no port free for both UDP and TCP on {host}")


@asynccontextmanager
async def serve(
    app: Any, *, certfile: Path | None = None, keyfile: Path | None = None
) -> AsyncIterator[str]:
    """Serve an ASGI app on 127.0.0.1 and a free port, in this event loop; yields its base URL.

    Lifespan events run, so an app's shutdown hooks do as in production. With ``certfile`` and
    ``keyfile`` it speaks TLS (the URL is https), as SNS certificate downloads must. Keep-alive
    outlasts a test's pauses, and shutdown waits at most a second for open connections.
    """
    config = uvicorn.Config(
        app,
        host=HOST,
        port=0,
        log_level="warning",
        lifespan="on",
        ssl_certfile=str(certfile) if certfile else None,
        ssl_keyfile=str(keyfile) if keyfile else None,
        timeout_graceful_shutdown=1,
        timeout_keep_alive=30,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.005)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"{'https' if certfile else 'http'}://{HOST}:{port}"
    finally:
        server.should_exit = True
        await task


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """Ask a server process to stop as an operator would (SIGTERM), and kill it only if it
    has not stopped within `timeout` seconds."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
