"""Token typing in the free-text miner (sig:v2): value-like words agree with their own kind."""

from __future__ import annotations

import pytest

from traintriage.grouping.drain import TemplateMiner, token_shape


def test_shapes() -> None:
    assert token_shape("tty=NODEVssh") == "kv:tty"
    assert token_shape("(class=org.apache.Foo)") == "kv:class"
    assert token_shape("/usr/lib/jvm") == "path"
    assert token_shape("C:\\Windows\\winsxs") == "path"
    assert token_shape("org.apache.hadoop.Foo") == "dotted"
    assert token_shape("proxy.example.org:<num>") == "dotted"
    for word in ("session", "LEADING", "read/write", "a.b", "-", "=", "key=", "Foo::bar"):
        assert token_shape(word) == "", word


def test_typed_values_of_one_kind_agree() -> None:
    untyped, typed = TemplateMiner(), TemplateMiner(shapes=("kv", "path"))
    a = ["authentication", "failure", ";", "tty=ssh", "ruser=", "rhost=<ip>"]
    b = ["authentication", "failure", ";", "tty=NODEVssh", "ruser=", "rhost=<ip>"]
    for miner in (untyped, typed):
        miner.add(a)
    assert untyped.add(b)[0] == 0  # one differing word of seven still merges untyped
    short_a, short_b = ["open", "tty=ssh"], ["open", "tty=NODEVssh"]
    u, t = TemplateMiner(), TemplateMiner(shapes=("kv",))
    assert u.add(short_a)[0] != u.add(short_b)[0]  # untyped: half the words differ
    assert t.add(short_a)[0] == t.add(short_b)[0]  # typed: one setting, two values
    p = TemplateMiner(shapes=("path",))
    assert p.add(["cannot", "open", "/etc/passwd"])[0] == p.add(["cannot", "open", "/var/log/x"])[0]


def test_different_keys_and_plain_words_stay_apart() -> None:
    t = TemplateMiner(shapes=("kv", "path"))
    assert t.add(["set", "tty=ssh"])[0] != t.add(["set", "user=root"])[0]
    assert t.add(["state", "LEADING"])[0] != t.add(["state", "LOOKING"])[0]


def test_state_keeps_shapes_and_rejects_unknown() -> None:
    t = TemplateMiner(shapes=("kv",))
    t.add(["open", "tty=ssh"])
    restored = TemplateMiner.from_state(t.to_state())
    assert restored.shapes == ("kv",)
    assert restored.add(["open", "tty=pts"]) == t.add(["open", "tty=pts"])
    with pytest.raises(ValueError, match="unknown token shapes"):
        TemplateMiner(shapes=("colour",))


def test_length_robust_matching_absorbs_a_value_printed_as_several_words() -> None:
    el = TemplateMiner(shapes=("kv",), elastic=3)
    plain = TemplateMiner(shapes=("kv",))
    short = ["Client", "environment:os.name=Linux", "on", "host", "<ip>"]
    long = ["Client", "environment:os.name=Mac", "OS", "X", "on", "host", "<ip>"]
    assert el.add(short)[0] == el.add(long)[0]
    assert plain.add(short)[0] != plain.add(long)[0]
    listed = TemplateMiner(elastic=3)
    a = ["expecting", "type", "<num>", "(softheader=<hex>", "<hex>)", "PSR0=<hex>", "done"]
    b = ["expecting", "type", "<num>", "(softheader=<hex>)", "PSR0=<hex>", "done"]
    assert listed.add(a)[0] == listed.add(b)[0] or listed.match(b) is not None


def test_length_robust_matching_keeps_words_and_fields_apart() -> None:
    el = TemplateMiner(shapes=("kv",), elastic=3)
    base = el.add(["authentication", "failure", "tty=ssh", "rhost=<ip>"])[0]
    assert el.add(["authentication", "failure", "tty=ssh", "rhost=<ip>", "user=root"])[0] != base  # a field
    assert (
        el.add(["Failed", "password", "for", "root", "from", "<ip>"])[0]
        != el.add(["Failed", "password", "for", "invalid", "user", "admin", "from", "<ip>"])[0]
    )  # the differing position holds words, not a value
    restored = TemplateMiner.from_state(el.to_state())
    assert restored.elastic == 3
    assert restored.match(["Failed", "password", "for", "root", "from", "<ip>"]) == el.match(
        ["Failed", "password", "for", "root", "from", "<ip>"]
    )
