"""The template miner: stable ids, state round trips, merging rules; and GA/FGA."""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path
from types import ModuleType

import pytest

from traintriage.grouping.drain import WILDCARD, TemplateMiner
from traintriage.grouping.mask import mask_tokens
from traintriage.grouping.metrics import f1_grouping_accuracy, grouping_accuracy, grouping_scores

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_loghub.py"


def _t(text: str) -> list[str]:
    """Tokens of an already masked message."""
    return text.split()


def _stream(n: int = 400, seed: int = 3) -> list[list[str]]:
    """A deterministic mix of message shapes with varying values."""
    rng = random.Random(seed)
    shapes = [
        "Connection to {ip} timed out after {n}ms",
        "PacketResponder {n} for block blk_{big} terminating",
        "Received block blk_{big} of size {n} from /{ip}",
        'Memcached error for key "enwiki:pcache:idhash:{n}-0!canonical" on server "{ip}:11211": A TIMEOUT OCCURRED',
        "Uncaught RedisException: Connection timed out in /srv/mediawiki/php-1.36.0-wmf.{v}/src/Profiler.php:{n}",
        "session opened for user {user} by (uid={n})",
        "Invalid user {user} from {ip}",
        "Job {user} failed with Error 1205: Lock wait timeout exceeded",
    ]
    users = ["root", "admin", "guest", "test", "oracle", "nagios"]
    out = []
    for _ in range(n):
        shape = rng.choice(shapes)
        text = shape.format(
            ip=".".join(str(rng.randint(1, 254)) for _ in range(4)),
            n=rng.randint(0, 99999),
            big=rng.randint(10**17, 10**18),
            v=rng.randint(20, 40),
            user=rng.choice(users),
        )
        out.append(mask_tokens(text))
    return out


@pytest.mark.slow
def test_ids_are_creation_order_and_never_change() -> None:
    miner = TemplateMiner()
    stream = _stream()
    first_ids = [miner.add(tokens)[0] for tokens in stream]
    assert sorted(set(first_ids)) == list(range(len(miner)))
    assert [i for n, i in enumerate(first_ids) if i not in first_ids[:n]] == list(range(len(miner)))
    for tokens in _stream(2000, seed=11):  # keep learning
        miner.add(tokens)
    assert [miner.match(tokens) for tokens in stream] == first_ids
    assert [miner.add(tokens)[0] for tokens in stream] == first_ids


def test_state_round_trip_gives_the_same_ids() -> None:
    stream = _stream(600)
    original = TemplateMiner()
    for tokens in stream[:300]:
        original.add(tokens)
    restored = TemplateMiner.from_state(json.loads(json.dumps(original.to_state())))
    assert restored.to_state() == original.to_state()
    rest = stream[300:] + _stream(300, seed=99)
    assert [restored.add(t) for t in rest] == [original.add(t) for t in rest]
    assert [restored.template(i) for i in range(len(restored))] == [
        original.template(i) for i in range(len(original))
    ]


def test_deterministic() -> None:
    a, b = TemplateMiner(), TemplateMiner()
    stream = _stream()
    assert [a.add(t) for t in stream] == [b.add(t) for t in stream]
    assert a.to_state() == b.to_state()


def test_values_merge_into_wildcards() -> None:
    miner = TemplateMiner()
    first, new = miner.add(_t("Invalid user admin from <ip>"))
    assert new
    second, changed = miner.add(_t("Invalid user oracle from <ip>"))
    assert (second, changed) == (first, True)
    assert miner.template(first) == "Invalid user <*> from <ip>"
    assert miner.add(_t("Invalid user guest from <ip>")) == (first, False)


def test_different_placeholders_count_as_equal_values() -> None:
    miner = TemplateMiner()
    a, _ = miner.add(_t("lookup of <num> failed on host"))
    b, changed = miner.add(_t("lookup of <hex> failed on host"))
    assert (a, changed) == (b, True)
    assert miner.template(a) == f"lookup of {WILDCARD} failed on host"
    assert miner.add(_t("lookup of <uuid> failed on host")) == (a, False)


def test_same_length_different_words_stay_apart() -> None:
    miner = TemplateMiner()
    a, _ = miner.add(_t("Received disconnect from <ip>: <num>: Bye Bye [preauth]"))
    b, _ = miner.add(_t("Received disconnect from <ip>: <num>: disconnected by user"))
    c, _ = miner.add(_t("disk <num> is full"))
    d, _ = miner.add(_t("disk <num> was removed"))
    assert len({a, b, c, d}) == 4
    assert miner.template(a) == "Received disconnect from <ip>: <num>: Bye Bye [preauth]"


def test_one_different_word_in_seven_merges() -> None:
    # The documented limit: net agreement (6 - 1) / 7 passes 0.5.
    miner = TemplateMiner()
    c, _ = miner.add(_t("Block <id> stored as bytes in memory"))
    d, _ = miner.add(_t("Block <id> stored as values in memory"))
    assert c == d
    assert miner.template(c) == "Block <id> stored as <*> in memory"


@pytest.mark.slow
def test_tokens_with_digits_take_the_wildcard_branch() -> None:
    miner = TemplateMiner()
    for n in range(500):
        miner.add(f"worker{n:04d} started job {n}".split())
        miner.add(mask_tokens(f"host{n:04d} stopped job {n}"))
    tree = miner.to_state()["tree"]["4"]
    assert list(tree["children"]) == [WILDCARD]
    assert miner.template(miner.match(["<id>", "stopped", "job", "<num>"]) or 0) == "<id> stopped job <num>"


def test_full_nodes_send_new_words_to_the_wildcard_branch() -> None:
    miner = TemplateMiner(max_children=3)
    ids = [miner.add([word, "is", "down"])[0] for word in ["alpha", "beta", "gamma", "delta", "alpha"]]
    children = miner.to_state()["tree"]["3"]["children"]
    assert len(children) == 3
    assert WILDCARD in children
    assert ids[0] == ids[4]
    assert len(set(ids)) == 4
    assert miner.match(["delta", "is", "down"]) == ids[3]  # found under <*>
    assert miner.match(["epsilon", "is", "down"]) is None  # a different word in three


def test_match_does_not_learn() -> None:
    miner = TemplateMiner()
    assert miner.match(["anything"]) is None
    cid, _ = miner.add(_t("disk <num> is full"))
    assert miner.match(_t("disk <num> is full")) == cid
    assert miner.match(_t("disk <num> is empty now")) is None
    assert miner.match(_t("network <num> is down")) is None
    assert len(miner) == 1
    assert miner.template(cid) == "disk <num> is full"


def test_empty_message() -> None:
    miner = TemplateMiner()
    assert miner.add([]) == (0, True)
    assert miner.add([]) == (0, False)
    assert miner.template(0) == ""


def test_one_bug_across_train_versions_is_one_cluster() -> None:
    miner = TemplateMiner()
    a, _ = miner.add(
        mask_tokens("Uncaught RedisException: timed out in /srv/mediawiki/php-1.36.0-wmf.30/src/P.php:276")
    )
    b, _ = miner.add(
        mask_tokens("Uncaught RedisException: timed out in /srv/mediawiki/php-1.36.0-wmf.37/src/P.php:281")
    )
    assert a == b


@pytest.mark.parametrize(
    "kwargs",
    [{"sim_threshold": 1.5}, {"sim_threshold": -0.1}, {"depth": 2}, {"max_children": 1}],
)
def test_rejects_bad_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        TemplateMiner(**kwargs)  # type: ignore[arg-type]


def test_rejects_foreign_state() -> None:
    with pytest.raises(ValueError):
        TemplateMiner.from_state({"format": "drain3"})


# --- GA / FGA ---------------------------------------------------------------------------


def test_grouping_metrics_on_a_hand_made_example() -> None:
    truth = ["A", "A", "A", "B", "B", "C", "D"]
    predicted = [1, 1, 1, 2, 3, 4, 4]
    # Group A is recovered exactly (3 lines); B is split; C and D are merged.
    scores = grouping_scores(truth, predicted)
    assert scores.ga == pytest.approx(3 / 7)
    assert (scores.correct_groups, scores.predicted_groups, scores.true_groups) == (1, 4, 4)
    assert scores.fga == pytest.approx(0.25)  # precision 1/4, recall 1/4
    assert grouping_accuracy(truth, predicted) == scores.ga
    assert f1_grouping_accuracy(truth, predicted) == scores.fga


def test_grouping_metrics_edge_cases() -> None:
    assert grouping_accuracy(["x", "y"], ["p", "q"]) == 1.0
    assert f1_grouping_accuracy(["x", "x"], ["p", "q"]) == 0.0
    assert grouping_scores([], []).ga == 1.0
    with pytest.raises(ValueError):
        grouping_accuracy(["x"], [])


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_loghub", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_exports_the_same_metrics() -> None:
    bench = _load_bench()
    truth = ["A", "A", "B"]
    predicted = [0, 0, 1]
    assert bench.grouping_accuracy(truth, predicted) == 1.0
    assert bench.f1_grouping_accuracy(truth, [0, 1, 1]) == 0.0
