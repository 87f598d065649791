"""Wiki group membership: which deployment stage ("group") a wiki belongs to.

Wikimedia's train promotes a version through four stages (scap's ``GROUPS``).
Membership comes from ``dblists/*.dblist`` files. The real ``group0.dblist``
also lists the test wikis, so lists overlap; the rule here is that **a wiki's
group is the first stage (in ``STAGES`` order) whose list holds it**. That is
the stage at which the wiki first receives a new version, which is what
"which version was this wiki running" questions need.

When no dblists are available, ``infer_groups`` guesses membership from
observed ``(wiki, version, time)`` triples (e.g. error events carrying
``mwversion``) against a deployment timeline; results carry a confidence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from traintriage.core.vocabulary import ALL, STAGES

PROXY_WIKIS: Mapping[str, str] = {
    "testwiki": "testwikis",
    "mediawikiwiki": "group0",
    "commonswiki": "group1",
    "enwiki": "group2",
}
"""One representative wiki per stage, as train-stats uses (``trainstats.py``)."""

_DBNAME = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


def is_dbname(text: str) -> bool:
    """A wiki database name as dblists write them (`enwiki`, `test2wiki`, `wikimania2021wiki`)."""
    return _DBNAME.match(text) is not None


class DblistError(ValueError):
    """A dblist line that is not a database name (file and line in the message)."""


@dataclass(frozen=True, slots=True)
class GroupMembership:
    """Stage lists as given, plus the first-stage rule to resolve overlaps.

    ``all_wikis`` is ``all.dblist`` when known. If ``group2`` has no list of
    its own, every wiki in ``all_wikis`` not listed elsewhere is group2
    ("all other Wikipedias"), mirroring how mediawiki-config derives it.
    """

    lists: Mapping[str, frozenset[str]]
    all_wikis: frozenset[str] = frozenset()
    _index: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        unknown = set(self.lists) - set(STAGES)
        if unknown:
            raise ValueError(f"unknown stage(s) {sorted(unknown)}; expected {STAGES}")
        index: dict[str, str] = {}
        for stage in STAGES:
            for wiki in self.lists.get(stage, frozenset()):
                index.setdefault(wiki, stage)
        if "group2" not in self.lists:
            for wiki in self.all_wikis:
                index.setdefault(wiki, "group2")
        object.__setattr__(self, "_index", index)

    @classmethod
    def from_lists(cls, lists: Mapping[str, Iterable[str]], all_wikis: Iterable[str] = ()) -> GroupMembership:
        """Build from in-memory lists (tests, config, API payloads)."""
        return cls({k: frozenset(v) for k, v in lists.items()}, frozenset(all_wikis))

    def group_of(self, wiki: str) -> str | None:
        """The first stage whose list holds ``wiki``; None when unknown."""
        return self._index.get(wiki)

    def wikis_in(self, group: str) -> frozenset[str]:
        """Wikis whose effective group (first-stage rule) is ``group``."""
        return frozenset(w for w, g in self._index.items() if g == group)

    def __contains__(self, wiki: object) -> bool:
        return wiki in self._index

    def __len__(self) -> int:
        return len(self._index)


PROXY_MEMBERSHIP = GroupMembership.from_lists({g: [w] for w, g in PROXY_WIKIS.items()})
"""Fallback used when no dblists are known: only the four proxy wikis resolve."""


def parse_dblist(lines: Iterable[str], source: str = "<dblist>") -> list[str]:
    """Database names from dblist text; ``#`` starts a comment, blanks are skipped.

    Raises DblistError on a line that is not a dbname: a silently wrong
    membership would mislabel every version lookup for that wiki.
    """
    names: list[str] = []
    for number, raw in enumerate(lines, start=1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        if not _DBNAME.match(text):
            raise DblistError(f"{source}:{number}: not a database name: {raw.rstrip()[:80]!r}")
        names.append(text)
    return names


def load_dblists(directory: str | Path) -> GroupMembership:
    """Read ``testwikis/group0/group1/group2/all.dblist`` from ``directory``.

    Missing files are allowed (a team may have only some stages), but at least
    one must exist.
    """
    root = Path(directory)
    lists: dict[str, frozenset[str]] = {}
    for stage in STAGES:
        path = root / f"{stage}.dblist"
        if _is_list_file(root, path):
            lists[stage] = frozenset(_read_dblist(path))
    all_path = root / f"{ALL}.dblist"
    all_wikis = frozenset(_read_dblist(all_path)) if _is_list_file(root, all_path) else frozenset()
    if not lists and not all_wikis:
        raise FileNotFoundError(f"no *.dblist for {', '.join(STAGES)} or {ALL} in {root}")
    return GroupMembership(lists, all_wikis)


MAX_DBLIST_BYTES = 64 << 20  # all.dblist has about a thousand names


def _is_list_file(root: Path, path: Path) -> bool:
    """A regular file inside `root`; a symlink that leads out of it is refused (DblistError).

    Symlinks within the directory are fine (mediawiki-config links some lists); one that
    points elsewhere would import whatever file it names as wiki membership.
    """
    if not path.is_file():
        return False
    real, base = path.resolve(), root.resolve()
    if path.is_symlink() and not real.is_relative_to(base):
        raise DblistError(f"{path}: a symbolic link to {real}, outside {base}: not followed")
    return True


def _read_dblist(path: Path) -> list[str]:
    """Database names of one dblist file; bytes that are not UTF-8 text are a DblistError."""
    if path.stat().st_size > MAX_DBLIST_BYTES:
        raise DblistError(f"{path}: larger than {MAX_DBLIST_BYTES >> 20} MiB: not a dblist")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise DblistError(f"{path}:{line}: not UTF-8 text (a binary file?)") from None
    return parse_dblist(text.splitlines(), str(path))


# --- inference ---------------------------------------------------------------


class VersionOracle(Protocol):
    """What inference needs from a timeline (kept abstract to avoid an import cycle)."""

    def version_at(self, group_or_wiki: str, t: datetime | float) -> str | None: ...


@dataclass(frozen=True, slots=True)
class InferredGroup:
    """A guessed group with the evidence behind it.

    ``evidence`` counts discriminating observations (stages disagreed at that
    time); ``confidence`` is the share of them consistent with ``group``.
    ``candidates`` lists every stage tied for best; ``group`` is the earliest.
    """

    wiki: str
    group: str | None
    confidence: float
    evidence: int
    candidates: tuple[str, ...]
    inferred: bool = True

    @property
    def ambiguous(self) -> bool:
        return len(self.candidates) > 1


Observation = tuple[str, str, datetime | float]
"""``(wiki, version, time)``; time is aware datetime or UTC epoch seconds."""


def infer_groups(
    observations: Iterable[Observation],
    timeline: VersionOracle,
    *,
    settle: timedelta = timedelta(minutes=10),
    stages: tuple[str, ...] = STAGES,
) -> dict[str, InferredGroup]:
    """Guess each observed wiki's stage from when it ran which version.

    Method: an observation ``(wiki, version, t)`` is *discriminating* when the
    stages ran different versions at ``t`` and none of them changed during
    ``[t - settle, t]`` (a sync takes minutes after the commit, so events right
    after a step may still show the old version). For each stage we count the
    discriminating observations whose version equals that stage's version at
    ``t``; the best-scoring stages are candidates and the latest wins (a wiki
    seen on the new version only after several stages had it is most likely in
    the largest of them; the first stages are small). This
    is how a switch time is matched to a promotion time, and it uses
    rollbacks and every steady period as evidence too. Wikis with no
    discriminating observation get ``group=None`` and confidence 0.
    """
    per_wiki: dict[str, list[tuple[str, datetime]]] = {}
    for wiki, version, ts in observations:
        per_wiki.setdefault(wiki, []).append((version, as_utc(ts)))
    return {wiki: _infer_one(wiki, obs, timeline, settle, stages) for wiki, obs in sorted(per_wiki.items())}


def _infer_one(
    wiki: str,
    observations: list[tuple[str, datetime]],
    timeline: VersionOracle,
    settle: timedelta,
    stages: tuple[str, ...],
) -> InferredGroup:
    scores = dict.fromkeys(stages, 0)
    evidence = 0
    for version, t in observations:
        running = _stable_versions(timeline, stages, t, settle)
        if running is None or len(set(running.values())) < 2:
            continue
        evidence += 1
        for stage, stage_version in running.items():
            if stage_version == version:
                scores[stage] += 1
    best = max(scores.values(), default=0)
    if evidence == 0 or best == 0:
        return InferredGroup(wiki, None, 0.0, evidence, ())
    candidates = tuple(s for s in stages if scores[s] == best)
    return InferredGroup(wiki, candidates[-1], best / evidence, evidence, candidates)


def _stable_versions(
    timeline: VersionOracle, stages: tuple[str, ...], t: datetime, settle: timedelta
) -> dict[str, str | None] | None:
    """Each stage's version at ``t``, or None if any changed within the settle window."""
    now = {s: timeline.version_at(s, t) for s in stages}
    before = {s: timeline.version_at(s, t - settle) for s in stages}
    return now if now == before else None


def as_utc(ts: datetime | float) -> datetime:
    """Aware UTC datetime from an aware datetime or UTC epoch seconds (naive is refused)."""
    if isinstance(ts, datetime):
        if ts.tzinfo is None:
            raise ValueError(f"naive datetime {ts.isoformat()}: pass a timezone-aware time")
        return ts.astimezone(UTC)
    return datetime.fromtimestamp(ts, UTC)


def next_stage(stage: str | None) -> str | None:
    """The stage after ``stage``; ``testwikis`` before any, None after group2 or for non-stages."""
    if stage is None:
        return STAGES[0]
    if stage not in STAGES:
        return None
    i = STAGES.index(stage)
    return STAGES[i + 1] if i + 1 < len(STAGES) else None
