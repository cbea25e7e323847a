"""Socket Mode: the same app over Slack's WebSocket protocol, against a loopback stand-in.

Slack hands out a WebSocket URL from `apps.connections.open` (called with the app-level
token); requests arrive as envelopes and the app acknowledges each by its `envelope_id`, with
the ack's payload in place of an HTTP response body.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from testkit.fakeslack import AGENT, INTERNAL
from tests.fakeslack import World, slack_world


async def test_slash_command_over_socket_mode(tmp_path: Path, localdns_server: Any) -> None:
    from bot.slack.http import run_socket_mode

    connected = asyncio.Event()
    acks: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sockets: list[web.WebSocketResponse] = []

    async def websocket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1})
        connected.set()
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await acks.put(json.loads(message.data))
        return ws

    app = web.Application()
    app.router.add_get("/link", websocket)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with slack_world(tmp_path, localdns_server.host, localdns_server.port) as w:
            await _run(w, port, connected, acks, sockets, run_socket_mode)
    finally:
        await runner.cleanup()


async def _run(
    w: World,
    port: int,
    connected: asyncio.Event,
    acks: asyncio.Queue[dict[str, Any]],
    sockets: list[web.WebSocketResponse],
    run_socket_mode: Any,
) -> None:
    w.fake.socket_url = f"ws://127.0.0.1:{port}/link"
    stop = asyncio.Event()
    task = asyncio.create_task(run_socket_mode(w.bot, "xapp-1-test", stop))
    await asyncio.wait_for(connected.wait(), 10)
    (opened,) = w.fake.called("apps.connections.open")
    assert opened.headers["authorization"] == "Bearer xapp-1-test"
    envelope = {
        "envelope_id": "env-1",
        "type": "slash_commands",
        "accepts_response_payload": True,
        "payload": {
            "team_id": "T_HOME",
            "channel_id": INTERNAL,
            "user_id": AGENT,
            "command": "/whymail",
            "text": "ola@firma.mailtest.test",
            "response_url": w.fake.response_url("sm"),
            "trigger_id": "1.2.3",
        },
    }
    await sockets[0].send_json(envelope)
    ack = await asyncio.wait_for(acks.get(), 5)
    assert ack["envelope_id"] == "env-1"
    assert "Looking up" in json.dumps(ack.get("payload"))
    (answer,) = await w.fake.wait_for("response_url")
    assert "user_unknown" in json.dumps(answer.body["blocks"])
    stop.set()
    await asyncio.wait_for(task, 10)
