"""The HTTP face of `whymail serve`: one ASGI app for Slack, ESP webhooks, health and metrics.

Routes only translate HTTP to the code that does the work (Bolt's Starlette adapter, the
webhook receiver, the metrics registry); none of them decides anything. `serve()` runs it on
uvicorn, with Slack over HTTP or, when SLACK_APP_TOKEN is set, over Socket Mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot import jsonapi
from bot.asgi import capped_body
from bot.conversation import Conversation
from bot.metrics import RequestMetrics, render_metrics
from bot.sources.webhooks import WebhookReceiver
from bot.trees.status import KnowledgeSource, status

if TYPE_CHECKING:
    from bot.alerts import Alerter
    from bot.app import App
    from bot.slack.app import WhymailSlack

log = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass
class Parts:
    """What the ASGI app serves; any part may be missing and its routes then say so."""

    slack: WhymailSlack | None = None
    webhooks: WebhookReceiver | None = None
    knowledge: KnowledgeSource | None = None
    #: The JSON ask surface (`POST /api/ask`) and the bearer token it demands.
    ask: Conversation | None = None
    api_token: str | None = None


def build_asgi(parts: Parts) -> Starlette:
    routes = [
        Route("/slack/events", _slack_route(parts), methods=["POST"]),
        Route("/webhooks/{provider}", _webhook_route(parts), methods=["POST"]),
        Route("/api/ask", _ask_route(parts), methods=["POST"]),
        Route("/healthz", _health_route(parts), methods=["GET"]),
        # `GET /metrics` exactly (a mounted app would redirect it to `/metrics/`).
        Route("/metrics", _metrics, methods=["GET"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        if parts.slack is not None:
            await parts.slack.aclose()
        if parts.webhooks is not None:
            await parts.webhooks.aclose()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(RequestMetrics)
    return app


def _slack_route(parts: Parts) -> Endpoint:
    if parts.slack is None:

        async def no_slack(_: Request) -> Response:
            return JSONResponse({"error": "Slack is not configured (SLACK_BOT_TOKEN)"}, 503)

        return no_slack
    from bot.slack.http import slack_endpoint

    return slack_endpoint(parts.slack)


def _webhook_route(parts: Parts) -> Endpoint:
    async def webhook(request: Request) -> Response:
        receiver = parts.webhooks
        if receiver is None:
            return JSONResponse({"error": "webhooks are not served by this process"}, 503)
        limit = receiver.max_body_bytes
        body = await capped_body(request, limit)
        if body is None:
            return JSONResponse({"error": f"body larger than {limit} bytes"}, 413)
        result = await receiver.receive(
            request.path_params["provider"], dict(request.headers), body
        )
        return Response(result.body, result.status, headers=result.headers)

    return webhook


def _ask_route(parts: Parts) -> Endpoint:
    async def ask(request: Request) -> Response:
        try:
            jsonapi.authorize(request.headers.get("authorization"), parts.api_token)
            if parts.ask is None:
                raise jsonapi.ApiError(503, "the ask API is not served by this process")
            body = await capped_body(request, jsonapi.MAX_BODY_BYTES)
            if body is None:
                raise jsonapi.ApiError(413, f"body larger than {jsonapi.MAX_BODY_BYTES} bytes")
            answers = await jsonapi.ask(parts.ask, jsonapi.read_request(body))
        except jsonapi.ApiError as exc:
            return JSONResponse({"error": exc.message}, exc.status)
        return JSONResponse(answers)

    return ask


def _health_route(parts: Parts) -> Endpoint:
    async def health(_: Request) -> Response:
        report: dict[str, Any] = {"status": "ok"}
        if parts.knowledge is not None:
            report["knowledge"] = status(parts.knowledge)
            if report["knowledge"]["trees"] == 0:
                report["status"] = "no knowledge loaded"
                return JSONResponse(report, 503)
        return JSONResponse(report)

    return health


async def _metrics(_: Request) -> Response:
    body, content_type = render_metrics()
    return Response(body, headers={"Content-Type": content_type})


def parse_listen(text: str) -> tuple[str, int]:
    """`HOST:PORT`, `:PORT` or `PORT` → (host, port); IPv6 hosts in brackets."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not HOST:PORT")
    return host, int(port)


async def serve(app: App, *, http: tuple[str, int] | None) -> None:
    """Run until SIGINT/SIGTERM. Socket Mode when SLACK_APP_TOKEN is set, else HTTP."""
    import uvicorn

    settings = app.settings
    slack = _slack(app)
    socket_mode = slack is not None and bool(settings.slack.app_token)
    if http is None and not socket_mode:
        http = ("127.0.0.1", 3000)
    # Everything loaded so far (trees, templates, libraries) lives as long as the process; moving
    # it out of the collector's sight keeps full collections from pausing answers mid-burst.
    gc.collect()
    gc.freeze()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # uvicorn handles these while it runs and re-raises them after its graceful shutdown;
        # this handler turns that into a clean exit instead of death by signal.
        signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    tasks: list[asyncio.Task[None]] = []
    if socket_mode and slack is not None and settings.slack.app_token:
        from bot.slack.http import run_socket_mode

        tasks.append(asyncio.create_task(run_socket_mode(slack, settings.slack.app_token, stop)))
        log.info("Slack: Socket Mode")
    alerter = _alerter(app, slack)
    if http is not None:
        parts = Parts(
            slack=None if socket_mode else slack,
            webhooks=WebhookReceiver(
                app.store, settings.esp, on_commit=alerter.notify if alerter else None
            ),
            knowledge=app.knowledge,
            ask=app.conversation(),
            api_token=settings.api_token,
        )
        # No per-request access log: at webhook rates it costs more CPU than storing the event;
        # /metrics counts requests instead.
        config = uvicorn.Config(
            build_asgi(parts),
            host=http[0],
            port=http[1],
            lifespan="on",
            log_level="info",
            access_log=False,
        )
        server = uvicorn.Server(config)

        async def run_http() -> None:
            await server.serve()
            stop.set()

        tasks.append(asyncio.create_task(run_http()))
    await stop.wait()
    await asyncio.gather(*tasks, return_exceptions=True)
    if alerter is not None:
        await alerter.aclose()
    if slack is not None:
        await slack.aclose()


def _alerter(app: App, slack: WhymailSlack | None) -> Alerter | None:
    """Alerts, when Slack is configured and some channel asked for them; started here, fed by
    the webhook receiver after each commit (alerts come from webhooks, so only HTTP serves
    them)."""
    if slack is None:
        return None
    from bot.slack.alerts import slack_alerter

    alerter = slack_alerter(
        slack, app.store, app.diagnoser, known_verdicts=app.knowledge.current().verdicts
    )
    if alerter is not None:
        alerter.start()
        log.info("alerts: %d channels", len(alerter.policy.targets))
    return alerter


def _slack(app: App) -> WhymailSlack | None:
    """The Slack side over the app's parts (the one ESP client set, so a reactivation clears
    the cache the next diagnosis reads), or None when Slack is not configured."""
    settings = app.settings.slack
    if not settings.bot_token:
        log.warning("SLACK_BOT_TOKEN is not set: serving webhooks, health and metrics only")
        return None
    from bot.conversation import prefs_for
    from bot.slack.app import build_app
    from bot.slack.mrkdwn import escape as mrkdwn_escape

    if not settings.app_token and not settings.signing_secret:
        raise ValueError("HTTP mode needs SLACK_SIGNING_SECRET to verify Slack's requests")
    slack = build_app(
        settings,
        app.conversation(escape=mrkdwn_escape, prefs=prefs_for(app.store)),
        knowledge=app.knowledge,
        esp=app.esp if app.esp.clients else None,
    )
    app.faults.subscribe(slack.report_problems)
    return slack
