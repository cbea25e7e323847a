"""What an operator graphs and alerts on, in Prometheus format at `GET /metrics`.

Every family is declared here, once, so the names stay stable and documented in one place;
the modules that do the work only call the small helpers below. All labels have a small, fixed
set of values (route templates, not raw paths; provider names; stage names), so a misbehaving
client can never blow up the number of series.

Families:

- `whymail_http_requests_total{route,method,status}` and
  `whymail_http_request_duration_seconds{route}`: every HTTP request, by route template
  (`/webhooks/{provider}`, not `/webhooks/postmark`); `RequestMetrics` records them.
- `whymail_diagnosis_stage_seconds{stage}`: time in each stage of a diagnosis: `store` (our
  own lookups), `esp_api` (asking an ESP), `dns` (the recipient-domain checks) and `tree`
  (walking the knowledge and rendering the answer). `whymail_diagnoses_total{verdict}` counts
  answers.
- `whymail_webhook_deliveries_total{provider,outcome}`: each webhook request an ESP made, with
  the outcome in `WEBHOOK_OUTCOMES`.
- `whymail_dns_timeouts_total`: DNS queries that timed out (their findings were inconclusive).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Histogram,
    generate_latest,
    make_asgi_app,
)

__all__ = [
    "DIAGNOSES",
    "DIAGNOSIS_STAGE_SECONDS",
    "DNS_TIMEOUTS",
    "HTTP_REQUESTS",
    "HTTP_REQUEST_SECONDS",
    "STAGES",
    "WEBHOOK_DELIVERIES",
    "WEBHOOK_OUTCOMES",
    "RequestMetrics",
    "metrics_app",
    "render_metrics",
    "stage",
    "timed",
    "webhook_delivery",
]

P = ParamSpec("P")
R = TypeVar("R")

#: The stages of a diagnosis that `whymail_diagnosis_stage_seconds` tells apart.
STAGES = ("store", "esp_api", "dns", "tree")

#: How a webhook delivery ended; the receiver reports exactly one per request.
#: stored: new events stored (2xx); duplicate: every event was already stored (2xx);
#: unauthorized: signature or credentials missing, wrong or stale (401/403);
#: invalid: authentic but not a payload we can read (4xx); error: we failed to store it (5xx,
#: the ESP will retry).
WEBHOOK_OUTCOMES = ("stored", "duplicate", "unauthorized", "invalid", "error")

# Buckets from a cached index probe (a millisecond) to the DNS deadline (seconds).
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

HTTP_REQUESTS = Counter(
    "whymail_http_requests",
    "HTTP requests served, by route template, method and status code.",
    ["route", "method", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "whymail_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template.",
    ["route"],
    buckets=_LATENCY_BUCKETS,
)
DIAGNOSIS_STAGE_SECONDS = Histogram(
    "whymail_diagnosis_stage_seconds",
    "Time spent in one stage of a diagnosis (store, esp_api, dns, tree).",
    ["stage"],
    buckets=_LATENCY_BUCKETS,
)
DIAGNOSES = Counter("whymail_diagnoses", "Diagnoses answered, by verdict.", ["verdict"])
WEBHOOK_DELIVERIES = Counter(
    "whymail_webhook_deliveries",
    "Webhook requests from ESPs, by provider and outcome "
    "(stored, duplicate, unauthorized, invalid, error).",
    ["provider", "outcome"],
)
ALERT_OUTCOMES = ("posted", "digested", "duplicate", "dropped", "failed")
ALERTS = Counter(
    "whymail_alerts",
    "Alerts by outcome: posted alone, listed in a digest, already sent (duplicate), dropped "
    "because the queue was full, or failed to post after retries.",
    ["outcome"],
)
DNS_TIMEOUTS = Counter(
    "whymail_dns_timeouts",
    "DNS queries that got no answer in time; their findings were reported as inconclusive.",
)

for _stage in STAGES:
    DIAGNOSIS_STAGE_SECONDS.labels(_stage)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time the block as diagnosis stage `name` (wall time: awaits inside it count)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        DIAGNOSIS_STAGE_SECONDS.labels(name).observe(time.perf_counter() - started)


def timed(
    name: str,
) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], Callable[P, Coroutine[Any, Any, R]]]:
    """Decorate a coroutine function so each call is timed as diagnosis stage `name`."""

    def decorate(func: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        @functools.wraps(func)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with stage(name):
                return await func(*args, **kwargs)

        return wrapper

    return decorate


def webhook_delivery(provider: str, outcome: str) -> None:
    """Count one webhook request; `outcome` is one of WEBHOOK_OUTCOMES."""
    if outcome not in WEBHOOK_OUTCOMES:
        raise ValueError(f"unknown webhook outcome {outcome!r}; use one of {WEBHOOK_OUTCOMES}")
    WEBHOOK_DELIVERIES.labels(provider, outcome).inc()


def alert(outcome: str) -> None:
    ALERTS.labels(outcome).inc()


def render_metrics() -> tuple[bytes, str]:
    """The exposition text and its content type, for a handler that serves `/metrics` itself."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def metrics_app() -> Callable[..., Awaitable[None]]:
    """An ASGI app serving the metrics, to mount at `/metrics`."""
    app: Callable[..., Awaitable[None]] = make_asgi_app(REGISTRY)
    return app


Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RequestMetrics:
    """ASGI middleware counting and timing every HTTP request by its route template.

    The template comes from the route Starlette matched (`scope["route"].path`); a request that
    matched nothing is labelled `unmatched`, so random paths from scanners stay one series.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            HTTP_REQUESTS.labels(route, scope.get("method", ""), str(status)).inc()
            HTTP_REQUEST_SECONDS.labels(route).observe(time.perf_counter() - started)
