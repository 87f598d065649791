"""The stored train as use cases: load it for reads, record and import deployments, groups, exposure.

Reading never writes: `load_train` infers the groups of wikis no dblist named in memory.
`infer_wiki_groups` stores those guesses; it is the explicit step after anything that changes
what inference sees (ingest, deploy imports, a recorded step), so later loads find them stored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from traintriage.core.errors import InvalidInput
from traintriage.core.timeparse import iso
from traintriage.core.validate import check_version
from traintriage.core.vocabulary import STAGES
from traintriage.store.db import Store
from traintriage.store.snapshot import TrainContext
from traintriage.store.trains import (
    exposure_changes,
    load_deploy_steps,
    load_membership,
    membership_counts,
    save_deploy_steps,
    save_exposure,
    save_membership,
    wiki_version_hours,
)
from traintriage.train.deploylog import DeployStep, ParseError, parse_file, parse_message
from traintriage.train.exposure import ExposureRow, parse_exposure
from traintriage.train.groups import DblistError, GroupMembership, infer_groups, load_dblists
from traintriage.train.timeline import Timeline


def _guessed(
    store: Store, steps: Sequence[DeployStep], membership: GroupMembership
) -> GroupMembership | None:
    """Groups of the wikis `membership` lacks, from when their events switched version."""
    if not steps:
        return None
    timeline = Timeline.build(steps, membership)
    observations = [(w, v, float(t)) for w, v, t in wiki_version_hours(store) if w not in membership]
    if not observations:
        return None
    lists: dict[str, set[str]] = defaultdict(set)
    for wiki, guess in infer_groups(observations, timeline).items():
        if guess.group:
            lists[guess.group].add(wiki)
    return GroupMembership.from_lists(lists) if lists else None


def load_train(store: Store, *, infer: bool = True) -> TrainContext:
    """Timeline from stored deploy steps and wiki groups; with `infer`, wikis no stored list
    names get their inferred group (computed here, not written)."""
    steps = load_deploy_steps(store)
    membership = load_membership(store)
    stored_inferred = sum(inferred for _listed, inferred in membership_counts(store).values())
    guessed = _guessed(store, steps, membership) if infer else None
    if guessed is None:
        return TrainContext(Timeline.build(steps, membership), membership, stored_inferred)
    lists: dict[str, set[str]] = defaultdict(set)
    for source in (membership, guessed):
        for group in source.lists:
            lists[group] |= set(source.wikis_in(group))
    merged = GroupMembership.from_lists(lists)
    return TrainContext(Timeline.build(steps, merged), merged, stored_inferred + len(guessed))


def infer_wiki_groups(store: Store) -> int:
    """Store the inferred groups of wikis no dblist named; returns how many were stored."""
    guessed = _guessed(store, load_deploy_steps(store), load_membership(store))
    if guessed is None:
        return 0
    return save_membership(store, guessed, "inferred from events", inferred=True)


@dataclass(frozen=True)
class RecordedStep:
    message: str
    at: str
    actor: str | None
    new: bool

    def to_dict(self) -> dict[str, object]:
        return {"message": self.message, "at": self.at, "actor": self.actor, "new": self.new}


def record_deploy(
    store: Store, version: str, group: str, when: datetime, actor: str | None, source: str
) -> RecordedStep:
    """Record that `group` ('all' for every group) now runs `version`, as deploy tools report it.

    Only the known groups (testwikis, group0, group1, group2, all) and a well-formed version
    are accepted; `actor` is who the caller authenticated as (the web app never takes it
    from the request body), at most 200 characters on one line.
    """
    if group not in (*STAGES, "all"):
        raise InvalidInput(f"unknown group {group[:40]!r} (one of {', '.join(STAGES)} or all)")
    check_version(version)
    if actor is not None and (len(actor) > 200 or not actor.isprintable()):
        raise InvalidInput("actor: at most 200 printable characters on one line")
    message = f"{group} wikis to {version}" if group != "all" else f"all wikis to {version}"
    try:
        groups, target, kind = parse_message(message)
    except ValueError as err:
        raise InvalidInput(f"cannot record {message!r}: {err}") from None
    step = DeployStep(
        at=when, groups=groups, version=target, actor=actor, kind=kind, message=message, source=source, line=0
    )
    added = save_deploy_steps(store, [step])
    if added:
        infer_wiki_groups(store)
    return RecordedStep(message, iso(when.timestamp()), actor, bool(added))


@dataclass(frozen=True)
class DeployImport:
    """One imported deployment file: its format, steps (new ones), what could not be read."""

    file: str
    format: str
    steps: int
    new: int
    errors: list[ParseError]
    ignored: int

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "format": self.format,
            "steps": self.steps,
            "new": self.new,
            "errors": len(self.errors),
            "ignored": self.ignored,
        }


def import_deploys(store: Store, path: str, fmt: str | None = None) -> DeployImport:
    """Import one deployment history file (format detected unless given); twice is harmless.

    Unreadable lines are returned, the readable ones stored; then wiki groups are inferred again.
    """
    if not Path(path).exists():
        raise InvalidInput(f"{path}: no such file or directory")
    membership = load_membership(store)
    try:
        result = parse_file(path, fmt=fmt, membership=membership if len(membership) else None)
    except (OSError, ValueError) as err:
        raise InvalidInput(f"{path}: {err}") from None
    added = save_deploy_steps(store, result.steps)
    if added:
        infer_wiki_groups(store)
    return DeployImport(path, result.format, len(result.steps), added, result.errors, len(result.ignored))


def import_groups(store: Store, directory: str) -> dict[str, tuple[int, int]]:
    """Import dblists from `directory`; returns group -> (listed, inferred) wikis."""
    try:
        membership = load_dblists(directory)
    except (DblistError, OSError) as err:
        raise InvalidInput(str(err)) from None
    save_membership(store, membership, str(directory))
    return membership_counts(store)


@dataclass(frozen=True)
class ExposureImport:
    """One imported exposure CSV: rows stored, unreadable lines, and the stored hours it changed."""

    stored: int
    errors: list[tuple[int, str]]
    replaced: list[tuple[ExposureRow, int]]  # (new row, the count it replaced)


def import_exposure(store: Store, text: str) -> ExposureImport:
    """Import an exposure CSV. A re-import replaces counts rather than adding to them; the
    hours whose stored count changes are returned so that the caller can say so."""
    parsed = parse_exposure(text)
    replaced = exposure_changes(store, parsed.rows)
    return ExposureImport(save_exposure(store, parsed.rows), list(parsed.errors), replaced)
