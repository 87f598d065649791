"""PSR-3 placeholders filled from the line: one canonical template whatever the transport."""

from __future__ import annotations

import random
import string

import pytest

from traintriage.grouping.mask import mask_text
from traintriage.grouping.placeholders import fill_placeholders


def test_values_read_back_from_the_rendered_message() -> None:
    t = "server {db_server} has {lag} seconds of lag"
    assert (
        fill_placeholders(t, "server 10.64.0.12 has 7 seconds of lag")
        == "server 10.64.0.12 has 7 seconds of lag"
    )
    # a value with spaces stays {key} (the udp2log reader puts {key} back for those too)
    t2 = "Error 1205 from {fname}, {error} at {db_server}"
    msg = "Error 1205 from LinksUpdate::x, Lock wait timeout exceeded at 10.64.0.1"
    assert fill_placeholders(t2, msg) == "Error 1205 from LinksUpdate::x, {error} at 10.64.0.1"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("a {x} b", "a 1 c"),  # does not align
        ("a {x} {y} b", "a 1 2 3 b"),  # which value owns which word cannot be told
        ("{x}{y}", "12"),
        ("a {x} b", "a"),  # truncated
    ],
)
def test_unalignable_messages_keep_the_template(template: str, message: str) -> None:
    assert fill_placeholders(template, message) == template


def test_context_values_decide_when_the_message_cannot() -> None:
    t = "{error} {sql} {db_server}"
    msg = "Lock wait timeout exceeded UPDATE page SET x = 1 10.64.0.87"
    ctx = {"error": "Lock wait timeout exceeded", "sql": "UPDATE page SET x = 1", "db_server": "10.64.0.87"}
    assert fill_placeholders(t, msg) == t
    assert fill_placeholders(t, msg, ctx) == "{error} {sql} 10.64.0.87"


def test_quoted_values_mask_like_the_rendered_text() -> None:
    """The constant stand-in for a quoted value masks exactly as the real value would."""
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits + ":!.-_/@ "
    t = "Memcached error for key \"{key}\" on server '{server}': A TIMEOUT"
    for _ in range(500):
        key = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 60))).strip() or "k"
        server = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 20))).replace(" ", "") or "s"
        rendered = f"Memcached error for key \"{key}\" on server '{server}': A TIMEOUT"
        filled = fill_placeholders(t, rendered)
        if "{key}" in filled:
            continue  # a value with spaces stays {key} on every transport
        assert mask_text(filled) == mask_text(rendered), (key, server)


def test_single_quotes_glued_to_words_are_not_stand_ins() -> None:
    t = "cannot read x'{name}'s file"
    rendered = "cannot read x'db1001's file"
    assert mask_text(fill_placeholders(t, rendered)) == mask_text(rendered)
