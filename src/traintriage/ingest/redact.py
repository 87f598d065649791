"""Remove personal data from log content before it is stored as a sample or shown.

Production logs are PII (Wikimedia keeps them 90 days behind an NDA). Samples
are the only raw content traintriage keeps, so they are redacted on the way
in: URL query values (except `action=`, as Phatality does), IP addresses,
e-mail addresses, user names in `User:` titles and `user=`/`target=`-like
parameters. Traces whose arguments were not redacted by the producer (quotes
in them) are replaced, following Phatality's rule (T234014).
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
_IPV6 = re.compile(r"(?<![\w:])[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7}(?![\w:])")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_USER_TITLE = re.compile(
    r"((?:User|User_talk|User talk|Special:Contributions|Special:Contribs|Benutzer|Utilisateur|Usuario)(?::|%3A|/))([^/?&#\s\"'<>]+)",
    re.IGNORECASE,
)
_QUERY = re.compile(r"\?([^#\s\"'<>]*)")
_KEEP_PARAM = re.compile(r"^action=[a-z]{1,35}$")
_TRACE_UNSAFE = re.compile(r"['\"]")

REDACTED = "*"


def redact_query(url: str) -> str:
    """Replace every query parameter value by `*`, keeping `action=<word>`."""

    def _params(match: re.Match[str]) -> str:
        parts = []
        for part in match.group(1).split("&"):
            if not part:
                continue
            if _KEEP_PARAM.match(part):
                parts.append(part)
                continue
            name = part.split("=", 1)[0]
            parts.append(f"{name}={REDACTED}")
        return "?" + "&".join(parts)

    return _QUERY.sub(_params, url)


_USER_WORDS = ("user", "contrib", "benutzer", "utilisateur", "usuario")
_DOTTED_DIGITS = re.compile(r"\d\.\d")


def redact_text(text: str) -> str:
    """Redact IPs, e-mails, user names and URL query values inside free text.

    Each pattern runs only when a cheap test says it could match: traces are long,
    and the patterns (which cannot start from a literal) cost ~50-180 µs each on them.
    """
    if "?" in text:
        text = redact_query(text)
    if "@" in text:
        text = _EMAIL.sub("<email>", text)
    if _DOTTED_DIGITS.search(text):
        text = _IPV4.sub("<ip>", text)
    if "::" in text or text.count(":") >= 7:
        text = _IPV6.sub(_ipv6, text)
    lower = text.lower()
    if any(word in lower for word in _USER_WORDS):
        text = _USER_TITLE.sub(lambda m: m.group(1) + "<user>", text)
    return text


def _ipv6(match: re.Match[str]) -> str:
    """Only full (7 colons) or compressed ('::') IPv6 addresses; not clock times like 12:30:45."""
    value = match.group(0)
    ok = ("::" in value or value.count(":") == 7) and any(c.isdigit() for c in value)  # not Feed::add
    return "<ip>" if ok else value


def redact_url(url: str) -> str:
    """Redact a request URL: query values, user names in paths, IPs."""
    decoded = unquote(url)
    if decoded != url and _USER_TITLE.search(decoded):
        url = quote(_USER_TITLE.sub(lambda m: m.group(1) + "<user>", decoded), safe="/:?&=%#@+,;")
    return redact_text(url)


def redact_trace(trace: str) -> str:
    """Keep a redacted trace; drop lines that still carry quoted argument values."""
    lines = [
        "(REDACTED)" if _TRACE_UNSAFE.search(line.replace("eval()'d", "")) else line
        for line in trace.splitlines()
    ]
    return redact_text("\n".join(lines))  # one pass over the whole text, not one per line
