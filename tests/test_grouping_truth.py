"""Grouping quality against the simulator's ground truth (one true bug label per line)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from traintriage.grouping.metrics import f1_grouping_accuracy, grouping_accuracy
from traintriage.grouping.signature import Grouper
from traintriage.ingest.formats import LineError, LineReader
from traintriage.ingest.sources import describe, iter_lines, open_binary
from traintriage_sim import simulate


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    simulate(out, events=30_000, weeks=3, seed=4)
    return out


def label_lines(sim: Path) -> tuple[list[str], list[str], list[tuple[str, int, str]]]:
    truth_rows = [json.loads(r) for r in (sim / "truth" / "lines.jsonl").read_text().splitlines()]
    truth = {(r["file"], r["line"]): r for r in truth_rows}
    reader, grouper = LineReader(), Grouper()
    true_labels, predicted, wrongly_rejected = [], [], []
    for path in sorted((sim / "logs").iterdir()):
        rel = f"logs/{path.name}"
        stream = open_binary(describe(str(path)))
        for number, _, raw in iter_lines(stream):
            row = truth[(rel, number)]
            try:
                ev = reader.read(raw)
            except LineError as err:
                if "malformed" not in row:
                    wrongly_rejected.append((rel, number, err.reason))
                continue
            if "malformed" in row:
                continue  # damaged on purpose but still readable (e.g. a valid JSON prefix)
            true_labels.append(row["bug"])
            predicted.append(grouper.signature_of(ev).id)
        stream.close()
    return true_labels, predicted, wrongly_rejected


def test_every_event_line_is_read_and_grouped_like_the_truth(sim: Path) -> None:
    truth, predicted, wrongly_rejected = label_lines(sim)
    assert not wrongly_rejected, wrongly_rejected[:5]
    ga = grouping_accuracy(truth, predicted)
    fga = f1_grouping_accuracy(truth, predicted)
    by_bug: dict[str, set[str]] = defaultdict(set)
    by_sig: dict[str, set[str]] = defaultdict(set)
    for t, p in zip(truth, predicted, strict=True):
        by_bug[t].add(p)
        by_sig[p].add(t)
    splits = {b: len(s) for b, s in by_bug.items() if len(s) > 1}
    merges = {s: sorted(b) for s, b in by_sig.items() if len(b) > 1}
    print(
        f"GA {ga:.3f} FGA {fga:.3f} bugs {len(by_bug)} signatures {len(by_sig)} splits {splits} merges {merges}"
    )
    assert not merges, f"distinct bugs merged: {merges}"
    assert ga >= 0.97 and fga >= 0.9, (ga, fga, splits)
