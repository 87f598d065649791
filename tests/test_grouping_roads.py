"""Golden pairs from issue 9 (tests/grouping_inputs/roads.jsonl): one bug, one signature, whatever road.

Each case is two real-shaped log lines that are one bug reached through two entry points or
two transports (`same: true`), or two bugs that must stay apart (`same: false`). sig:v2 must
get every case right; sig:v1 got the issue's pairs wrong, which shows the cases can fail.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from traintriage.grouping.rules import rules_for
from traintriage.grouping.signature import Grouper
from traintriage.ingest.formats import LineReader

CASES = [
    json.loads(line)
    for line in (Path(__file__).parent / "grouping_inputs" / "roads.jsonl").read_text().splitlines()
]


def ids(case: dict[str, object], algorithm: str) -> list[str]:
    grouper, reader = Grouper(rules_for(algorithm)), LineReader()
    return [grouper.signature_of(reader.read(str(line).encode())).id for line in case["lines"]]  # type: ignore[attr-defined]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden_roads(case: dict[str, object]) -> None:
    a, b = ids(case, "sig:v2")
    assert (a == b) is case["same"], case["name"]


def test_v1_got_the_issue_pairs_wrong() -> None:
    wrong = [c["name"] for c in CASES if c["same"] and len(set(ids(c, "sig:v1"))) > 1]
    assert len(wrong) >= 4, wrong
    assert all(len(set(ids(c, "sig:v1"))) == 2 for c in CASES if not c["same"])
