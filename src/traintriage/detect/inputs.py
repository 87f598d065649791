"""Inputs of detection: what the store tells about one train version at one time.

Detection is pure: the store (store/train_reads.py) aggregates counts into these
records, and detect/classify.py + detect/decision.py turn them into labels and a
verdict without any I/O. Times are UTC epoch seconds.

The comparison design is self-controlled (domain.md §6, robustness 1a): for
each group G the candidate version V reached, V's counts on G's wikis since G
was promoted are compared with the previous version's counts on the SAME wikis
in a baseline window of the same length just before the promotion (capped at
`baseline_hours`). Each group is one stratum of a Mantel–Haenszel test.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GroupWindow:
    """One stratum: group G under V since promotion vs. under the previous version before it."""

    group: str
    promoted_at: float  # the last roll-forward of G to V before `at` (the stage's age counts from here)
    candidate_start: float  # the first roll-forward of G to V (counts accumulate from here)
    candidate_end: float  # = at (or when G left V again)
    baseline_start: float  # candidate_start - candidate duration (capped at baseline_hours)
    baseline_end: float  # = candidate_start
    baseline_version: str | None  # the version G ran just before V
    # requests served by V on G in the candidate window (None = unknown)
    exposure_candidate: float | None = None
    # requests served by the baseline version on G in the baseline window
    exposure_baseline: float | None = None
    # requests served by OLDER versions on G over the lookback before candidate_start: the
    # denominator for NEW (absent from all of that, not just from the baseline window)
    exposure_lookback: float | None = None


@dataclass(frozen=True)
class StratumCounts:
    """A signature's counts in one group window."""

    group: str
    candidate_events: int = 0
    candidate_requests: int = 0
    baseline_events: int = 0
    baseline_requests: int = 0


@dataclass
class SignatureEvidence:
    """Everything detection needs to know about one signature for version V at time `at`."""

    signature: str
    title: str
    channel: str
    level: str
    exc_class: str | None
    kind: str
    strata: list[StratumCounts] = field(default_factory=list)
    # totals of V up to `at` (all groups)
    events: int = 0
    requests: int = 0
    wikis: int = 0  # distinct wikis with events in V
    hosts: int = 0  # distinct hosts with events in V
    top_host: str | None = None
    top_host_events: int = 0
    first_seen: float | None = None  # first event in V
    last_seen: float | None = None
    max_events_1h: int = 0  # busiest hour of V (events)
    max_events_12h: int = 0  # busiest 12-hour window of V (events)
    # history in OLDER versions (for NEW): events within the lookback before `at`
    older_events_in_lookback: int = 0
    older_versions_in_lookback: tuple[str, ...] = ()
    first_seen_any_version: float | None = None
    # the previous version's totals in the comparison period (for FIXED)
    previous_events: int = 0
    previous_requests: int = 0
    groups: dict[str, int] = field(default_factory=dict)  # events of V per group (for display)


@dataclass
class TrainSnapshot:
    """The train as of `at`: where V stands and the evidence per signature."""

    version: str
    at: float
    previous_version: str | None
    stage: str | None  # highest group running V at `at`, None if not deployed
    next_stage: str | None
    rolled_back: bool
    windows: list[GroupWindow]
    signatures: list[SignatureEvidence]
    exposure_source: str  # "requests" (imported) | "estimated" (stable signatures) | "none"
    aggregate_candidate_requests: int = 0  # all error requests of V in the candidate windows
    aggregate_baseline_requests: int = 0  # all error requests of the baseline version in the baseline windows
    max_window_events: int = 0  # for the scap-style absolute net: busiest `gate_window` in V's groups
