"""Ground truth files: bugs.json, train.json (with policy decisions at each checkpoint), README.

A checkpoint is the moment just before a group0/group1/group2 promotion (or a
scheduled one the conductor held). Its expected decision follows Wikimedia
policy applied to what the logs hold at that moment:

* ``no-go``: a bug NEW (or REGRESSED, with at least 3 events) in this version,
  in the ``exception``/``fatal`` channels, has events in this version and no
  backport has fixed it yet (nobody triaged it);
* ``hold``: otherwise, a bug new/regressed in this version logged more than
  100 events in one clock hour (logspam);
* ``go``: otherwise. Deprecations and other new warnings are listed, not blocking.

``decision`` counts a bug from its first event. ``decision_practical`` adds the
floor of domain.md §6 before a NEW critical bug blocks: at least 3 distinct
requests, on at least 2 wikis or hosts.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from traintriage_sim.bugs import CRITICAL_CHANNELS
from traintriage_sim.engine import Draw
from traintriage_sim.scenario import Scenario
from traintriage_sim.train import HOUR_US, Segment, iso
from traintriage_sim.wikis import GROUPS

POLICY = (
    __doc__.split("policy applied to what the logs hold at that moment:", 1)[1].strip() if __doc__ else ""
)
"""The policy text, copied into train.json and README.txt."""
LOGSPAM_PER_HOUR = 100


@dataclass(frozen=True, slots=True)
class DecisionPoint:
    t: int
    version: int
    group: str
    action: str  # promoted | held
    step: str | None


def decision_points(sc: Scenario) -> list[DecisionPoint]:
    tl = sc.timeline
    out = [
        DecisionPoint(s.t, s.version, s.group, "promoted", s.message)
        for s in tl.steps
        if s.action == "forward" and s.group != "testwikis"
    ]
    out += [DecisionPoint(h.t, h.version, h.group, "held", None) for h in tl.holds]
    return sorted(out, key=lambda c: c.t)


class Tracker:
    """Counts what the logs hold so far and judges each checkpoint when its time comes."""

    def __init__(self, sc: Scenario) -> None:
        self.sc = sc
        self.total = [0] * len(sc.bugs)
        self.by_version: dict[tuple[int, int], int] = defaultdict(int)
        self.watch: set[tuple[int, int]] = set()
        for bi, b in enumerate(sc.bugs):
            if b.kind in ("new", "logspam", "deprecation") and b.introduced is not None:
                self.watch.add((bi, b.introduced))
            if b.kind == "regressed" and b.regressed is not None:
                self.watch.add((bi, b.regressed))
        self.hours: dict[tuple[int, int], dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self.wikis: dict[tuple[int, int], set[int]] = defaultdict(set)
        self.hosts: dict[tuple[int, int], set[int]] = defaultdict(set)
        self.reqs: dict[tuple[int, int], set[bytes]] = defaultdict(set)
        self.exposure: dict[int, float] = defaultdict(float)
        self.pending = decision_points(sc)
        self.results: list[dict[str, Any]] = []

    def segment(self, seg: Segment, batch: list[Draw]) -> None:
        """Call before writing a segment: judges checkpoints due at its start, then counts it."""
        while self.pending and self.pending[0].t <= seg.t0:
            self.results.append(self._judge(self.pending.pop(0)))
        for g, vi in enumerate(seg.state):
            self.exposure[vi] += seg.requests[g]
        watch, by_version, total = self.watch, self.by_version, self.total
        for ev in batch:
            key = (ev[1], ev[2])
            total[ev[1]] += 1
            by_version[key] += 1
            if key in watch:
                self.hours[key][ev[0] // HOUR_US] += 1
                self.wikis[key].add(ev[3])
                self.hosts[key].add(ev[4])
                self.reqs[key].add(ev[7])

    def finish(self) -> None:
        while self.pending:
            self.results.append(self._judge(self.pending.pop(0)))

    def _judge(self, cp: DecisionPoint) -> dict[str, Any]:
        bugs, versions = self.sc.bugs, self.sc.versions
        blocking: list[dict[str, Any]] = []
        practical: list[str] = []
        spam: list[dict[str, Any]] = []
        triage: list[dict[str, Any]] = []
        deprecations: list[dict[str, Any]] = []
        for bi, vi in sorted(self.watch):
            b = bugs[bi]
            n = self.by_version.get((bi, vi), 0)
            if vi != cp.version or n == 0:
                continue
            if b.backport is not None and b.backport[0] == vi and b.backport[1] <= cp.t:
                continue  # triaged and fixed
            hours = self.hours[(bi, vi)]
            ev: dict[str, Any] = {
                "bug": b.label,
                "kind": b.kind,
                "channel": b.channel,
                "events": n,
                "requests": len(self.reqs[(bi, vi)]),
                "wikis": len(self.wikis[(bi, vi)]),
                "hosts": len(self.hosts[(bi, vi)]),
                "max_per_hour": max(hours.values()) if hours else 0,
            }
            if (
                b.channel in CRITICAL_CHANNELS
                and b.kind != "deprecation"
                and (b.kind != "regressed" or n >= 3)
            ):
                blocking.append(ev)
                if b.kind == "regressed" or (ev["requests"] >= 3 and max(ev["wikis"], ev["hosts"]) >= 2):
                    practical.append(b.label)
            elif ev["max_per_hour"] > LOGSPAM_PER_HOUR:
                spam.append(ev)
            elif b.kind == "deprecation":
                deprecations.append(ev)
            else:
                triage.append(ev)
        decision = "no-go" if blocking else "hold" if spam else "go"
        decision_practical = "no-go" if practical else "hold" if spam else "go"
        return {
            "time": iso(cp.t),
            "version": versions[cp.version],
            "group": cp.group,
            "decision": decision,
            "decision_practical": decision_practical,
            "bugs": [e["bug"] for e in blocking + spam],
            "conductor_action": cp.action,
            "step": cp.step,
            "exposure_requests": round(self.exposure[cp.version]),
            "blocking": blocking,
            "logspam": spam,
            "needs_triage": triage,
            "deprecations": deprecations,
        }


def bugs_json(sc: Scenario, totals: list[int]) -> list[dict[str, Any]]:
    v = sc.versions
    out = []
    for b, n in zip(sc.bugs, totals, strict=True):
        first = b.introduced if b.introduced is not None else 0
        fixed_in = v[b.fixed] if b.fixed is not None else v[b.backport[0]] if b.backport else None
        out.append(
            {
                "bug": b.label,
                "kind": b.kind,
                "channel": b.channel,
                "level": b.level,
                "title": b.title(v[first]),
                "introduced_in": v[b.introduced] if b.introduced is not None else None,
                "regressed_in": v[b.regressed] if b.regressed is not None else None,
                "fixed_in": fixed_in,
                "host": b.host,
                "note": b.note,
                "exception_class": b.exc_class
                if b.style == "exception"
                else "ErrorException"
                if b.style == "php"
                else None,
                "normalized_message": b.style in ("exception", "php", "context"),
                "factor": b.factor if b.regressed is not None else None,
                "backport": {"version": v[b.backport[0]], "time": iso(b.backport[1])} if b.backport else None,
                "window": {"start": iso(b.window[0]), "end": iso(b.window[1])} if b.window else None,
                "wikis": sorted(b.wikis) if b.wikis is not None else "all",
                "trap": b.trap or None,
                "events": n,
            }
        )
    return out


def train_json(sc: Scenario, results: list[dict[str, Any]]) -> dict[str, Any]:
    v, tl = sc.versions, sc.timeline
    steps = [
        {
            "time": iso(s.t),
            "actor": s.actor,
            "message": s.message,
            "action": s.action,
            "group": s.group,
            "version": v[s.version],
            "state": {g: v[x] for g, x in zip(GROUPS, s.state, strict=True)},
            "cause": list(s.cause),
            "note": s.note,
        }
        for s in tl.steps
    ]
    rollbacks = [
        {
            "time": iso(s.t),
            "actor": s.actor,
            "message": s.message,
            "from_version": v[s.changed[0][1]] if s.changed else None,
            "to_version": v[s.version],
            "groups": [GROUPS[g] for g, _ in s.changed],
            "cause": list(s.cause),
            "note": s.note,
        }
        for s in tl.steps
        if s.action == "rollback"
    ]
    return {
        "base_version": v[0],
        "versions": v[1:],
        "window": {"start": iso(sc.t_start), "end": iso(sc.t_end)},
        "groups": list(GROUPS),
        "steps": steps,
        "backports": [
            {"time": iso(b.t), "version": v[b.version], "bugs": list(b.bugs), "window": b.window}
            for b in tl.backports
        ],
        "holds": [
            {"time": iso(h.t), "version": v[h.version], "group": h.group, "note": h.note} for h in tl.holds
        ],
        "rollbacks": rollbacks,
        "checkpoints": results,
        "policy": POLICY,
    }


README = """\
traintriage simulated train (seed {seed}, {weeks} weeks from {start}, ~{events} events requested)

logs/mediawiki-YYYY-MM-DD.log[.gz]   one file per UTC day, lines in time order. Formats drawn per line:
    86% MediaWiki Logstash JSON, 5% ECS JSON (exception/error/fatal channels only; other channels stay
    Logstash), 5% syslog "<ts> <host> mediawiki: @cee: {{json}}", 4% udp2log text; then ~0.2% of lines are
    broken (truncated, invalid UTF-8, binary junk, JSON without @timestamp/message, two lines over 2 MB).
    The first three days are gzip-compressed, like rotated logs.
deploys/wikiversions.log   wikiversions.json commit log: "YYYY-MM-DD HH:MM <actor> | <subject>"
dblists/*.dblist           testwikis, group0 (also lists the test wikis, as mediawiki-config does), group1, group2, all
exposure.csv               hour,group,version,requests: app-server requests per hour, disjoint groups
                           (a wiki counts in the first stage that lists it)
truth/lines.jsonl          one object per log line, in file order: {{"file","line","bug"}} or
                           {{"file","line","malformed": why}} (plus "bug" when the broken line was an event)
truth/bugs.json            every bug: kind (background|new|regressed|fixed|host-spike|logspam|deprecation),
                           channel, level, title, introduced_in/regressed_in/fixed_in, host, backport, traps, events
truth/train.json           versions, deploy steps, backports, holds, rollbacks and, for every promotion
                           checkpoint, the decision policy expects (go | hold | no-go) with evidence.

Names of people, users and IPs are invented. Versions follow the 1.36 numbering (one wmf.N per week).
Policy used for checkpoints:
{policy}
"""
