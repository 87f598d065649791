"""Score traintriage against a simulation's ground truth (used by tests and bench/).

Loads a simulated directory into a store the way a user would (ingest logs,
import deploys, dblists and exposure), then:

* `replay_checkpoints`: `train status --at` just before every promotion the
  simulation recorded, beside the decision Wikimedia's policy expects there;
* `detection_scores`: per version, the bugs behind our NEW/REGRESSED/LOGSPAM/
  DEPRECATION signatures against the bugs the simulation introduced or
  regressed in that version (precision and recall).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from traintriage.core.timeparse import parse_timestamp
from traintriage.detect.config import DetectionConfig
from traintriage.grouping.signature import Grouper
from traintriage.ingest.formats import LineError, LineReader
from traintriage.ingest.pipeline import ingest
from traintriage.ingest.sources import describe, iter_lines, open_binary
from traintriage.services.status import load_context, train_status
from traintriage.store.db import Store
from traintriage.store.trains import save_deploy_steps, save_exposure, save_membership
from traintriage.train.deploylog import parse_file
from traintriage.train.exposure import parse_exposure
from traintriage.train.groups import load_dblists

ATTRIBUTABLE = ("new", "regressed", "logspam", "deprecation")


def load_simulation(store: Store, sim: Path) -> None:
    """Ingest a simulated directory into the store, as `make demo` does."""
    ingest(store, [str(p) for p in sorted((sim / "logs").iterdir())])
    save_membership(store, load_dblists(sim / "dblists"), str(sim / "dblists"))
    save_deploy_steps(store, parse_file(sim / "deploys" / "wikiversions.log").steps)
    save_exposure(store, parse_exposure((sim / "exposure.csv").read_text()).rows)


def signature_bugs(sim: Path) -> dict[str, str]:
    """Majority true bug of each signature (re-grouping every line like ingest does)."""
    truth = {}
    for row in (sim / "truth" / "lines.jsonl").read_text().splitlines():
        r = json.loads(row)
        if "bug" in r and "malformed" not in r:
            truth[(r["file"], r["line"])] = r["bug"]
    reader, grouper = LineReader(), Grouper()
    votes: dict[str, Counter[str]] = defaultdict(Counter)
    for path in sorted((sim / "logs").iterdir()):
        stream = open_binary(describe(str(path)))
        for number, _, raw in iter_lines(stream):
            bug = truth.get((f"logs/{path.name}", number))
            if bug is None:
                continue
            try:
                ev = reader.read(raw)
            except LineError:
                continue
            votes[grouper.signature_of(ev).id][bug] += 1
        stream.close()
    return {sig: c.most_common(1)[0][0] for sig, c in votes.items()}


@dataclass
class ReplayPoint:
    time: str
    version: str
    group: str
    expected: str
    expected_practical: str
    got: str
    rule: str
    expected_bugs: list[str]
    flagged_bugs: list[str]
    stopped_bugs: list[str]


def replay_checkpoints(
    store: Store,
    sim: Path,
    sig_bugs: dict[str, str],
    config: DetectionConfig | None = None,
    before_seconds: float = 300.0,
) -> list[ReplayPoint]:
    """`train status --at` (promotion time − 5 min) at every recorded checkpoint."""
    train = json.loads((sim / "truth" / "train.json").read_text())
    ctx = load_context(store)
    out = []
    for cp in train["checkpoints"]:
        at = parse_timestamp(cp["time"]) - before_seconds
        decision = train_status(store, cp["version"], at, config, context=ctx)
        c = decision.classification
        flagged = sorted({sig_bugs.get(e.signature, "?") for e in [*c.new, *c.regressed, *c.logspam]})
        out.append(
            ReplayPoint(
                cp["time"],
                cp["version"],
                cp["group"],
                cp["decision"],
                cp.get("decision_practical", cp["decision"]),
                decision.verdict,
                decision.rule,
                sorted(cp.get("bugs", [])),
                flagged,
                sorted({sig_bugs.get(e.signature, "?") for e in c.stopped}),
            )
        )
    return out


@dataclass
class VersionScore:
    version: str
    truth: set[str]
    predicted: set[str]

    @property
    def hits(self) -> int:
        return len(self.truth & self.predicted)

    @property
    def precision(self) -> float:
        return self.hits / len(self.predicted) if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.hits / len(self.truth) if self.truth else 1.0


def detection_scores(
    store: Store, sim: Path, sig_bugs: dict[str, str], config: DetectionConfig | None = None
) -> list[VersionScore]:
    """Per version, at the end of its train: flagged bugs vs the bugs it introduced or regressed."""
    bugs = json.loads((sim / "truth" / "bugs.json").read_text())
    train = json.loads((sim / "truth" / "train.json").read_text())
    ctx = load_context(store)
    end = parse_timestamp(train["window"]["end"])
    versions = train["versions"]
    scores = []
    for i, version in enumerate(versions):
        truth = {
            b["bug"]
            for b in bugs
            if b["kind"] in ATTRIBUTABLE and version in (b.get("introduced_in"), b.get("regressed_in"))
        }
        # evaluate just before the next train starts (or at the end of the simulation)
        nxt = [s for s in train["steps"] if i + 1 < len(versions) and s["version"] == versions[i + 1]]
        at = parse_timestamp(nxt[0]["time"]) - 60 if nxt else end
        decision = train_status(store, version, at, config, context=ctx)
        c = decision.classification
        labelled = [*c.new, *c.regressed, *c.logspam, *c.deprecation, *c.single_host, *c.stopped]
        predicted = {sig_bugs.get(e.signature, "?") for e in labelled}
        scores.append(VersionScore(version, truth, predicted))
    return scores
