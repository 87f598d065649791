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


def fill_placeholders(template: str, message: str, context: dict[str, str] | None = None) -> str:
    """`template` with each placeholder replaced by its single-word value.

    Values come from `context` (the line's log context) when every placeholder has
    one there. Otherwise they are read from `message`: the literal parts of the
    template are found in it left to right (each value ends where the next literal
    starts; the last literal must end the message). A value with whitespace keeps
    its `{key}`. When the message does not align with the template (edited,
    truncated), or two placeholders are separated only by whitespace (which value
    owns which word cannot be told), the template is returned unchanged. Linear in
    the message length, no backtracking.
    """
    keys = _PLACEHOLDER.findall(template)
    if not keys or len(keys) > MAX_PLACEHOLDERS:
        return template
    if context and all(k[1:-1] in context for k in keys):
        return _PLACEHOLDER.sub(lambda m: _canonical(m.group(), context[m.group()[1:-1]]), template)
    literals = _PLACEHOLDER.split(template)
    head, tail = literals[0], literals[-1]
    end = len(message) - len(tail)
    if end < len(head) or not message.startswith(head) or not message.endswith(tail):
        return template
    out = [head]
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
        if context and key[1:-1] in context:
            value = context[key[1:-1]]
        out.append(_canonical(key, value))
        out.append(literal)
        pos = stop + len(literal)
    return "".join(out)


def _canonical(key: str, value: str) -> str:
    """A single-word value stands for itself (masking types it); one with spaces stays {key}."""
    return key if " " in value.strip() else value
