"""Bolt middleware: what every Slack request goes through before a listener sees it."""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Awaitable, Callable

from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.slack.audience import Classifier
from bot.slack.state import SeenEvents

log = logging.getLogger(__name__)

#: The rest of Bolt's chain, which a step calls to let the request through.
Next = Callable[[], Awaitable[BoltResponse]]


class _Step(AsyncMiddleware):
    """A middleware class rather than a function: Bolt then skips its per-call argument
    injection, which is a noticeable share of an acknowledgement's cost under a burst."""

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Next,
    ) -> BoltResponse | None:
        return await self.step(req, next)

    @abstractmethod
    async def step(self, req: AsyncBoltRequest, next: Next) -> BoltResponse | None: ...


class DropRetries(_Step):
    """Slack's retries of events already being answered get an empty 200 and no work."""

    def __init__(self, seen: SeenEvents) -> None:
        self._seen = seen

    async def step(self, req: AsyncBoltRequest, next: Next) -> BoltResponse | None:
        event_id = req.body.get("event_id")
        reason = _header(req, "x-slack-retry-reason")
        if _header(req, "x-slack-retry-num") and reason == "http_timeout":
            log.info("retry of %s dropped: the first delivery is being answered", event_id)
            return _dropped()
        if isinstance(event_id, str) and not self._seen.first_time(event_id):
            return _dropped()
        return await next()


class LearnHome(_Step):
    """Tells the classifier which team installed the app (from Bolt's `auth.test`)."""

    def __init__(self, classifier: Classifier) -> None:
        self._classifier = classifier

    async def step(self, req: AsyncBoltRequest, next: Next) -> BoltResponse | None:
        result = req.context.authorize_result
        if result is not None:
            self._classifier.learn_home(result.team_id, result.enterprise_id)
        return await next()


def _dropped() -> BoltResponse:
    """An empty 200 that also asks Slack not to retry again."""
    return BoltResponse(status=200, body="", headers={"X-Slack-No-Retry": "1"})


def _header(req: AsyncBoltRequest, name: str) -> str | None:
    values = req.headers.get(name)
    return values[0] if values else None
