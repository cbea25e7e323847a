"""`whymail serve --http` as an operator runs it: a real process, Slack faked on loopback."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import httpx

from bot.config import shipped_knowledge
from testkit.fakeslack import (
    AGENT,
    INTERNAL,
    SECRET,
    FakeSlack,
    default_channels,
    default_users,
    form,
    signed_headers,
)
from testkit.servers import free_port, serve
from tests.conftest import ROOT


async def test_serve_answers_reports_knowledge_faults_and_stops_cleanly(tmp_path: Path) -> None:
    knowledge = tmp_path / "knowledge"
    shutil.copytree(shipped_knowledge(), knowledge)
    fake = FakeSlack(users=default_users(), channels=default_channels())
    async with serve(fake.app()) as fake_url:
        fake.url = fake_url
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WHYMAIL_", "SLACK_"))}
        env.update(
            SLACK_BOT_TOKEN="xoxb-test",
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=f"{fake_url}/api/",
            WHYMAIL_DNS_TIMEOUT="1",
            WHYMAIL_KNOWLEDGE=str(knowledge),
            WHYMAIL_SLACK_FAULT_CHANNEL="C_FAULTS",
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "serve", "--demo", "--http", f"127.0.0.1:{port}",
            cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(timeout=5) as http:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        if (await http.get(f"{url}/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    assert proc.returncode is None, await proc.stderr.read()  # type: ignore[union-attr]
                    assert time.monotonic() < deadline, "whymail serve did not come up"
                    await asyncio.sleep(0.1)
                body = form(
                    {
                        "command": "/whymail",
                        "text": "ola@firma.no",
                        "user_id": AGENT,
                        "channel_id": INTERNAL,
                        "team_id": "T_HOME",
                        "response_url": fake.response_url("serve"),
                        "trigger_id": "1.2.3",
                    }
                )
                headers = signed_headers(SECRET, body)
                headers["Content-Type"] = "application/x-www-form-urlencoded"
                ack = await http.post(f"{url}/slack/events", content=body, headers=headers)
                assert ack.status_code == 200
            (answer,) = await fake.wait_for("response_url", within=10)
            assert "user_unknown" in answer.body["blocks"][1]["elements"][0]["text"]

            # An editor breaks a tree: the bot keeps answering and tells the fault channel.
            tree = knowledge / "trees" / "delivery.yml"
            tree.write_text(tree.read_text("utf-8") + "\n  broken: [\n", "utf-8")
            (fault,) = await fake.wait_for("chat.postMessage", within=15)
            assert fault.body["channel"] == "C_FAULTS"
            assert "delivery.yml" in fault.body["text"]
            async with httpx.AsyncClient(timeout=5) as http:
                health = (await http.get(f"{url}/healthz")).json()
            assert health["knowledge"]["trees"] > 0
            assert "delivery.yml" in health["knowledge"]["last_error"]
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(proc.wait(), 20)
        assert code == 0, (await proc.stderr.read()).decode()  # type: ignore[union-attr]
