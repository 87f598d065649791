"""PSR-3 placeholders and rendered messages: one canonical template whatever the transport.

MediaWiki's Logstash and ECS lines carry the template (`normalized_message`,
`server {db_server} has {lag} seconds of lag`) and the rendered `message`; a udp2log
line carries only the rendered text (its reader puts `{key}` back for values with
spaces, from the context JSON). Grouping the template in one case and the rendered
text in the other gives one bug two signatures. `fill_placeholders` reads each
placeholder's value back from the rendered message (by aligning the template's
literal text) and puts single-word values in place, so that masking then sees the
same text whatever the line's format. Values with whitespace stay `{key}`: they
change the word count from event to event, and the udp2log reader turns the same
values into `{key}` too.
"""

from __future__ import annotations

import re

_PLACEHOLDER = re.compile(r"\{[A-Za-z_][\w.\-]*\}")
MAX_PLACEHOLDERS = 32  # beyond this the template is left as it is (pathological input)


def has_placeholder(template: str) -> bool:
    """Whether a text has a `{key}` placeholder (a cheap test first)."""
    return "{" in template and _PLACEHOLDER.search(template) is not None


Plan = tuple[list[str], list[str], list[str]]  # literals, keys, quote character around each key ("" if none)
_PLANS: dict[str, Plan | None] = {}
QUOTE_STAND_IN = "x"


def _plan(template: str) -> Plan | None:
    """(literal parts, placeholder keys, their quotes) of a template, computed once per template."""
    plan = _PLANS.get(template, ())
    if plan == ():
        keys = [k[1:-1] for k in _PLACEHOLDER.findall(template)]
        if 0 < len(keys) <= MAX_PLACEHOLDERS:
            literals = _PLACEHOLDER.split(template)
            quotes = [_quote_around(literals[i], literals[i + 1]) for i in range(len(keys))]
            plan = (literals, keys, quotes)
        else:
            plan = None
        if len(_PLANS) >= 50_000:
            _PLANS.clear()
        _PLANS[template] = plan
    return plan  # type: ignore[return-value]


def _quote_around(before: str, after: str) -> str:
    """The quote around a placeholder when masking's quoted-string rule applies there, else "".

    Double quotes always count; single quotes only as masking.toml's `single_quoted`
    reads them: no word character or quote right outside them (not "can't").
    """
    q = before[-1:]
    if q not in ("'", '"') or after[:1] != q:
        return ""
    if q == "'" and (_wordish(before[-2:-1]) or _wordish(after[1:2])):
        return ""
    return q


def _wordish(ch: str) -> bool:
    return bool(ch) and (ch.isalnum() or ch in "_'")


def _put(key: str, value: str, quote: str) -> str:
    """The text a value contributes before masking.

    A value with whitespace stays `{key}`. A quoted one-line value of up to 200
    characters becomes a constant stand-in: masking turns any such quoted value into
    `"<str>"` (rules/masking.toml), so the result is the same and the filled text stays
    the same from event to event (cached once instead of masked per event).
    """
    if " " in value.strip():
        return "{" + key + "}"
    if quote and value and len(value) <= 200 and quote not in value and "\n" not in value:
        return QUOTE_STAND_IN
    return value


def fill_placeholders(template: str, message: str, context: dict[str, str] | None = None) -> str:
    """`template` with each placeholder replaced by its single-word value.

    Values come from `context` (the line's log context) when it has them all.
    Otherwise they are read from `message`: the literal parts of the template are
    found in it left to right (each value ends where the next literal starts; the
    last literal must end the message), a context value still winning over the one
    read. A value with whitespace keeps its `{key}`. When the message does not align
    with the template (edited, truncated), or two placeholders are separated only by
    whitespace (which value owns which word cannot be told), the template is
    returned unchanged. Linear in the message length, no backtracking.
    """
    plan = _plan(template)
    if plan is None:
        return template
    literals, keys, quotes = plan
    out = [literals[0]]
    if context is not None and all(k in context for k in keys):
        for key, literal, quote in zip(keys, literals[1:], quotes, strict=True):
            out.append(_put(key, context[key], quote))
            out.append(literal)
        return "".join(out)
    head, tail = literals[0], literals[-1]
    end = len(message) - len(tail)
    if end < len(head) or not message.startswith(head) or not message.endswith(tail):
        return template
    pos = len(head)
    last = len(keys) - 1
    for i, key in enumerate(keys):
        literal = literals[i + 1]
        if i == last:
            stop = end
        else:
            if not literal.strip():
                return template  # "{a} {b}": no way to tell where one value ends
            stop = message.find(literal, pos, end)
            if stop < 0:
                return template
        value = message[pos:stop]
        if context is not None and key in context:
            value = context[key]
        out.append(_put(key, value, quotes[i]))
        out.append(literal)
        pos = stop + len(literal)
    return "".join(out)
