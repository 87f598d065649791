"""Request-body limits, enforced while the body is read: before parsing, before authentication.

FastAPI reads and parses a request's body before it runs the route's dependencies (the
permission checks among them), so without a limit an anonymous 300 MB POST was read,
decoded and kept in memory before it was refused with 401 (issue 8). `BodyLimitMiddleware`
sits in front of every route, the HTML forms, the JSON API and the intake routes alike:

* a declared `Content-Length` above the route's limit is answered 413 at once, without
  reading a byte of the body and without calling the app;
* a body without a length (chunked) or with a false one is counted as it arrives; the
  read that crosses the limit raises `BodyTooLarge` (an HTTP 413), so the app never holds
  more than the limit plus one chunk;
* a malformed `Content-Length` is a 400.

The limit depends on the path (`BodyLimits.for_path`): small for forms and the JSON API,
larger for bulk log intake. It is plain ASGI, so a lean intake process without FastAPI can
wrap its app in the same middleware.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MIB = 1024 * 1024
DEFAULT_MAX_BODY = 1 * MIB
"""Forms and the JSON API: a review note is at most 4,000 characters, a deploy step a few hundred bytes."""

DEFAULT_MAX_INTAKE_BODY = 32 * MIB
"""Log intake (NDJSON, Elasticsearch bulk): shippers send batches of a few MiB at most."""


class BodyTooLarge(HTTPException):
    """The request body passed the limit of its route (HTTP 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit:,} bytes")
        self.limit = limit


def is_intake_path(path: str) -> bool:
    """Routes that take log batches: `/api/v1/events`, `/_bulk`, `/{index}/_bulk`."""
    return path == "/api/v1/events" or path == "/_bulk" or path.endswith("/_bulk")


@dataclass(frozen=True)
class BodyLimits:
    """Bytes a request body may have: `default` everywhere, `intake` on log-intake routes."""

    default: int = DEFAULT_MAX_BODY
    intake: int = DEFAULT_MAX_INTAKE_BODY
    intake_path: Callable[[str], bool] = is_intake_path

    def for_path(self, path: str) -> int:
        return self.intake if self.intake_path(path) else self.default


class BodyLimitMiddleware:
    """Refuse (413) any request body longer than its path's limit, counting while reading."""

    def __init__(self, app: ASGIApp, limits: BodyLimits | None = None) -> None:
        self.app, self.limits = app, limits or BodyLimits()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.for_path(str(scope.get("path", "")))
        declared = _content_length(scope)
        if declared == -1:
            await _answer(send, 400, "malformed Content-Length header")
            return
        if declared is not None and declared > limit:
            await _answer(send, 413, f"request body of {declared:,} bytes is larger than {limit:,} bytes")
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge as err:
            if started:  # the app answered already and then read on: nothing more to say
                return
            await _answer(send, 413, str(err.detail))


def _content_length(scope: Scope) -> int | None:
    """The declared length, None when absent, -1 when malformed (several, negative, not digits)."""
    values = [v for k, v in scope.get("headers", ()) if k.lower() == b"content-length"]
    if not values:
        return None
    if len(set(values)) > 1 or not values[0].strip().isdigit() or len(values[0]) > 18:
        return -1
    return int(values[0])


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
