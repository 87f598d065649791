"""Use case `regroup`: re-key a store from an older grouping algorithm to the current one.

A store keeps the ids its algorithm made (an upgrade never silently re-keys history,
docs/grouping.md). When the operator asks, this replays every stored sample, oldest
first, through a fresh grouper of the target algorithm, as ingest would have seen them,
and gives each old signature the new id most of its samples get. Two old ids that
get one new id are merged (counts summed, reviews of both kept). The SQL is in
store/regroup.py; it runs in one transaction and leaves an audit entry per new id.

The samples are redacted (IPs, e-mails, user names), so a new id is decided on text
that can differ from the original events in those values; masking maps most of them
to the same placeholders, and the majority vote over up to 5 samples per version
absorbs the rest.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from traintriage.core.errors import InvalidInput
from traintriage.core.events import Event
from traintriage.grouping.rules import ALGORITHMS, CURRENT_ALGORITHM, rules_for
from traintriage.grouping.signature import Grouper, SignatureInfo, signature_id
from traintriage.store import regroup as sql
from traintriage.store.db import Store


@dataclass
class RegroupReport:
    """What a regroup did (or would do, with dry_run)."""

    target: str
    before: int  # signatures re-keyed
    after: int  # new signatures they became
    merged: dict[str, list[str]] = field(default_factory=dict)  # new id -> old ids, where several
    without_samples: list[str] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "algorithm": self.target,
            "signatures_before": self.before,
            "signatures_after": self.after,
            "merged": self.merged,
            "without_samples": self.without_samples,
            "mapping": self.mapping,
            "dry_run": self.dry_run,
        }


def event_of_sample(sample: dict[str, Any], ts: float) -> Event:
    """The grouping-relevant fields of a stored (redacted) sample, as an event."""
    context = sample.get("context")
    return Event(
        ts=ts,
        message=str(sample.get("message") or ""),
        normalized_message=sample.get("normalized_message"),
        channel=str(sample.get("channel") or ""),
        level=str(sample.get("level") or ""),
        version=sample.get("version"),
        exc_class=sample.get("exception_class"),
        exc_message=sample.get("exception_message"),
        exc_file=sample.get("exception_file"),
        trace=sample.get("trace"),
        fmt=str(sample.get("format") or ""),
        context={str(k): str(v) for k, v in context.items()} if isinstance(context, dict) else None,
    )


def regroup(
    store: Store,
    *,
    target: str = CURRENT_ALGORITHM,
    actor: str = "cli",
    dry_run: bool = False,
    at: float | None = None,
) -> RegroupReport:
    """Re-key every signature not made by `target` to `target`'s ids (see the module docstring)."""
    if target not in ALGORITHMS:
        raise InvalidInput(f"unknown grouping algorithm {target!r} (known: {', '.join(ALGORITHMS)})")
    old = sql.signatures_not_in(store, target)
    report = RegroupReport(target, len(old), 0, dry_run=dry_run)
    if not old:
        return report
    if any(algorithm == target for algorithm in sql.algorithms(store)):
        raise InvalidInput(
            f"the store already has {target} signatures next to older ones; regroup re-keys a whole store at once"
        )
    grouper = Grouper(rules_for(target))
    votes: dict[str, Counter[str]] = {sig: Counter() for sig, _, _ in old}
    infos: dict[str, SignatureInfo] = {}
    for sample in sql.samples(store):
        if sample.signature not in votes:
            continue
        info = grouper.signature_of(event_of_sample(sample.event, sample.ts))
        votes[sample.signature][info.id] += 1
        infos.setdefault(info.id, info)
    mapping: dict[str, str] = {}
    new: dict[str, sql.NewSignature] = {}
    titles = {sig: title for sig, _, title in old}
    rank = {sig: i for i, sig in enumerate(infos)}  # ties go to the new id the replay met first
    for sig, algorithm, _ in old:
        if votes[sig]:
            winner = max(votes[sig].items(), key=lambda kv: (kv[1], -rank[kv[0]]))[0]
            info = infos[winner]
            new[winner] = _new_signature(info, grouper)
        else:  # no sample to decide from: a new id of its own, derived from the old one
            winner = signature_id(target, ["regrouped", algorithm, sig])
            report.without_samples.append(sig)
            new[winner] = sql.NewSignature(
                winner, target, "message", "", "", None, titles[sig], [_no_sample_note(sig, algorithm)]
            )
        mapping[sig] = winner
    report.mapping = mapping
    groups: dict[str, list[str]] = {}
    for sig, winner in mapping.items():
        groups.setdefault(winner, []).append(sig)
    report.after = len(groups)
    report.merged = {k: sorted(v) for k, v in sorted(groups.items()) if len(v) > 1}
    if dry_run:
        return report
    templates = {key: sig for key, sig in grouper.template_ids.items()}
    states = {scope: json.dumps(miner.to_state()) for scope, miner in grouper.miners.items()}
    sql.apply_regroup(
        store,
        mapping,
        new,
        templates,
        states,
        actor=actor,
        at=time.time() if at is None else at,
        detail={"algorithm": target, "from_algorithms": sorted({a for _, a, _ in old})},
    )
    return report


def _new_signature(info: SignatureInfo, grouper: Grouper) -> sql.NewSignature:
    return sql.NewSignature(
        info.id,
        info.algorithm,
        info.kind,
        info.channel,
        info.level,
        info.exc_class,
        grouper.title_of(info),
        info.explanation,
    )


def _no_sample_note(sig: str, algorithm: str) -> dict[str, Any]:
    return {
        "component": "regrouped",
        "value": f"{algorithm} {sig}",
        "contributes": True,
        "hint": "no stored sample to regroup from: the id is derived from the old one",
    }
