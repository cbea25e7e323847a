"""`/metrics`: the families an operator relies on are there after real work, in Prometheus text."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

from bot.checks import DNSClient
from bot.checks.dns import parse_nameservers
from bot.config import shipped_knowledge
from bot.diagnose import Diagnoser
from bot.metrics import (
    RequestMetrics,
    metrics_app,
    render_metrics,
    webhook_delivery,
)
from bot.model import DeliveryEvent, EventType
from bot.sources.store import Store
from bot.trees import Knowledge


def samples() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    body, content_type = render_metrics()
    assert content_type.startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(name: str, **labels: str) -> float:
    return samples().get((name, frozenset(labels.items())), 0.0)


async def test_a_diagnosis_shows_up_by_stage(store: Store, localdns_server: Any) -> None:
    await store.add_events(
        [
            DeliveryEvent(
                "postmark",
                EventType.BOUNCED,
                datetime(2026, 11, 20, 8, tzinfo=UTC),
                "ola@firma.mailtest.test",
                smtp_code=550,
                diagnostic="550 5.1.1 user unknown",
            )
        ]
    )
    knowledge = Knowledge.load(shipped_knowledge())
    dns = DNSClient(parse_nameservers(localdns_server.address), timeout=1)
    before = {s: value("whymail_diagnosis_stage_seconds_count", stage=s) for s in ("store", "dns")}
    trees_before = value("whymail_diagnosis_stage_seconds_count", stage="tree")
    report = await Diagnoser(store, dns, lambda: knowledge).ask("ola@firma.mailtest.test")
    [diagnosis] = report.diagnoses
    for stage, count in before.items():
        assert value("whymail_diagnosis_stage_seconds_count", stage=stage) > count, stage
    assert value("whymail_diagnosis_stage_seconds_count", stage="tree") == trees_before + 1
    assert value("whymail_diagnoses_total", verdict=diagnosis.verdict) >= 1
    # Stages that did not run yet are exported as zero, so dashboards have the series at once.
    assert ("whymail_diagnosis_stage_seconds_count", frozenset({("stage", "esp_api")})) in (
        samples()
    )


async def test_dns_timeouts_are_counted(blackhole: str) -> None:
    before = value("whymail_dns_timeouts_total")
    dns = DNSClient(parse_nameservers(blackhole), timeout=0.2, cache=False)
    lookup = await dns.lookup("firma.mailtest.test", "MX")
    assert not lookup.conclusive
    assert value("whymail_dns_timeouts_total") == before + 1


def test_webhook_deliveries_by_provider_and_outcome() -> None:
    before = value("whymail_webhook_deliveries_total", provider="mailgun", outcome="duplicate")
    webhook_delivery("mailgun", "duplicate")
    after = value("whymail_webhook_deliveries_total", provider="mailgun", outcome="duplicate")
    assert after == before + 1
    with pytest.raises(ValueError, match="unknown webhook outcome"):
        webhook_delivery("mailgun", "ok")


async def test_requests_by_route_template_and_the_metrics_endpoint() -> None:
    async def hook(request: Request) -> Response:
        return PlainTextResponse("ok", status_code=202)

    app = Starlette(
        routes=[
            Route("/webhooks/{provider}", hook, methods=["POST"]),
            Mount("/metrics", metrics_app()),
        ]
    )
    transport = httpx.ASGITransport(app=RequestMetrics(app))
    before = value(
        "whymail_http_requests_total", route="/webhooks/{provider}", method="POST", status="202"
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://whymail") as client:
        assert (await client.post("/webhooks/postmark")).status_code == 202
        assert (await client.post("/webhooks/mailgun")).status_code == 202
        assert (await client.get("/no/such/thing")).status_code == 404
        page = await client.get("/metrics/")
    assert page.status_code == 200
    assert "whymail_http_requests_total" in page.text
    after = value(
        "whymail_http_requests_total", route="/webhooks/{provider}", method="POST", status="202"
    )
    assert after == before + 2
    assert value("whymail_http_requests_total", route="unmatched", method="GET", status="404") >= 1
    assert value("whymail_http_request_duration_seconds_count", route="/webhooks/{provider}") >= 2
