"""What the pages and the JSON API show, assembled from the library (no SQL, no HTML).

Every page has a JSON twin under /api/v1 built from the same function here, so the API
covers everything the pages do.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from traintriage.core.timeparse import iso
from traintriage.core.versions import version_key
from traintriage.core.vocabulary import STAGES, UNOWNED, VERDICTS
from traintriage.detect.config import DetectionConfig
from traintriage.detect.decision import Decision
from traintriage.services.coverage import coverage_report
from traintriage.services.ownership import Ownership
from traintriage.services.status import GateResult, gate, train_status
from traintriage.services.train import load_train
from traintriage.store import reviews as reviews_store
from traintriage.store import search as search_store
from traintriage.store.db import Store
from traintriage.store.reads import newest_event, signature_detail
from traintriage.store.snapshot import TrainContext
from traintriage.triage.reviews import ReviewRecord
from traintriage.web.sources import link_trace

ENTRY_LISTS = ("new", "regressed", "logspam", "deprecation", "single_host", "stopped", "fixed")
HTTP_STATUS = {"go": 200, "no-go": 409, "hold": 409, "rollback": 409, "inconclusive": 503}
"""Gate endpoint: 200 go, 409 no-go/hold/rollback, 503 inconclusive (ask again later)."""


@dataclass
class Env:
    """What one request works with: the store, the clock, ownership and settings."""

    store: Store
    now: float
    ownership: Ownership
    config: DetectionConfig
    source_url: str | None

    _context: TrainContext | None = None

    @property
    def train(self) -> TrainContext:
        if self._context is None:
            self._context = load_train(self.store)
        return self._context


# --- trains -------------------------------------------------------------------------------


def known_versions(env: Env) -> list[str]:
    """Deployed versions (newest first), else versions seen in events."""
    versions = env.train.timeline.versions()
    if not versions:
        versions = sorted(search_store.versions_seen(env.store), key=version_key, reverse=True)
    return versions


def default_version(env: Env, at: float) -> str | None:
    live = env.train.timeline.live_versions(at)
    if live:
        return live[0]
    versions = known_versions(env)
    return versions[0] if versions else None


def trains(env: Env, at: float) -> dict[str, Any]:
    """Every train with its state at `at`; live ones first."""
    timeline = env.train.timeline
    live = timeline.live_versions(at)
    out = []
    for version in known_versions(env):
        state = timeline.train_state(version, at).to_dict()
        stats = timeline.stats(version).to_dict() if timeline.versions() else {}
        out.append({"version": version, "live": version in live, "state": state, "stats": stats})
    out.sort(key=lambda t: (not t["live"], [-x for x in _key_ints(str(t["version"]))]))
    return {"at": iso(at), "live": live, "trains": out}


def _key_ints(version: str) -> list[int]:
    return [p[0] for p in version_key(version)]


def train_history(env: Env, version: str, at: float) -> dict[str, Any]:
    """Timeline of one train: stages, promotions, rollbacks, steps, and its state at `at`."""
    timeline = env.train.timeline
    explain = timeline.explain(version)
    stamp = iso(at)  # ISO 8601 UTC strings of one format compare like times: keep what was known at `at`
    for stage in explain["stages"]:
        stage["promotions"] = [p for p in stage["promotions"] if p <= stamp]
        if stage["landed"] and stage["landed"] > stamp:
            stage["landed"] = stage["promotions"][-1] if stage["promotions"] else None
            stage["delay_days"] = None
    explain["rollback_events"] = [r for r in explain["rollback_events"] if r["at"] <= stamp]
    for r in explain["rollback_events"]:
        if r["restored_at"] and r["restored_at"] > stamp:
            r["restored_at"] = None
    explain["steps"] = [s for s in explain["steps"] if s["at"] <= stamp]
    explain["state"] = timeline.train_state(version, at).to_dict()
    return explain


def decision(env: Env, version: str, at: float) -> Decision:
    """The train status with owners attached from the rules the app loaded at start."""
    return train_status(env.store, version, at, env.config, context=env.train, owners=env.ownership.rules)


def decision_dict(result: Decision) -> dict[str, Any]:
    """Decision.to_dict() plus each entry's `team` (its owner's team, or None) for the pages."""
    data = result.to_dict()
    for key in ENTRY_LISTS:
        for e in data[key]:
            e["team"] = e["owner"]["team"] if e["owner"] else None
    return data


def gate_result(
    env: Env, version: str, stage: str | None, at: float, window: float
) -> tuple[GateResult, int]:
    """The stage gate and the HTTP status a deploy tool acts on."""
    if not stage:
        state = env.train.timeline.train_state(version, at)
        stage = state.next_stage or state.stage or STAGES[0]
    result = gate(
        env.store, version, stage, at, window, env.config, owners=env.ownership.rules, context=env.train
    )
    return result, HTTP_STATUS.get(result.verdict, 503)


def train_page(env: Env, version: str, at: float) -> dict[str, Any]:
    """The deployer's page: verdict, rule and evidence, blockers, untriaged NEW by team, changes."""
    result = decision(env, version, at)
    data = decision_dict(result)
    history = train_history(env, version, at)
    rule = next((r for r in data["rules"] if r["id"] == data["rule"]), None)
    entries = _unique(e for key in ENTRY_LISTS for e in data[key])
    blockers = [e for e in entries if e["blocking"]]
    by_team: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in _unique([*data["new"], *data["regressed"]]):
        if e["review"] is None:
            by_team[e["team"] or UNOWNED].append(e)
    promotions = [p for p in env.train.timeline.promotions(version) if p.at.timestamp() <= at]
    last = max(promotions, key=lambda p: p.at) if promotions else None
    since = last.at.timestamp() if last else None
    changed = [
        e
        for e in entries
        if since is not None
        and e["first_seen"]
        and _ts(e["first_seen"]) >= since
        and "fixed" not in e["labels"]
    ]
    return {
        "version": version,
        "at": iso(at),
        "decision": data,
        "rule": rule,
        "history": history,
        "blockers": blockers,
        "untriaged_by_team": dict(sorted(by_team.items(), key=lambda kv: (kv[0] == UNOWNED, kv[0]))),
        "last_promotion": {"at": iso(since), "group": last.group} if last and since else None,
        "changed_since_promotion": changed,
    }


def _unique(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for e in entries:
        seen.setdefault(e["signature"], e)
    return list(seen.values())


def _ts(text: str) -> float:
    from traintriage.core.timeparse import parse_timestamp

    return parse_timestamp(text)


# --- team queue --------------------------------------------------------------------------


def queue(env: Env, version: str, team: str | None, at: float) -> dict[str, Any]:
    """NEW/REGRESSED signatures of a team in this train: untriaged first, oldest first."""
    data = decision_dict(decision(env, version, at))
    rows = []
    for e in _unique([*data["new"], *data["regressed"], *data["logspam"]]):
        owner = e["team"] or UNOWNED
        if team and team != "all" and owner != team:
            continue
        rows.append({**e, "team": owner})
    rows.sort(key=lambda e: (e["review"] is not None, e["first_seen"] or "", e["signature"]))
    teams = sorted({*env.ownership.teams(), *(r["team"] for r in rows), UNOWNED})
    return {
        "version": version,
        "team": team or "all",
        "at": iso(at),
        "verdict": data["verdict"],
        "teams": teams,
        "rows": rows,
        "untriaged": sum(1 for r in rows if r["review"] is None),
    }


# --- signatures --------------------------------------------------------------------------


def signature_page(env: Env, sig_id: str) -> dict[str, Any]:
    """Everything about one signature: explanation, counts, samples with linked traces, reviews."""
    detail = signature_detail(env.store, sig_id)
    data = detail.to_dict()
    membership = env.train.membership
    per_group: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for v, wiki, events, requests in detail.wikis:
        cell = per_group[(v, membership.group_of(wiki) or "unknown")]
        cell[0] += events
        cell[1] += requests
    data["groups"] = [
        {"version": v, "group": g, "events": c[0], "requests": c[1]}
        for (v, g), c in sorted(per_group.items(), key=lambda kv: (kv[0][0], _stage(kv[0][1])))
    ]
    for sample in data["samples"]:
        sample["time"] = iso(sample["ts"])
        sample["trace_lines"] = link_trace(sample.get("trace"), env.source_url, sample.get("version"))
    routing = env.ownership.route(env.store, [sig_id]).get(sig_id)
    data["owner"] = routing.to_dict() if routing is not None else None
    data["team"] = routing.team if routing is not None else None
    data["reviews"] = review_history(env, [sig_id]).get(sig_id, [])
    data["review"] = data["reviews"][-1] if data["reviews"] else None
    data["audit"] = audit(env, sig_id, 100)
    data["first_seen_iso"] = iso(detail.summary.first_seen)
    data["last_seen_iso"] = iso(detail.summary.last_seen)
    return data


def _stage(group: str) -> int:
    return STAGES.index(group) if group in STAGES else len(STAGES)


def review_history(env: Env, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    if not ids:
        return {}
    found = reviews_store.review_history(env.store, ids)
    return {sig: [_record(r) for r in records] for sig, records in found.items()}


def audit(env: Env, signature: str | None, limit: int) -> list[dict[str, Any]]:
    return [_record(r) for r in reviews_store.audit_log(env.store, signature=signature or None, limit=limit)]


def _record(record: ReviewRecord | reviews_store.AuditEntry) -> dict[str, Any]:
    data = record.to_dict()
    for key in ("at", "created_at", "mute_until"):
        if isinstance(data.get(key), int | float):
            data[key + "_iso"] = iso(float(data[key]))
    return data


# --- search --------------------------------------------------------------------------------


@dataclass
class Filters:
    text: str | None = None
    version: str | None = None
    group: str | None = None
    team: str | None = None
    channel: str | None = None
    verdict: str | None = None
    limit: int = 100

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, "")}


def search(env: Env, f: Filters) -> dict[str, Any]:
    """Signatures by text, version, group, channel; then team and review verdict."""
    limit = max(1, min(f.limit, 500))
    post_filter = bool(f.team or f.verdict)
    found = search_store.search_signatures(
        env.store,
        text=f.text or None,
        version=f.version or None,
        channel=f.channel or None,
        group=f.group or None,
        limit=limit * 10 if post_filter else limit,
    )
    ids = [s.id for s in found]
    routes = env.ownership.route(env.store, ids)
    history = review_history(env, ids)
    rows = []
    for s in found:
        routing = routes.get(s.id)
        team = (routing.team if routing is not None else None) or UNOWNED
        records = history.get(s.id) or []
        verdict = records[-1].get("verdict") if records else None
        if f.team and team != f.team:
            continue
        if f.verdict and (verdict or "untriaged") != f.verdict:
            continue
        row = s.to_dict()
        row.update(
            team=team,
            verdict=verdict,
            first_seen_iso=iso(s.first_seen),
            last_seen_iso=iso(s.last_seen),
        )
        if f.version:
            v = next((x for x in s.versions if x.version == f.version), None)
            row["version_events"] = v.events if v else 0
        rows.append(row)
        if len(rows) >= limit:
            break
    return {"filters": f.to_dict(), "results": rows, "count": len(rows)}


def filter_choices(env: Env) -> dict[str, Any]:
    teams = sorted({*env.ownership.teams(), UNOWNED})
    return {
        "versions": known_versions(env),
        "groups": list(STAGES),
        "teams": teams,
        "channels": search_store.channels(env.store),
        "verdicts": ["untriaged", *VERDICTS],
    }


# --- coverage ------------------------------------------------------------------------------


def coverage(env: Env, version: str, at: float) -> dict[str, Any]:
    """Triage and ownership coverage of a train's NEW/REGRESSED signatures, per team."""
    data = decision_dict(decision(env, version, at))
    teams: dict[str, dict[str, int]] = defaultdict(lambda: {"signatures": 0, "triaged": 0, "blocking": 0})
    flagged = _unique([*data["new"], *data["regressed"], *data["logspam"]])
    for e in flagged:
        t = teams[e["team"] or UNOWNED]
        t["signatures"] += 1
        t["triaged"] += e["review"] is not None
        t["blocking"] += e["blocking"]
    total = len(flagged)
    owned = sum(1 for e in flagged if e["team"])
    triaged = sum(1 for e in flagged if e["review"] is not None)
    return {
        "version": version,
        "at": iso(at),
        "verdict": data["verdict"],
        "signatures": total,
        "owned": owned,
        "triaged": triaged,
        "owned_share": round(owned / total, 4) if total else None,
        "triaged_share": round(triaged / total, 4) if total else None,
        "ownership_rules": env.ownership.path if env.ownership.available else None,
        "teams": dict(sorted(teams.items())),
        "before_promotion": _coverage_report(env, version),
    }


def _coverage_report(env: Env, version: str) -> list[dict[str, Any]]:
    """The triage record's own coverage: reviewed before the next promotion, per team."""
    flagged = [e.signature for e in decision(env, version, env.now).classification.entries]
    routes = env.ownership.route(env.store, flagged)

    def owner_of(signature: str) -> str | None:
        found = routes.get(signature)
        if found is None:
            return env.ownership.team(env.store, signature)
        return found.team

    rows = coverage_report(env.store, version, owner_of=owner_of, config=env.config)
    return [r.to_dict() for r in rows]


def newest(env: Env) -> float | None:
    return newest_event(env.store)
