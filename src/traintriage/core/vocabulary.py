"""Names and sizes every layer shares, defined once.

Changing one of these changes stored data or the meaning of a decision: the stages
are scap's promotion order, the slot sizes are the resolution of stored counts, the
verdict names are what reviews store.
"""

from __future__ import annotations

from typing import Literal, get_args

# --- the train ----------------------------------------------------------------------

STAGES: tuple[str, ...] = ("testwikis", "group0", "group1", "group2")
"""Promotion order of the train; scap hard-codes the same list."""

ALL = "all"
"""Pseudo-group meaning every stage (``all wikis to V``)."""

CANARY_STAGES: tuple[str, ...] = ("testwikis", "group0")
"""Stages where scap's canary threshold applies; the production threshold after them."""

# --- events -------------------------------------------------------------------------

ERROR_CHANNELS: frozenset[str] = frozenset({"exception", "error", "fatal"})
"""Channels scap's canary check counts (`channel:(exception OR error)`, plus fatals)."""

UNKNOWN = ""
"""Stored for a missing version / wiki / host (primary-key columns cannot be NULL)."""

SLOT_SECONDS = 600
"""Resolution of stored counts: 10-minute cells, so `--at` replays see no more than was known."""

BUCKET_SECONDS = 10
"""Resolution of the error buckets: scap's canary check counts errors per 20 s window."""

# --- ownership ----------------------------------------------------------------------

UNOWNED = "unowned"
"""Team of a signature no ownership rule claims."""

# --- reviews ------------------------------------------------------------------------

ReviewVerdict = Literal[
    "blocker",
    "not-blocker",
    "known",
    "expected",
    "duplicate-of",
    "fixed-in",
    "needs-info",
]
VERDICTS: tuple[str, ...] = get_args(ReviewVerdict)
"""The verdicts a triager can give (docs/triage.md explains each)."""

CLEARING_VERDICTS: frozenset[str] = frozenset(
    {"not-blocker", "known", "expected", "duplicate-of", "fixed-in"}
)
"""Verdicts after which a signature stops blocking (and which resolve a `blocker`)."""

TARGET_VERDICTS: dict[str, str] = {"duplicate-of": "a signature id", "fixed-in": "a version or change"}
"""Verdicts that need a target, and what the target is."""

# --- decisions ----------------------------------------------------------------------

TrainVerdict = Literal["rollback", "no-go", "hold", "inconclusive", "go"]
TRAIN_VERDICTS: tuple[str, ...] = get_args(TrainVerdict)
