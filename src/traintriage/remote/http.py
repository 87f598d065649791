"""Small HTTP client for webhooks and Conduit: stdlib urllib, bounded, redirects refused.

A redirect is refused rather than followed: a POST of a notification must land where it
was configured to, not be bounced to another host.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from traintriage import __version__
from traintriage.core.errors import Unavailable

USER_AGENT = f"traintriage/{__version__}"
MAX_RESPONSE = 4 * 1024 * 1024


class DeliveryError(Unavailable):
    """A remote call failed; `retryable` says whether trying again later can help."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes
    headers: Mapping[str, str]

    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise DeliveryError(f"response is not JSON: {err}", retryable=False, status=self.status) from None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def check_url(url: str) -> str:
    """Only http(s) URLs with a host are called."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL")
    return url


def request(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    *,
    timeout: float = 10.0,
) -> HttpResponse:
    """One HTTP request; 2xx returns, anything else raises DeliveryError (retryable or not)."""
    check_url(url)
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("User-Agent", USER_AGENT)
    for key, value in (headers or {}).items():
        req.add_header(key, value)
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            data = resp.read(MAX_RESPONSE + 1)
            return HttpResponse(resp.status, data[:MAX_RESPONSE], dict(resp.headers.items()))
    except urllib.error.HTTPError as err:
        status = err.code
        detail = err.read(500).decode("utf-8", "replace").strip() if err.fp else ""
        retryable = status >= 500 or status in (408, 425, 429)
        if 300 <= status < 400:
            detail = f"redirect to {err.headers.get('Location', '?')} refused"
        raise DeliveryError(
            f"{method} {url}: HTTP {status}{': ' + detail[:200] if detail else ''}",
            retryable=retryable,
            status=status,
        ) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise DeliveryError(f"{method} {url}: {reason}", retryable=True) from None


def signature(secret: str, body: bytes) -> str:
    """`sha256=<hex>` HMAC of the body, as GitHub-style receivers check it."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def post_json(
    url: str,
    payload: Any,
    *,
    secret: str | None = None,
    headers: Mapping[str, str] | None = None,
    method: str = "POST",
    timeout: float = 10.0,
) -> HttpResponse:
    """POST (or PUT) a JSON document; with `secret`, signed in X-Traintriage-Signature."""
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
    all_headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    if secret:
        all_headers["X-Traintriage-Signature"] = signature(secret, body)
    return request(method, url, body, all_headers, timeout=timeout)


def post_text(
    url: str, text: str, *, headers: Mapping[str, str] | None = None, timeout: float = 10.0
) -> HttpResponse:
    all_headers = {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}
    return request("POST", url, text.encode("utf-8"), all_headers, timeout=timeout)
