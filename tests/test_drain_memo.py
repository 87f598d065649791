"""The template miner's memo is exact: with it, every answer and the final state are as without it."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from traintriage.grouping.drain import TemplateMiner
from traintriage.grouping.mask import mask_tokens
from traintriage.grouping.rules import default_rules

SYSTEMS = ["HDFS", "Hadoop", "OpenSSH", "Linux", "Spark", "BGL", "Apache", "Zookeeper"]


def _messages(loghub_dir: Path, system: str) -> list[list[str]]:
    path = loghub_dir / system / f"{system}_2k.log_structured_corrected.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = [row["Content"] for row in csv.DictReader(fh)]
    return [mask_tokens(text) or ["<empty>"] for text in rows]


def _miners() -> list[tuple[TemplateMiner, TemplateMiner]]:
    rules = default_rules()
    typed = {
        "sim_threshold": rules.message_similarity,
        "shapes": rules.token_shapes,
        "elastic": rules.message_elastic,
    }
    return [
        (TemplateMiner(), TemplateMiner()),
        (TemplateMiner(**typed), TemplateMiner(**typed)),  # type: ignore[arg-type]
    ]


@pytest.mark.parametrize("system", SYSTEMS)
def test_memo_gives_the_answers_and_state_of_no_memo(loghub_dir: Path, system: str) -> None:
    messages = _messages(loghub_dir, system)
    for memo, plain in _miners():
        hits = 0
        for tokens in messages + messages:  # the second pass repeats every message
            before = len(memo._memo)
            got = memo.add(list(tokens))
            hits += len(memo._memo) == before and not got[1]
            assert got == plain._add(list(tokens))  # the miner's work without the memo
        assert memo.to_state() == plain.to_state()
        assert hits > len(messages) // 2  # the memo did answer most repeats


def test_a_change_of_state_forgets_the_memo() -> None:
    miner = TemplateMiner()
    assert miner.add(["open", "file", "a"]) == (0, True)
    assert miner.add(["open", "file", "a"]) == (0, False)
    assert ("open", "file", "a") in miner._memo
    generation = miner.generation
    assert miner.add(["open", "file", "b"]) == (1, True)  # a new cluster: a new generation
    assert miner.generation > generation and not miner._memo
    assert miner.add(["open", "file", "a"]) == (0, False)  # worked out again, then remembered
    assert ("open", "file", "a") in miner._memo
