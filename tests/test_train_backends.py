"""The train commands behave the same on SQLite and PostgreSQL (same data, same answers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from traintriage.core.timeparse import parse_timestamp
from traintriage.services.status import gate, suggest_threshold, train_status
from traintriage.services.train import load_train
from traintriage.store.db import Store
from traintriage.store.trains import load_deploy_steps
from traintriage_sim import simulate
from traintriage_sim.scoring import load_simulation

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    simulate(out, events=8_000, weeks=2, seed=9)
    return out


def test_status_json_identical_on_both_backends(sim: Path, tmp_path: Path, pg_url: str) -> None:
    train = json.loads((sim / "truth" / "train.json").read_text())
    answers = []
    for url in (str(tmp_path / "t.db"), pg_url):
        with Store(url) as store:
            load_simulation(store, sim)
            ctx = load_train(store)
            assert len(load_deploy_steps(store)) == len(train["steps"])
            out = []
            for cp in train["checkpoints"]:
                at = parse_timestamp(cp["time"]) - 300
                out.append(train_status(store, cp["version"], at, context=ctx).to_dict())
            out.append(gate(store, cp["version"], cp["group"], at, 20.0).to_dict())
            suggestion = suggest_threshold(store, 20.0)
            out.append(suggestion.to_dict() if suggestion else None)
            answers.append(out)
    assert answers[0] == answers[1]
    assert any(a["verdict"] != "go" for a in answers[0][:-2])


def test_logspam_follows_the_configured_thresholds(tmp_path: Path) -> None:
    """Bug (issue 7): the store fetched busiest-hour counts only for signatures above a hard-coded
    100 events, so with logspam_per_hour = 1 a NEW signature of 40 events was not LOGSPAM and
    its JSON said max_events_1h: 0."""
    from tests.web_helpers import NEW, build_train
    from traintriage.detect.config import DetectionConfig

    train = build_train(tmp_path / "train")
    with Store(train.db) as store:
        decision = train_status(store, NEW, train.at, DetectionConfig(logspam_per_hour=1))
        default = train_status(store, NEW, train.at)
    entry = next(e for e in decision.to_dict()["new"] if e["signature"] == train.new_sig)
    assert entry["events"] == 40
    assert entry["max_events_1h"] >= 1 and entry["max_events_12h"] >= entry["max_events_1h"]
    assert "logspam" in entry["labels"]
    assert train.new_sig in [e["signature"] for e in decision.to_dict()["logspam"]]
    plain = next(e for e in default.to_dict()["new"] if e["signature"] == train.new_sig)
    assert "logspam" not in plain["labels"]  # 40 events stay under the default 100/h


def test_reads_never_write_inferred_groups_until_asked(tmp_path: Path) -> None:
    """Loading the train (every page, every status) infers missing wiki groups in memory only;
    `infer_wiki_groups` is the explicit step that stores them."""
    from tests.web_helpers import NEW, build_train
    from traintriage.services.train import infer_wiki_groups

    train = build_train(tmp_path / "train")
    with Store(train.db) as store:
        store.execute("DELETE FROM wiki_groups")
        ctx = load_train(store)
        assert ctx.inferred_wikis > 0 and ctx.membership.group_of("commonswiki") == "group1"
        train_status(store, NEW, train.at)
        assert store.query("SELECT COUNT(*) FROM wiki_groups") == [(0,)]
        assert load_train(store, infer=False).membership.group_of("commonswiki") is None
        stored = infer_wiki_groups(store)
        assert stored == ctx.inferred_wikis
        assert store.query("SELECT COUNT(*) FROM wiki_groups WHERE inferred = 1") == [(stored,)]
        again = load_train(store)
        assert again.membership.lists == ctx.membership.lists and again.inferred_wikis == stored
        assert infer_wiki_groups(store) == 0  # nothing left to infer
