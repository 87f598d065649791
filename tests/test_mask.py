"""Value masking: golden cases, invariants, the rules file, and the fast paths."""

from __future__ import annotations

import csv
import json
import random
import re
import tomllib
import uuid
from pathlib import Path

import pytest

from traintriage.grouping import mask
from traintriage.grouping.mask import load_rules, mask_text, mask_tokens, strip_versions

GOLDEN = Path(__file__).parent / "grouping_inputs" / "masking.jsonl"
LOGHUB = Path(__file__).resolve().parents[2] / "shared" / "data" / "loghub_2k"


def _golden() -> list[dict[str, str]]:
    with GOLDEN.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


CASES = _golden()


def test_golden_file_is_big_enough() -> None:
    assert len(CASES) >= 60
    assert len({c["in"] for c in CASES}) == len(CASES), "duplicate inputs"


@pytest.mark.parametrize("case", CASES, ids=[c.get("note", c["in"])[:60] for c in CASES])
def test_golden(case: dict[str, str]) -> None:
    assert mask_text(case["in"]) == case["out"]
    assert mask_tokens(case["in"]) == case["out"].split()


@pytest.mark.parametrize("case", CASES, ids=[c.get("note", c["in"])[:60] for c in CASES])
def test_slow_path_gives_the_same_tokens(case: dict[str, str]) -> None:
    # A trailing newline makes the text non-printable, forcing the regex path.
    assert mask_text(case["in"] + "\n") == mask_text(case["in"]) + "\n"


@pytest.mark.parametrize("case", CASES, ids=[c.get("note", c["in"])[:60] for c in CASES])
def test_non_ascii_path_gives_the_same_tokens(case: dict[str, str]) -> None:
    # A trailing non-ASCII word moves an ASCII text to the str (regex search) path.
    assert mask_text(case["in"] + " café") == mask_text(case["in"]) + " café"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/srv/mediawiki/php-1.36.0-wmf.30/includes/X.php", "/srv/mediawiki/php-<version>/includes/X.php"),
        ("1.36.0-wmf.30", "<version>"),
        ("wmf/1.36.0-wmf.30", "<version>"),
        ("php-1.23wmf10 and 1.23wmf.10", "php-<version> and <version>"),
        ("MediaWiki 1.36 and PHP 7.4.30", "MediaWiki 1.36 and PHP 7.4.30"),  # not train versions
        ("no version here", "no version here"),
    ],
)
def test_strip_versions(text: str, expected: str) -> None:
    assert strip_versions(text) == expected


# Messages that differ only in values must mask to one template.
SAME = [
    [
        "Uncaught RedisException: Connection timed out in /srv/mediawiki/php-1.36.0-wmf.30/src/Profiler.php:276",
        "Uncaught RedisException: Connection timed out in /srv/mediawiki/php-1.36.0-wmf.37/src/Profiler.php:281",
    ],
    [
        'Memcached error for key "enwiki:pcache:idhash:41768916-0!canonical" on server "127.0.0.1:11213": A TIMEOUT OCCURRED',
        'Memcached error for key "dewiki:pcache:idhash:1-0!canonical" on server "10.64.0.7:11211": A TIMEOUT OCCURRED',
    ],
    [
        '[8fabbd5e-184a-47e0-9bb8-514846c8ae2c] /w/api.php   PHP Warning: Undefined array key "title"',
        '[46c86a62-c331-4e29-ac35-a6ab1d19fe47] /w/api.php   PHP Warning: Undefined array key "user"',
    ],
    [
        "Query: UPDATE `page` SET page_touched = '20210211203001' WHERE page_id = '123'",
        "Query: UPDATE `page` SET page_touched = '20210212101010' WHERE page_id = '98765'",
    ],
    [
        "Lock wait timeout for page 41768916 on db1123 after 12.5s at 2021-02-11T20:31:09Z",
        "Lock wait timeout for page 7 on db2077 after 3s at 2021-03-01T01:02:03Z",
    ],
    [
        "Receiving block blk_-7646004878694144580 src: /10.251.202.181:47130 dest: /10.251.202.181:50010",
        "Receiving block blk_38865049064139660 src: /10.250.1.2:1 dest: /10.250.1.2:50010",
    ],
    [
        "BLOCK* ask 10.250.17.177:50010 to delete  blk_1 blk_2 blk_3",
        "BLOCK* ask 10.250.17.178:50010 to delete  blk_-4",
    ],
    [
        "connection from 84.102.20.2 () at Sun Jul 24 02:38:22 2005",
        "connection from 216.12.111.241 () at Thu Jul 21 09:04:41 2005",
    ],
]


@pytest.mark.parametrize("group", SAME, ids=[g[0][:40] for g in SAME])
def test_values_only_differences_mask_equal(group: list[str]) -> None:
    assert len({mask_text(text) for text in group}) == 1


# Messages that differ in words, classes, error codes or status codes must stay apart.
DIFFERENT = [
    (
        "Wikimedia\\Rdbms\\DBQueryError: Error 1205: Lock wait timeout",
        "Wikimedia\\Rdbms\\DBQueryError: Error 1213: Lock wait timeout",
    ),
    ("Wikimedia\\Rdbms\\DBQueryError: Error 1205: x", "Wikimedia\\Rdbms\\DBConnectionError: Error 1205: x"),
    ("HTTP 503 from upstream", "HTTP 404 from upstream"),
    ("Argument 1 passed to Foo::bar() must be int", "Argument 2 passed to Foo::bar() must be int"),
    ("PHP Notice: Undefined index: foo", "PHP Warning: Undefined index: foo"),
    ("Foo::bar() failed", "Foo::baz() failed"),
    ("Bad UTF-8 at start of string", "Bad UTF-16 at start of string"),
    ("Failed on shard s3", "Failed on shard s4"),
    ("Checksum md5 mismatch", "Checksum sha256 mismatch"),
    ("Value {arg1} is wrong", "Value {arg2} is wrong"),
    ("errno 111 on connect", "errno 113 on connect"),
]


@pytest.mark.parametrize(("a", "b"), DIFFERENT, ids=[a[:40] for a, _ in DIFFERENT])
def test_word_differences_stay_different(a: str, b: str) -> None:
    assert mask_text(a) != mask_text(b)


def test_mask_is_pure_and_deterministic() -> None:
    texts = [c["in"] for c in CASES]
    first = [mask_text(t) for t in texts]
    assert [mask_text(t) for t in reversed(texts)] == list(reversed(first))
    assert not [name for name in vars(mask) if "cache" in name.lower() and not name.startswith("__")]


def test_idempotent_on_golden_outputs() -> None:
    for case in CASES:
        assert mask_text(case["out"]) == case["out"], case["note"]


# --- the rules file ----------------------------------------------------------------------


def _raw_rules() -> dict[str, object]:
    path = Path(mask.__file__).resolve().parents[1] / "rules" / "masking.toml"
    return tomllib.loads(path.read_text(encoding="utf-8"))


def test_every_rule_explains_its_trade_offs() -> None:
    rules = load_rules()
    named = [rules.version, *rules.text, *rules.tokens, *rules.compound]
    for rule in named:
        assert len(rule.comment) > 40, rule.name
    assert len({rule.name for rule in named}) == len(named), "rule names must be unique"
    assert rules.algorithm == mask.ALGORITHM


def test_loader_rejects_capturing_groups_in_token_rules() -> None:
    data = _raw_rules()
    bad = dict(data)
    bad["token"] = [*data["token"], {"name": "bad", "pattern": "(a)", "placeholder": "<x>", "comment": "c"}]  # type: ignore[misc]
    with pytest.raises(ValueError, match="bad"):
        load_rules(bad)


def test_loader_names_a_broken_pattern() -> None:
    data = _raw_rules()
    bad = dict(data)
    bad["token"] = [*data["token"], {"name": "broken", "pattern": "[a", "placeholder": "<x>", "comment": "c"}]  # type: ignore[misc]
    with pytest.raises(ValueError, match="broken"):
        load_rules(bad)


# --- fast paths must equal the rules --------------------------------------------------------


def _sample_tokens() -> list[str]:
    rng = random.Random(7)
    tokens = {t for c in CASES for t in c["in"].split() if re.search(r"[\d@]", t)}
    alphabet = "0123456789" * 3 + "..::--+,xa"
    for _ in range(3000):
        tokens.add("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 20))))
    names = ["Foo.php", "key", "a-b", "x_y", "db1001", "Foo1.php", "a:b", "ab"]
    for _ in range(300):
        tokens.add(str(uuid.UUID(int=rng.getrandbits(128))))
        tokens.add(str(uuid.UUID(int=rng.getrandbits(128))).replace("-", rng.choice("-_x")))
        tokens.add(f"{rng.choice(names)}:{rng.randint(0, 10 ** rng.randint(1, 8))}")
        tokens.add(f"[{rng.choice(names)}({rng.randint(0, 999)}):")
    for _ in range(500):
        tokens.add(
            ".".join(str(rng.randint(0, 999)) for _ in range(rng.randint(1, 5)))
            + rng.choice(["", ":80", ":123456"])
        )
        tokens.add(":".join(f"{rng.randint(0, 99):0{rng.randint(1, 2)}d}" for _ in range(rng.randint(2, 4))))
        tokens.add(str(rng.randint(0, 10**15)) + rng.choice(["", ".5", "ms", "%"]))
    if LOGHUB.is_dir():
        for path in sorted(LOGHUB.glob("*/*_structured_corrected.csv")):
            with path.open(newline="", encoding="utf-8") as f:
                for row in csv.DictReader(f):
                    tokens.update(t for t in row["Content"].split() if re.search(r"[\d@]", t))
    return sorted(tokens)


@pytest.mark.slow
def test_fast_paths_agree_with_the_rules() -> None:
    mismatches = [(t, mask._mask_token(t), mask._reference_token(t)) for t in _sample_tokens()]
    mismatches = [m for m in mismatches if m[1] != m[2]]
    assert not mismatches[:20]
