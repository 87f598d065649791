"""The train simulator: deterministic, self-consistent, and its truth matches its logs."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import json
import re
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from traintriage_sim import SimulationSummary, iter_event_lines, simulate
from traintriage_sim.scenario import build

pytestmark = pytest.mark.slow

KINDS = {"background", "new", "regressed", "fixed", "host-spike", "logspam", "deprecation"}
DEPLOY_LINE = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}) (.+?)\s*\| (.+)$")
UDP2LOG = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) \[(\S+)\] (\S+) (\S+) (\S+) (\S+) (\S+): ")
STAGES = ("testwikis", "group0", "group1", "group2")


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimulationSummary]:
    out = tmp_path_factory.mktemp("sim")
    return out, simulate(out, events=20_000, weeks=2, seed=7)


def log_bytes(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()


def parse(line: bytes) -> dict[str, str] | None:
    """Just enough of every format to check the simulator: time, version, wiki, channel."""
    try:
        text = line.decode()
    except UnicodeDecodeError:
        return None
    try:
        if text.startswith("{"):
            d = json.loads(text)
            if "ecs" in d:
                return {
                    "ts": d["@timestamp"],
                    "version": d["service"]["version"],
                    "wiki": d["labels"]["wiki"],
                    "channel": d["labels"]["channel"],
                    "reqid": d["trace"]["id"],
                }
            return {
                "ts": d["@timestamp"],
                "version": d["mwversion"],
                "wiki": d["wiki"],
                "channel": d["channel"],
                "reqid": d["reqId"],
            }
        if " mediawiki: @cee: " in text[:80]:
            d = json.loads(text.split("@cee: ", 1)[1])
            return {
                "ts": d["@timestamp"],
                "version": d["mwversion"],
                "wiki": d["wiki"],
                "channel": d["channel"],
                "reqid": d["reqId"],
            }
    except (ValueError, KeyError):
        return None
    m = UDP2LOG.match(text)
    if m is None:
        return None
    return {
        "ts": m.group(1).replace(" ", "T") + "+00:00",
        "reqid": m.group(2),
        "wiki": m.group(4),
        "version": m.group(5),
        "channel": m.group(6),
    }


def epoch(ts: str) -> float:
    return dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def read_all(out: Path) -> list[tuple[str, int, bytes, dict[str, object]]]:
    truth = [json.loads(x) for x in (out / "truth" / "lines.jsonl").read_text().splitlines()]
    rows = []
    it = iter(truth)
    for f in sorted((out / "logs").iterdir()):
        lines = log_bytes(f).split(b"\n")
        assert lines[-1] == b"", f"{f.name} must end with a newline"
        for i, line in enumerate(lines[:-1], 1):
            t = next(it)
            rows.append((f"logs/{f.name}", i, line, t))
    assert next(it, None) is None, "more truth rows than log lines"
    return rows


@pytest.fixture(scope="module")
def rows(sim: tuple[Path, SimulationSummary]) -> list[tuple[str, int, bytes, dict[str, object]]]:
    return read_all(sim[0])


@pytest.fixture(scope="module")
def bugs(sim: tuple[Path, SimulationSummary]) -> dict[str, dict[str, object]]:
    return {b["bug"]: b for b in json.loads((sim[0] / "truth" / "bugs.json").read_text())}


@pytest.fixture(scope="module")
def train(sim: tuple[Path, SimulationSummary]) -> dict[str, object]:
    return json.loads((sim[0] / "truth" / "train.json").read_text())


def digest(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a = simulate(tmp_path / "a", events=4000, weeks=2, seed=3)
    b = simulate(tmp_path / "b", events=4000, weeks=2, seed=3)
    simulate(tmp_path / "c", events=4000, weeks=2, seed=4)
    assert a.lines == b.lines
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a")["truth/lines.jsonl"] != digest(tmp_path / "c")["truth/lines.jsonl"]


def test_every_log_line_has_exactly_one_truth_row(sim, rows) -> None:
    out, summary = sim
    assert len(rows) == summary.lines > 15_000
    for name, line_no, _line, t in rows:
        assert t["file"] == name and t["line"] == line_no
        assert ("bug" in t) or ("malformed" in t)


def test_truth_labels_match_the_lines(rows, bugs) -> None:
    for _name, _no, line, t in rows:
        if "malformed" in t:
            continue
        ev = parse(line)
        assert ev is not None, line[:200]
        assert ev["channel"] == bugs[str(t["bug"])]["channel"]


def test_lines_are_in_time_order_per_file(rows) -> None:
    last: dict[str, float] = {}
    for name, _no, line, t in rows:
        ev = None if "malformed" in t else parse(line)
        if ev is None:
            continue
        ts = epoch(ev["ts"])
        assert ts >= last.get(name, 0.0) - 1.0  # udp2log has whole seconds only
        assert name.endswith(dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d.log")) or name.endswith(
            dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d.log.gz")
        )
        last[name] = max(ts, last.get(name, 0.0))


def test_each_bug_kind_is_present_in_truth_and_logs(rows, bugs) -> None:
    assert len(bugs) >= 35  # two weeks here
    assert 40 <= len(build(dt.date(2021, 1, 19), 4, 1).bugs) <= 80  # the default four weeks
    assert {str(b["kind"]) for b in bugs.values()} == KINDS
    seen = Counter(str(bugs[str(t["bug"])]["kind"]) for *_, t in rows if "bug" in t)
    assert set(seen) == KINDS, seen
    assert any(b["trap"] for b in bugs.values())
    spikes = [b for b in bugs.values() if b["kind"] == "host-spike"]
    assert spikes and all(b["host"] and b["window"] for b in spikes)


def test_distinct_bug_traps_are_distinct_labels(bugs) -> None:
    by_title: dict[str, set[str]] = defaultdict(set)
    for b in bugs.values():
        text = str(b["title"]).split(": ", 1)[-1]
        by_title[text].add(str(b["bug"]))
    shared = {k: v for k, v in by_title.items() if len(v) > 1}
    assert "Failed to load data blob from tt:<n>" in shared  # same text, other class
    assert 'Could not connect to server "{redis_server}"' in shared  # same text, other channel
    assert "Call to a member function getId() on null" in shared  # same text, other code site


def test_versions_match_the_deploy_timeline(sim, rows, train) -> None:
    out, _ = sim
    group_of: dict[str, str] = {}
    for stage in STAGES:  # first stage listing a wiki wins (group0.dblist also lists the test wikis)
        for db in (out / "dblists" / f"{stage}.dblist").read_text().split():
            if not db.startswith("#"):
                group_of.setdefault(db, stage)
    steps = [(epoch(s["time"]), s["state"]) for s in train["steps"]]
    base = {g: train["base_version"] for g in STAGES}

    def version_at(ts: float, group: str) -> str:
        state = base
        for t, st in steps:
            if t > ts:
                break
            state = st
        return state[group]

    checked = 0
    for *_, line, t in rows:
        ev = None if "malformed" in t else parse(line)
        if ev is not None:
            assert ev["version"] == version_at(epoch(ev["ts"]), group_of[ev["wiki"]]), ev
            checked += 1
    assert checked > 15_000


def test_two_versions_live_during_each_train(sim, train) -> None:
    """exposure.csv serves exactly the versions wikiversions says are live, never more than two.

    During a train (testwikis to group2) two versions serve traffic, except
    after a rollback that sent every wiki back. After the group2 promotion
    until next Tuesday only one version serves, as on the real train.
    """
    out, _ = sim
    per_hour: dict[str, set[str]] = defaultdict(set)
    with open(out / "exposure.csv", newline="") as f:
        for r in csv.DictReader(f):
            assert int(r["requests"]) > 0
            per_hour[r["hour"]].add(r["version"])
    states = [(epoch(train["window"]["start"]), {g: train["base_version"] for g in STAGES})]
    states += [(epoch(s["time"]), s["state"]) for s in train["steps"]]
    windows = []
    for version in train["versions"]:
        mine = [
            epoch(s["time"]) for s in train["steps"] if s["version"] == version and s["action"] == "forward"
        ]
        last = max(
            epoch(s["time"])
            for s in train["steps"]
            if s["version"] == version and s["group"] == "group2" and s["action"] == "forward"
        )
        windows.append((min(mine), last))
    two = train_hours = 0
    for key, live in per_hour.items():
        h0 = epoch(key)
        expect: set[str] = set()
        for i, (t, st) in enumerate(states):
            t_next = states[i + 1][0] if i + 1 < len(states) else float("inf")
            if t < h0 + 3600 and t_next > h0:
                expect |= set(st.values())
        assert live == expect, key
        if any(a <= h0 and h0 + 3600 <= b for a, b in windows):
            train_hours += 1
            two += len(live) == 2
    assert max(len(v) for v in per_hour.values()) == 2
    assert train_hours > 80 and two >= 0.7 * train_hours, (two, train_hours)


def test_deploy_log_parses_and_has_rollbacks(sim, train) -> None:
    out, _ = sim
    lines = (out / "deploys" / "wikiversions.log").read_text().splitlines()
    parsed = [DEPLOY_LINE.match(x) for x in lines]
    assert all(parsed), lines
    subjects = [m.group(3) for m in parsed if m]
    times = [m.group(1) for m in parsed if m]
    assert times == sorted(times)
    assert any(s.startswith("testwikis wikis to 1.36.0-wmf.") for s in subjects)
    assert any(s.startswith('Revert "group0 wikis to ') for s in subjects)
    assert any(s.startswith("Rollback group0 to ") for s in subjects)
    assert any(s.startswith("all wikis to ") for s in subjects)
    assert train["rollbacks"] and all(r["cause"] for r in train["rollbacks"])


def test_checkpoint_decisions(train, bugs) -> None:
    decisions = Counter(c["decision"] for c in train["checkpoints"])
    assert decisions["no-go"] and decisions["hold"] and decisions["go"], decisions
    for c in train["checkpoints"]:
        assert c["group"] in ("group0", "group1", "group2")
        for b in c["blocking"]:
            assert bugs[b["bug"]]["channel"] in ("exception", "fatal")
            assert bugs[b["bug"]]["kind"] in ("new", "regressed")
        if c["decision"] == "hold":
            assert c["logspam"] and all(e["max_per_hour"] > 100 for e in c["logspam"])
    reverted_for = {b for r in train["rollbacks"] for b in r["cause"]}
    assert any(bugs[b]["kind"] == "new" and bugs[b]["channel"] == "exception" for b in reverted_for)


def test_malformed_lines_present(rows) -> None:
    kinds = Counter(str(t["malformed"]) for *_, t in rows if "malformed" in t)
    assert sum(kinds.values()) >= 10
    assert {"truncated", "invalid-utf8", "binary-blob", "missing-fields"} <= set(kinds), kinds
    for *_, line, t in rows:
        if t.get("malformed") in ("invalid-utf8", "binary-blob"):
            with pytest.raises(UnicodeDecodeError):
                line.decode("utf-8")
        if t.get("malformed") == "truncated" and line.startswith(b"{"):
            with pytest.raises(ValueError):
                json.loads(line)


def test_exposure_consistent_with_background_events(sim, rows, bugs) -> None:
    """Events of steady all-wiki background bugs per version follow that version's requests."""
    out, _ = sim
    requests: Counter[str] = Counter()
    with open(out / "exposure.csv", newline="") as f:
        for r in csv.DictReader(f):
            requests[r["version"]] += int(r["requests"])
    steady = {
        k
        for k, b in bugs.items()
        if b["kind"] == "background" and b["wikis"] == "all" and not str(b["note"]).startswith("rare")
    }
    events: Counter[str] = Counter()
    for *_, line, t in rows:
        if t.get("bug") in steady and "malformed" not in t:
            ev = parse(line)
            assert ev is not None
            events[ev["version"]] += 1
    rates = {v: events[v] / requests[v] for v in requests if requests[v] > 0.1 * sum(requests.values())}
    assert len(rates) >= 2
    mean = sum(rates.values()) / len(rates)
    for v, r in rates.items():
        assert abs(r / mean - 1) < 0.2, (v, rates)


def test_gzip_files_readable(sim) -> None:
    out, summary = sim
    files = sorted((out / "logs").iterdir())
    gz = [f for f in files if f.suffix == ".gz"]
    assert gz and len(gz) < len(files)
    assert len(files) == 14 == len(summary.files)
    for f in gz:
        with gzip.open(f) as fh:
            assert fh.readline()


def test_side_files(sim) -> None:
    out, summary = sim
    assert (out / "exposure.csv").read_text().splitlines()[0] == "hour,group,version,requests"
    assert "testwiki" in (out / "dblists" / "testwikis.dblist").read_text().split()
    assert "enwiki" in (out / "dblists" / "group2.dblist").read_text().split()
    assert "truth/lines.jsonl" in (out / "README.txt").read_text()
    text = str(summary)
    assert "log lines" in text and "rollbacks" in text


def test_weeks_must_be_at_least_two(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        simulate(tmp_path, events=100, weeks=1)


def test_iter_event_lines_is_fast_deterministic_logstash() -> None:
    a = list(iter_event_lines(events=3000, weeks=2, seed=5))
    assert a == list(iter_event_lines(events=3000, weeks=2, seed=5))
    for line in a:
        assert line.endswith(b"\n")
        d = json.loads(line)
        assert d["type"] == "mediawiki" and d["mwversion"].startswith("1.36.0-wmf.") and d["reqId"]
    t = time.perf_counter()
    n = sum(1 for _ in iter_event_lines(events=60_000, weeks=2, seed=1))
    rate = n / (time.perf_counter() - t)
    print(f"\niter_event_lines: {n} lines at {rate:,.0f} lines/s")
    assert n > 40_000
