"""`regroup` re-keys a sig:v1 store to sig:v2 and keeps every review on the right bug.

A simulated train (bugs arriving through several entry points and transports, which
sig:v1 splits) is ingested with sig:v1; every signature gets a review whose note names
the bug its events belong to (known from the simulator's truth through request ids);
after the regroup each review must sit on a signature whose events are that bug, counts
must be unchanged per bug, split bugs must be merged, and ingest must go on with v2 ids.
Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from traintriage.ingest.formats import LineError, LineReader
from traintriage.ingest.pipeline import IngestOptions, ingest
from traintriage.ingest.sources import describe, iter_lines, open_binary
from traintriage.services.regroup import regroup
from traintriage.store.db import Store
from traintriage.store.reviews import add_review, audit_log, review_history
from traintriage_sim import simulate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    simulate(out, events=6_000, weeks=2, seed=9)
    return out


@pytest.fixture(scope="module")
def bug_of_request(sim: Path) -> dict[str, str]:
    """reqId -> bug label, from the simulator's truth (a request logs one bug)."""
    truth = {
        (r["file"], r["line"]): r
        for r in map(json.loads, (sim / "truth" / "lines.jsonl").read_text().splitlines())
    }
    reader = LineReader()
    out: dict[str, str] = {}
    for path in sorted((sim / "logs").iterdir()):
        for number, _, raw in iter_lines(open_binary(describe(str(path)))):
            row = truth[(f"logs/{path.name}", number)]
            try:
                ev = reader.read(raw)
            except LineError:
                continue
            if "malformed" not in row and ev.req_id:
                out[ev.req_id] = row["bug"]
    return out


def bugs_by_signature(store: Store, bug_of_request: dict[str, str]) -> dict[str, str]:
    """The bug of each stored signature: what its samples' requests were (all must agree)."""
    seen: dict[str, set[str]] = defaultdict(set)
    for sig, event in store.query("SELECT signature, event FROM samples"):
        req = json.loads(event).get("reqId")
        if req in bug_of_request:
            seen[str(sig)].add(bug_of_request[req])
    assert all(len(b) == 1 for b in seen.values()), {s: b for s, b in seen.items() if len(b) > 1}
    return {s: next(iter(b)) for s, b in seen.items()}


def events_per_bug(store: Store, bugs: dict[str, str]) -> Counter[str]:
    out: Counter[str] = Counter()
    for sig, events in store.query("SELECT signature, SUM(events) FROM counts GROUP BY signature"):
        out[bugs[str(sig)]] += int(events)
    return out


def test_regroup_keeps_every_review_on_its_bug(
    db_url: str, sim: Path, bug_of_request: dict[str, str]
) -> None:
    files = sorted(str(p) for p in (sim / "logs").iterdir())
    first, rest = files[: len(files) // 2], files[len(files) // 2 :]
    store = Store(db_url)
    try:
        ingest(store, first, IngestOptions(algorithm="sig:v1"))
        assert store.grouping_algorithms() == {"sig:v1"}
        before = bugs_by_signature(store, bug_of_request)
        v1_per_bug = Counter(before.values())
        assert max(v1_per_bug.values()) > 1  # v1 split some bug (the simulator is honest)
        for i, (sig, bug) in enumerate(sorted(before.items())):
            add_review(store, signature=sig, verdict="not-blocker", reviewer="ana", note=bug, at=1.6e9 + i)
        dup_sig = sorted(before)[0]
        target = next(s for s in sorted(before) if before[s] != before[dup_sig])
        add_review(
            store,
            signature=dup_sig,
            verdict="duplicate-of",
            target=target,
            reviewer="bo",
            note=before[dup_sig],
            at=1.7e9,
        )
        events_before = events_per_bug(store, before)
        total = store.query("SELECT SUM(events) FROM signatures")[0][0]

        dry = regroup(store, dry_run=True)
        assert dry.before == len(before) and store.grouping_algorithms() == {"sig:v1"}
        report = regroup(store, actor="ops", at=1.8e9)
        assert report.after < report.before and report.merged
        assert store.grouping_algorithms() == {"sig:v2"}

        after = bugs_by_signature(store, bug_of_request)
        assert Counter(after.values()) == Counter(set(before.values()))  # one signature per bug now
        assert events_per_bug(store, after) == events_before
        assert store.query("SELECT SUM(events) FROM signatures")[0][0] == total
        history = review_history(store)
        reviews = [r for rs in history.values() for r in rs]
        assert len(reviews) == len(before) + 1
        for sig, records in history.items():
            for r in records:
                assert r.note == after[sig], (sig, r.note, after[sig])
        dup = next(r for r in reviews if r.verdict == "duplicate-of")
        assert after[dup.target] == before[target]
        entries = [e for e in audit_log(store, limit=10_000) if e.action == "regroup"]
        assert len(entries) == report.after + 1 and all(e.actor == "ops" for e in entries)
        merged = [e for e in entries if e.detail.get("merged")]
        assert {e.signature for e in merged} == set(report.merged)
        assert regroup(store).before == 0  # nothing left to do

        # Ingest goes on with v2 ids from the regrouped miners: a bug seen before keeps its id.
        ingest(store, rest)
        final = bugs_by_signature(store, bug_of_request)
        per_bug = Counter(final.values())
        assert all(per_bug[b] == 1 for b in set(before.values())), {
            b: per_bug[b] for b in before.values() if per_bug[b] > 1
        }
    finally:
        store.close()


def test_regroup_command(tmp_path: Path, sim: Path) -> None:
    import subprocess
    import sys

    db = str(tmp_path / "t.db")
    store = Store(db)
    try:
        ingest(store, sorted(str(p) for p in (sim / "logs").iterdir())[:2], IngestOptions(algorithm="sig:v1"))
        n = store.query("SELECT COUNT(*) FROM signatures")[0][0]
    finally:
        store.close()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "traintriage", "regroup", "--db", db, *args],
            capture_output=True,
            text=True,
        )

    dry = run("--dry-run")
    assert dry.returncode == 0 and f"would re-key {n:,} signatures to" in dry.stdout
    out = run("--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["signatures_before"] == n and len(report["mapping"]) == n and not report["dry_run"]
    again = run()
    assert again.returncode == 0 and "nothing to regroup: every signature is already sig:v2" in again.stdout
