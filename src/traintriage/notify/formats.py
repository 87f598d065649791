"""One message per channel format, from one notice or a digest of several (pure).

Titles and details come from logs, so each format escapes them for its own syntax: Slack
mrkdwn (`&`, `<`, `>`: no `<!channel>` pings, no fake links), Matrix HTML, e-mail plain
text (header injection is impossible: subjects are single-line), and IRC (no control
characters: no colour codes, no newline that would start a second IRC command).
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any
from urllib.parse import quote

from traintriage.notify.events import Notice

__all__ = [
    "digest_title",
    "email_message",
    "irc_lines",
    "matrix_content",
    "plain_text",
    "slack_payload",
    "webhook_payload",
]

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
IRC_MAX_BYTES = 400


def absolute(base_url: str | None, link: str | None) -> str | None:
    """The notice's link in the web app (paths only; a base URL makes it absolute)."""
    if not link or not link.startswith("/") or link.startswith("//"):
        return None
    path = quote(link, safe="/?=&%-._~")
    return f"{base_url.rstrip('/')}{path}" if base_url else None


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(_CONTROL.sub(" ", text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def digest_title(notices: Sequence[Notice]) -> str:
    """'3 notices: 2 new, 1 decision (1.36.0-wmf.28)'."""
    if len(notices) == 1:
        return one_line(notices[0].title)
    kinds = Counter(n.kind for n in notices)
    versions = sorted({n.version for n in notices})
    what = ", ".join(f"{k} {kind}" for kind, k in sorted(kinds.items()))
    return one_line(f"{len(notices)} notices: {what} ({', '.join(versions)})")


def plain_text(notices: Sequence[Notice], base_url: str | None = None) -> str:
    """Readable text for e-mail bodies and chat fallbacks."""
    blocks = []
    for n in notices:
        lines = [f"[{n.severity}] {one_line(n.title)}"]
        lines += [f"    {one_line(x, 500)}" for x in n.lines]
        url = absolute(base_url, n.link)
        if url:
            lines.append(f"    {url}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def webhook_payload(
    notices: Sequence[Notice], base_url: str | None = None, delivery: str = ""
) -> dict[str, Any]:
    """Generic JSON: one notice as itself, several as a digest. Receivers dedupe on `delivery`."""
    docs = []
    for n in notices:
        d = n.to_dict()
        d["url"] = absolute(base_url, n.link)
        docs.append(d)
    if len(docs) == 1:
        return {"type": "traintriage.notice", "delivery": delivery, **docs[0]}
    return {
        "type": "traintriage.digest",
        "delivery": delivery,
        "title": digest_title(notices),
        "notices": docs,
    }


def _slack_escape(text: str) -> str:
    return one_line(text, 2000).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(notices: Sequence[Notice], base_url: str | None = None) -> dict[str, Any]:
    """Slack-compatible incoming-webhook JSON (also Mattermost, Rocket.Chat): text + blocks."""
    blocks: list[dict[str, Any]] = []
    if len(notices) > 1:
        blocks.append({"type": "header", "text": {"type": "plain_text", "text": digest_title(notices)[:150]}})
    for n in notices[:40]:
        url = absolute(base_url, n.link)
        title = _slack_escape(n.title)
        head = f"*<{url}|{title.replace('|', '¦')}>*" if url else f"*{title}*"
        body = "\n".join(_slack_escape(x) for x in n.lines[:6])
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"{head}\n{body}".strip()}})
    if len(notices) > 40:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"and {len(notices) - 40} more"}]}
        )
    return {"text": _slack_escape(digest_title(notices)), "blocks": blocks, "unfurl_links": False}


def matrix_content(notices: Sequence[Notice], base_url: str | None = None) -> dict[str, Any]:
    """An `m.room.message` content: an m.notice (bots must not trigger bots) with HTML."""
    parts = []
    if len(notices) > 1:
        parts.append(f"<p><strong>{html.escape(digest_title(notices))}</strong></p>")
    for n in notices:
        url = absolute(base_url, n.link)
        title = html.escape(one_line(n.title))
        head = f'<a href="{html.escape(url, quote=True)}">{title}</a>' if url else title
        items = "".join(f"<li>{html.escape(one_line(x, 500))}</li>" for x in n.lines[:6])
        parts.append(f"<p><strong>{head}</strong></p>" + (f"<ul>{items}</ul>" if items else ""))
    return {
        "msgtype": "m.notice",
        "body": plain_text(notices, base_url).strip(),
        "format": "org.matrix.custom.html",
        "formatted_body": "".join(parts),
    }


def email_message(
    notices: Sequence[Notice],
    *,
    sender: str,
    to: Sequence[str],
    base_url: str | None = None,
    subject_prefix: str = "[traintriage]",
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = one_line(f"{subject_prefix} {digest_title(notices)}", 200)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "traintriage.invalid")
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(plain_text(notices, base_url))
    return msg


def _irc_cut(text: str) -> str:
    data = text.encode("utf-8")
    if len(data) <= IRC_MAX_BYTES:
        return text
    return data[: IRC_MAX_BYTES - 3].decode("utf-8", "ignore") + "..."


def irc_lines(notices: Sequence[Notice], base_url: str | None = None, limit: int = 5) -> list[str]:
    """One line per notice (at most `limit`, then a count): no control characters, ≤ 400 bytes."""
    out = []
    for n in notices[:limit]:
        url = absolute(base_url, n.link)
        team = f" @{n.team.lstrip('@')}" if n.team and n.team != "*" else ""
        out.append(_irc_cut(one_line(f"[traintriage]{team} {n.title}" + (f" {url}" if url else ""), 1000)))
    if len(notices) > limit:
        out.append(f"[traintriage] and {len(notices) - limit} more notices")
    return out
