"""Issue 3's acceptance on a simulated train: replay `train status --at` and score it.

The simulation records, for every promotion, the decision Wikimedia's policy
expects, and for every version the bugs it introduced or regressed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from traintriage.core.timeparse import iso, parse_timestamp
from traintriage.store.db import Store
from traintriage_sim import simulate
from traintriage_sim.scoring import (
    detection_scores,
    load_simulation,
    replay_checkpoints,
    signature_bugs,
)

pytestmark = pytest.mark.slow

TT = [sys.executable, "-m", "traintriage"]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, str]]:
    root = tmp_path_factory.mktemp("replay")
    sim = root / "sim"
    simulate(sim, events=60_000, weeks=4, seed=2)
    db = str(root / "t.db")
    with Store(db) as store:
        load_simulation(store, sim)
    return sim, db, signature_bugs(sim)


def _checkpoints(sim: Path) -> tuple[dict[str, str], dict[str, str]]:
    """A no-go and a go checkpoint, with `time` moved to 5 minutes before the promotion
    (the deploy tool asks before it promotes)."""
    train = json.loads((sim / "truth" / "train.json").read_text())
    nogo = next(c for c in train["checkpoints"] if c["decision_practical"] == "no-go")
    go = next(c for c in train["checkpoints"] if c["decision_practical"] == "go" and c["group"] == "group0")
    for c in (nogo, go):
        c["time"] = iso(parse_timestamp(c["time"]) - 300)
    return nogo, go


def test_new_and_regressed_lists_match_the_truth(loaded: tuple[Path, str, dict[str, str]]) -> None:
    sim, db, bugs = loaded
    with Store(db) as store:
        scores = detection_scores(store, sim, bugs)
    truth = sum(len(s.truth) for s in scores)
    predicted = sum(len(s.predicted) for s in scores)
    hits = sum(s.hits for s in scores)
    for s in scores:
        print(
            f"{s.version}: precision {s.precision:.2f} recall {s.recall:.2f} missed {sorted(s.truth - s.predicted)} "
            f"extra {sorted(s.predicted - s.truth)}"
        )
    assert truth >= 10
    assert hits / predicted >= 0.9, "precision"
    assert hits / truth >= 0.8, "recall"


def test_decisions_before_each_promotion(loaded: tuple[Path, str, dict[str, str]]) -> None:
    sim, db, bugs = loaded
    with Store(db) as store:
        results = replay_checkpoints(store, sim, bugs)
    agree = 0
    for r in results:
        print(
            f"{r.time} {r.version} -> {r.group}: policy {r.expected_practical}, traintriage {r.got} ({r.rule})"
        )
        # never wave a train on when the policy (with its evidence floor) says no-go
        if r.expected_practical == "no-go":
            assert r.got in ("no-go", "rollback", "hold"), r
        agree += r.got == r.expected_practical
    assert agree / len(results) >= 0.6, f"{agree}/{len(results)}"


def test_train_status_json_and_gate_exit_codes_in_a_shell_script(
    loaded: tuple[Path, str, dict[str, str]], tmp_path: Path
) -> None:
    sim, db, _ = loaded
    nogo, go = _checkpoints(sim)
    out = subprocess.run(
        [*TT, "train", "status", nogo["version"], "--at", nogo["time"], "--db", db, "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    status = json.loads(out.stdout)
    for key in ("version", "stage", "verdict", "rules", "new", "regressed", "logspam"):
        assert key in status
    assert status["verdict"] in ("no-go", "rollback", "hold")
    assert all("signature" in e for e in status["new"] + status["regressed"] + status["logspam"])
    script = tmp_path / "deploy.sh"
    script.write_text(
        textwrap.dedent(f"""\
        set -u
        tt() {{ {sys.executable} -m traintriage "$@"; }}
        tt gate --version {go["version"]} --stage {go["group"]} --at {go["time"]} --db {db} >/dev/null; echo "go:$?"
        tt gate --version {nogo["version"]} --stage {nogo["group"]} --at {nogo["time"]} --db {db} >/dev/null; echo "nogo:$?"
        tt gate --version 1.99.0-wmf.1 --stage group1 --at {go["time"]} --db {db} >/dev/null; echo "unknown:$?"
        if tt gate --version {nogo["version"]} --stage {nogo["group"]} --at {nogo["time"]} --db {db} >/dev/null; then
          echo promote
        else
          echo hold-the-train
        fi
        """)
    )
    lines = subprocess.run(["bash", str(script)], capture_output=True, text=True).stdout.split()
    assert lines == ["go:0", "nogo:1", "unknown:66", "hold-the-train"], (
        lines
    )  # 66: not found, never an answer


def test_gate_prints_top_offenders_and_analyze_suggests_a_threshold(
    loaded: tuple[Path, str, dict[str, str]],
) -> None:
    sim, db, _ = loaded
    nogo, _ = _checkpoints(sim)
    out = subprocess.run(
        [
            *TT,
            "gate",
            "--version",
            nogo["version"],
            "--stage",
            nogo["group"],
            "--at",
            nogo["time"],
            "--db",
            db,
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1
    assert "top offenders:" in out.stdout
    offenders = out.stdout.split("top offenders:")[1].strip().splitlines()
    assert 1 <= len(offenders) <= 5
    strict = subprocess.run(
        [
            *TT,
            "gate",
            "--version",
            nogo["version"],
            "--stage",
            "group0",
            "--at",
            nogo["time"],
            "--db",
            db,
            "--threshold",
            "1",
            "--window",
            "1h",
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert strict.returncode == 1 and "absolute check" in json.loads(strict.stdout)["reason"]
    analyze = subprocess.run(
        [*TT, "gate", "analyze", "--db", db, "--json"], capture_output=True, text=True, check=True
    )
    result = json.loads(analyze.stdout)
    assert result["threshold"] >= 1 and result["windows"] > 1000
    assert result["threshold"] >= result["mean"]
