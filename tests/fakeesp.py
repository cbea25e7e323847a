"""Fake ESPs on loopback: their lookup APIs (documented shapes, auth, paging, 429 + Retry-After)
and their webhook signers (Mailgun HMAC, SendGrid ECDSA, SNS certificates over real TLS).

The fake APIs are one Starlette app; `FakeESP.state` holds the data each provider serves and
`FakeESP.calls` what whymail asked, so tests assert on both sides of the wire.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import ipaddress
import json
import secrets
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.sources.verify import mailgun as mailgun_sig
from bot.sources.verify.sns import string_to_sign
from testkit.servers import serve

# ---------------------------------------------------------------- webhook signers


def mailgun_body(
    signing_key: str,
    event_data: dict[str, Any],
    *,
    when: float | None = None,
    token: str | None = None,
) -> bytes:
    """A body signed as Mailgun signs it: with a fresh random token each time, unless given."""
    token = token or secrets.token_hex(25)
    timestamp = str(int(when if when is not None else time.time()))
    signature = mailgun_sig.sign(signing_key, timestamp, token)
    payload = {
        "signature": {"timestamp": timestamp, "token": token, "signature": signature},
        "event-data": event_data,
    }
    return json.dumps(payload).encode()


@dataclass
class SendGridSigner:
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    @property
    def public_key(self) -> str:
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    def headers(self, body: bytes, when: float | None = None) -> dict[str, str]:
        timestamp = str(int(when if when is not None else time.time()))
        signature = self.key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
            "Content-Type": "application/json",
        }


class SnsSigner:
    """A self-signed RSA certificate for 127.0.0.1, served over TLS as SNS's SigningCertURL."""

    def __init__(self, directory: Path) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)
        self.certfile = directory / "sns-cert.pem"
        self.keyfile = directory / "sns-key.pem"
        self.certfile.write_bytes(self.pem)
        self.keyfile.write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
        self.base_url = ""
        self.subscribed: list[str] = []
        self.cert_fetches = 0

    def client_ssl(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.certfile))

    def app(self) -> Starlette:
        async def cert(request: Request) -> Response:
            self.cert_fetches += 1
            return Response(self.pem, media_type="application/x-pem-file")

        async def subscribe(request: Request) -> Response:
            self.subscribed.append(str(request.query_params.get("Token")))
            return PlainTextResponse("<ConfirmSubscriptionResponse/>")

        return Starlette(
            routes=[
                Route("/SimpleNotificationService-test.pem", cert),
                Route("/", subscribe),
            ]
        )

    def sign(self, message: dict[str, Any], version: str = "1") -> dict[str, Any]:
        message = dict(message, SignatureVersion=version)
        message.setdefault("SigningCertURL", f"{self.base_url}/SimpleNotificationService-test.pem")
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(string_to_sign(message), padding.PKCS1v15(), algorithm)
        message["Signature"] = base64.b64encode(signature).decode()
        return message

    def notification(
        self,
        ses_event: dict[str, Any] | str,
        topic: str,
        *,
        message_id: str = "m-1",
        when: dt.datetime | None = None,
        version: str = "1",
    ) -> dict[str, Any]:
        stamp = (when or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        return self.sign(
            {
                "Type": "Notification",
                "MessageId": message_id,
                "TopicArn": topic,
                "Subject": "Amazon SES Email Event Notification",
                "Message": ses_event if isinstance(ses_event, str) else json.dumps(ses_event),
                "Timestamp": stamp,
            },
            version,
        )

    def subscription(self, topic: str, token: str = "tok-1") -> dict[str, Any]:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        return self.sign(
            {
                "Type": "SubscriptionConfirmation",
                "MessageId": "sub-1",
                "Token": token,
                "TopicArn": topic,
                "Message": f"You have chosen to subscribe to the topic {topic}.",
                "SubscribeURL": f"{self.base_url}/?Action=ConfirmSubscription&Token={quote(token)}",
                "Timestamp": stamp,
            }
        )


# ---------------------------------------------------------------- fake lookup APIs


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(data, status_code=status, headers=headers)


POSTMARK_TOKEN = "pm-server-token"
MAILGUN_KEY = "mg-api-key"
MAILGUN_DOMAIN = "mg.acme.example"
SENDGRID_KEY = "SG.fake-key"
AWS_KEY, AWS_SECRET, AWS_REGION = "AKIDFAKE", "fake-secret", "eu-west-1"
BREVO_KEY = "xkeysib-fake"


@dataclass
class FakeState:
    """What each fake provider knows; tests fill it and read `calls` back."""

    pm_messages: list[dict[str, Any]] = field(default_factory=list)
    pm_details: dict[str, dict[str, Any]] = field(default_factory=dict)
    pm_bounces: list[dict[str, Any]] = field(default_factory=list)
    pm_suppressions: list[dict[str, Any]] = field(default_factory=list)
    mg_logs_api: bool = True
    mg_events: list[dict[str, Any]] = field(default_factory=list)
    mg_lists: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {"bounces": {}, "unsubscribes": {}, "complaints": {}}
    )
    sg_messages: list[dict[str, Any]] = field(default_factory=list)
    sg_details: dict[str, dict[str, Any]] = field(default_factory=dict)
    sg_lists: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {
            "bounces": {},
            "blocks": {},
            "spam_reports": {},
            "invalid_emails": {},
            "global": {},
        }
    )
    ses_suppressed: dict[str, dict[str, Any]] = field(default_factory=dict)
    brevo_events: list[dict[str, Any]] = field(default_factory=list)
    brevo_blocked: list[dict[str, Any]] = field(default_factory=list)
    #: provider → how many next requests get 429, and the Retry-After to send ("" for none)
    throttle: dict[str, tuple[int, str]] = field(default_factory=dict)
    #: provider → "error" (always 503) or "hang" (never answers in time)
    down: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, str, str]] = field(default_factory=list)

    def count(self, provider: str, method: str | None = None, fragment: str = "") -> int:
        return sum(
            1
            for p, m, path in self.calls
            if p == provider and (method is None or m == method) and fragment in path
        )


def _page(items: list[Any], offset: int, count: int) -> list[Any]:
    return items[offset : offset + count]


class FakeESP:
    def __init__(self) -> None:
        self.state = FakeState()
        self.base_url = ""

    def urls(self) -> dict[str, str]:
        """EspSettings overrides pointing every client here."""
        return {
            "postmark_api_url": f"{self.base_url}/postmark",
            "mailgun_api_url": f"{self.base_url}/mailgun",
            "sendgrid_api_url": f"{self.base_url}/sendgrid",
            "ses_api_url": f"{self.base_url}/ses",
            "brevo_api_url": f"{self.base_url}/brevo",
        }

    def credentials(self) -> dict[str, str]:
        return {
            "postmark_server_token": POSTMARK_TOKEN,
            "mailgun_api_key": MAILGUN_KEY,
            "mailgun_domain": MAILGUN_DOMAIN,
            "sendgrid_api_key": SENDGRID_KEY,
            "aws_access_key_id": AWS_KEY,
            "aws_secret_access_key": AWS_SECRET,
            "aws_region": AWS_REGION,
            "brevo_api_key": BREVO_KEY,
        }

    async def _gate(self, provider: str, request: Request) -> Response | None:
        """Outage, rate limit and auth, in that order, as the real services would."""
        s = self.state
        s.calls.append((provider, request.method, request.url.path))
        if s.down.get(provider) == "hang":
            await asyncio.sleep(5)
        if s.down.get(provider):
            return json_response({"message": "service unavailable"}, 503)
        left, retry_after = s.throttle.get(provider, (0, ""))
        if left > 0:
            s.throttle[provider] = (left - 1, retry_after)
            headers = {"Retry-After": retry_after} if retry_after else {}
            if provider == "brevo":
                headers = {
                    "x-sib-ratelimit-limit": "300",
                    "x-sib-ratelimit-remaining": "0",
                    "x-sib-ratelimit-reset": "0",
                }
            if provider == "sendgrid":
                headers.update({"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0"})
            return json_response(
                {"errors": [{"field": None, "message": "too many requests"}]}, 429, headers
            )
        h = request.headers
        if provider == "postmark" and h.get("x-postmark-server-token") != POSTMARK_TOKEN:
            return json_response(
                {"ErrorCode": 10, "Message": "Bad or missing Server API token"}, 401
            )
        if provider == "mailgun":
            expected = "Basic " + base64.b64encode(f"api:{MAILGUN_KEY}".encode()).decode()
            if h.get("authorization") != expected:
                return json_response({"message": "Invalid private key"}, 401)
        if provider == "sendgrid" and h.get("authorization") != f"Bearer {SENDGRID_KEY}":
            return json_response(
                {"errors": [{"field": None, "message": "authorization required"}]}, 401
            )
        if provider == "ses":
            auth = h.get("authorization", "")
            scope = f"Credential={AWS_KEY}/"
            if (
                not auth.startswith("AWS4-HMAC-SHA256 ")
                or scope not in auth
                or f"/{AWS_REGION}/ses/aws4_request" not in auth
                or "x-amz-date" not in h
            ):
                return json_response(
                    {"message": "Missing Authentication Token"},
                    403,
                    {"x-amzn-ErrorType": "MissingAuthenticationTokenException"},
                )
        if provider == "brevo" and h.get("api-key") != BREVO_KEY:
            return json_response({"code": "unauthorized", "message": "Key not found"}, 401)
        return None

    def app(self) -> Starlette:
        s = self.state

        def gated(provider: str, handler: Any) -> Any:
            async def endpoint(request: Request) -> Response:
                refused = await self._gate(provider, request)
                if refused is not None:
                    return refused
                result: Response = await handler(request)
                return result

            return endpoint

        # ---- Postmark
        def pm_paging(request: Request) -> tuple[int, int] | Response:
            try:
                count = int(request.query_params["count"])
                offset = int(request.query_params["offset"])
            except (KeyError, ValueError):
                return json_response(
                    {"ErrorCode": 700, "Message": "count and offset required"}, 422
                )
            if count > 500 or count + offset > 10_000:
                return json_response({"ErrorCode": 700, "Message": "count/offset too large"}, 422)
            return count, offset

        async def pm_search(request: Request) -> Response:
            paging = pm_paging(request)
            if isinstance(paging, Response):
                return paging
            recipient = request.query_params.get("recipient", "")
            found = [m for m in s.pm_messages if recipient in m.get("Recipients", [])]
            return json_response(
                {"TotalCount": len(found), "Messages": _page(found, *paging[::-1])}
            )

        async def pm_details(request: Request) -> Response:
            detail = s.pm_details.get(request.path_params["id"])
            if detail is None:
                return json_response(
                    {"ErrorCode": 701, "Message": "This message was not found."}, 422
                )
            return json_response(detail)

        async def pm_bounces(request: Request) -> Response:
            paging = pm_paging(request)
            if isinstance(paging, Response):
                return paging
            text = request.query_params.get("emailFilter", "")
            found = [b for b in s.pm_bounces if text in b["Email"]]
            inactive = request.query_params.get("inactive")
            if inactive is not None:
                found = [b for b in found if b["Inactive"] == (inactive == "true")]
            return json_response({"TotalCount": len(found), "Bounces": _page(found, *paging[::-1])})

        async def pm_activate(request: Request) -> Response:
            bounce_id = int(request.path_params["id"])
            for bounce in s.pm_bounces:
                if bounce["ID"] == bounce_id:
                    if not bounce.get("CanActivate"):
                        return json_response({"ErrorCode": 406, "Message": "cannot activate"}, 422)
                    bounce["Inactive"] = False
                    return json_response({"Message": "OK", "Bounce": bounce})
            return json_response({"ErrorCode": 701, "Message": "not found"}, 422)

        async def pm_dump(request: Request) -> Response:
            address = request.query_params.get("EmailAddress")
            found = [x for x in s.pm_suppressions if address in (None, x["EmailAddress"])]
            return json_response({"Suppressions": found})

        async def pm_delete(request: Request) -> Response:
            asked = [x["EmailAddress"] for x in (await request.json())["Suppressions"]]
            results = []
            for address in asked:
                before = len(s.pm_suppressions)
                s.pm_suppressions[:] = [
                    x
                    for x in s.pm_suppressions
                    if x["EmailAddress"] != address or x["SuppressionReason"] == "SpamComplaint"
                ]
                deleted = len(s.pm_suppressions) < before
                results.append(
                    {
                        "EmailAddress": address,
                        "Status": "Deleted" if deleted else "Failed",
                        "Message": None if deleted else "not deleted",
                    }
                )
            return json_response({"Suppressions": results})

        # ---- Mailgun
        async def mg_logs(request: Request) -> Response:
            if not s.mg_logs_api:
                return json_response({"message": "not found"}, 404)
            body = await request.json()
            limit = int(body.get("pagination", {}).get("limit", 100))
            if limit > 100:
                return json_response({"message": "limit must be <= 100"}, 400)
            wanted = {
                c["attribute"]: c["values"][0]["value"]
                for c in body.get("filter", {}).get("AND", [])
            }
            found = [e for e in s.mg_events if e.get("recipient") == wanted.get("recipient")]
            offset = int(body.get("pagination", {}).get("token") or 0)
            page = found[offset : offset + limit]
            items = [
                {
                    **{k: v for k, v in e.items() if k not in ("timestamp", "user-variables")},
                    "@timestamp": dt.datetime.fromtimestamp(e["timestamp"], dt.UTC).isoformat(),
                    "user-variables": json.dumps(e.get("user-variables", {})),
                }
                for e in page
            ]
            following = str(offset + limit) if offset + limit < len(found) else None
            return json_response({"items": items, "pagination": {"next": following}})

        async def mg_events(request: Request) -> Response:
            recipient = request.query_params.get("recipient")
            limit = int(request.query_params.get("limit", 300))
            offset = 0
            if "page" in request.path_params:  # a paging URL carries the filter in its token
                recipient, _, number = request.path_params["page"].partition("~")
                offset = int(number)
            found = [e for e in s.mg_events if e.get("recipient") == recipient]
            page = found[offset : offset + limit]
            base = f"{self.base_url}/mailgun/v3/{MAILGUN_DOMAIN}/events"
            return json_response(
                {
                    "items": page,
                    "paging": {
                        "next": f"{base}/{recipient}~{offset + limit}",
                        "previous": f"{base}/{recipient}~0",
                    },
                }
            )

        async def mg_list(request: Request) -> Response:
            name, address = request.path_params["list"], request.path_params["address"]
            table = s.mg_lists.get(name)
            if table is None:
                return json_response({"message": "not found"}, 404)
            if address not in table:
                return json_response({"message": f"Address not found in {name} table"}, 404)
            if request.method == "DELETE":
                del table[address]
                return json_response({"message": f"{name} removed", "address": address})
            return json_response(table[address])

        # ---- SendGrid
        async def sg_logs(request: Request) -> Response:
            body = await request.json()
            if not 1 <= int(body.get("limit", 10)) <= 1000:
                return json_response({"errors": [{"field": "limit", "message": "bad"}]}, 400)
            query = str(body.get("query", ""))
            address = query.partition('"')[2].rpartition('"')[0]
            found = [m for m in s.sg_messages if m["to_email"] == address]
            return json_response({"messages": found[: int(body.get("limit", 10))]})

        async def sg_detail(request: Request) -> Response:
            detail = s.sg_details.get(request.path_params["id"])
            if detail is None:
                return json_response({"errors": [{"field": None, "message": "not found"}]}, 404)
            return json_response(detail)

        async def sg_list(request: Request) -> Response:
            name, email = request.path_params["list"], request.path_params["email"]
            table = s.sg_lists.get(name, {})
            if request.method == "DELETE":
                table.pop(email, None)
                return Response(status_code=204)
            return json_response([table[email]] if email in table else [])

        async def sg_global(request: Request) -> Response:
            email = request.path_params["email"]
            if request.method == "DELETE":
                s.sg_lists["global"].pop(email, None)
                return Response(status_code=204)
            return json_response(
                {"recipient_email": email} if email in s.sg_lists["global"] else {}
            )

        # ---- SES v2
        async def ses_address(request: Request) -> Response:
            email = request.path_params["email"]
            if email not in s.ses_suppressed:
                return json_response(
                    {"message": f"Email address {email} does not exist on your suppression list."},
                    404,
                    {"x-amzn-ErrorType": "NotFoundException"},
                )
            if request.method == "DELETE":
                del s.ses_suppressed[email]
                return json_response({})
            return json_response({"SuppressedDestination": s.ses_suppressed[email]})

        # ---- Brevo
        async def br_events(request: Request) -> Response:
            email = request.query_params.get("email")
            limit = int(request.query_params.get("limit", 2500))
            offset = int(request.query_params.get("offset", 0))
            found = [e for e in s.brevo_events if e["email"] == email]
            return json_response({"events": found[offset : offset + limit]})

        async def br_blocked(request: Request) -> Response:
            limit = int(request.query_params.get("limit", 50))
            offset = int(request.query_params.get("offset", 0))
            return json_response(
                {
                    "count": len(s.brevo_blocked),
                    "contacts": s.brevo_blocked[offset : offset + limit],
                }
            )

        async def br_unblock(request: Request) -> Response:
            email = request.path_params["email"]
            before = len(s.brevo_blocked)
            s.brevo_blocked[:] = [c for c in s.brevo_blocked if c["email"] != email]
            if len(s.brevo_blocked) == before:
                return json_response({"code": "document_not_found", "message": "not found"}, 404)
            return Response(status_code=204)

        routes = [
            Route("/postmark/messages/outbound", gated("postmark", pm_search)),
            Route("/postmark/messages/outbound/{id}/details", gated("postmark", pm_details)),
            Route("/postmark/bounces", gated("postmark", pm_bounces)),
            Route(
                "/postmark/bounces/{id}/activate", gated("postmark", pm_activate), methods=["PUT"]
            ),
            Route(
                "/postmark/message-streams/{stream}/suppressions/dump", gated("postmark", pm_dump)
            ),
            Route(
                "/postmark/message-streams/{stream}/suppressions/delete",
                gated("postmark", pm_delete),
                methods=["POST"],
            ),
            Route("/mailgun/v1/analytics/logs", gated("mailgun", mg_logs), methods=["POST"]),
            Route("/mailgun/v3/{domain}/events", gated("mailgun", mg_events)),
            Route("/mailgun/v3/{domain}/events/{page}", gated("mailgun", mg_events)),
            Route(
                "/mailgun/v3/{domain}/{list}/{address}",
                gated("mailgun", mg_list),
                methods=["GET", "DELETE"],
            ),
            Route("/sendgrid/v3/logs", gated("sendgrid", sg_logs), methods=["POST"]),
            Route("/sendgrid/v3/logs/{id}", gated("sendgrid", sg_detail)),
            Route(
                "/sendgrid/v3/suppression/{list}/{email}",
                gated("sendgrid", sg_list),
                methods=["GET", "DELETE"],
            ),
            Route(
                "/sendgrid/v3/asm/suppressions/global/{email}",
                gated("sendgrid", sg_global),
                methods=["GET", "DELETE"],
            ),
            Route(
                "/ses/v2/email/suppression/addresses/{email}",
                gated("ses", ses_address),
                methods=["GET", "DELETE"],
            ),
            Route("/brevo/v3/smtp/statistics/events", gated("brevo", br_events)),
            Route("/brevo/v3/smtp/blockedContacts", gated("brevo", br_blocked)),
            Route(
                "/brevo/v3/smtp/blockedContacts/{email}",
                gated("brevo", br_unblock),
                methods=["DELETE"],
            ),
        ]
        return Starlette(routes=routes)


@asynccontextmanager
async def fake_esp() -> AsyncIterator[FakeESP]:
    fake = FakeESP()
    async with serve(fake.app()) as url:
        fake.base_url = url
        yield fake
