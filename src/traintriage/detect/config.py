"""Detection thresholds: one frozen object, every default traceable to domain.md.

Sources: §6 (statistics and the go/no-go model), §1.6 (the 2021 logspam policy)
and §3.2 (scap's absolute canary/production nets). The TOML ``[detection]`` table
of the config file maps onto ``DetectionConfig.from_mapping``; unknown keys are
errors so that a typo never silently falls back to a default.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from traintriage.core.vocabulary import STAGES

__all__ = ["ConfigError", "DEFAULT_MIN_STAGE_MINUTES", "DetectionConfig"]


class ConfigError(ValueError):
    """A ``[detection]`` value that is unknown, mistyped or out of range."""


DEFAULT_MIN_STAGE_MINUTES: Mapping[str, float] = MappingProxyType(
    {"testwikis": 15.0, "group0": 60.0, "group1": 60.0, "group2": 60.0}
)
"""Minimum age of a stage before it can say GO (§6 repeated looks: +15 min, +1 h checkpoints).

testwikis gets 15 minutes (tiny traffic, the first look); the production groups
get one hour, the second §6 checkpoint, so an hourly error pattern is seen once.
"""


def _default_min_stage_minutes() -> Mapping[str, float]:
    return DEFAULT_MIN_STAGE_MINUTES


@dataclass(frozen=True)
class DetectionConfig:
    """All knobs of classify() and decide(); defaults follow domain.md.

    Counts are distinct requests unless the name says events (log lines):
    the logspam and scap thresholds are defined on log lines, §6 on requests.
    """

    # --- NEW (§6 decision model) -----------------------------------------------
    lookback_days: float = 14.0
    """History window in older versions: seen there means not NEW (the store applies it)."""
    min_requests: int = 3
    """Practical floor for NEW: at least this many distinct requests (§6)."""
    min_spread: int = 2
    """Practical floor for NEW: on at least this many wikis or hosts (§6)."""
    new_alpha: float = 0.001
    """p-value threshold for NEW (x0 = 0, p = share**x1; §6 table)."""

    # --- REGRESSED (§6 ELEVATED) -----------------------------------------------
    fdr_q: float = 0.01
    """Benjamini-Hochberg false discovery rate over all tested signatures (§6 robustness 3)."""
    auto_alpha: float = 0.01
    """Family-wise alpha (Bonferroni: p <= auto_alpha / m) a REGRESSED signature needs to force no-go."""
    rr_alpha: float = 0.01
    """One-sided level of the RR_L lower bound (99%, as in the §6 worked examples)."""
    rr_lower_min: float = 1.5
    """Practical significance: RR_L at least this (warning/error channels; §6 robustness 5)."""
    rr_lower_min_critical: float = 1.2
    """RR_L floor for critical channels (fatal, exception; §6 robustness 5)."""
    min_excess_per_hour: float = 3.0
    """Excess requests over expectation per candidate hour (§6 robustness 5)."""
    stopped_min_quiet_hours: float = 2.0
    """STOPPED: a NEW/REGRESSED error silent at least this long..."""
    stopped_min_expected: float = 20.0
    """...where its own earlier rate predicts at least this many requests (e^-20: not chance)."""
    min_excess_per_hour_critical: float = 1.0
    """The same floor for critical channels: a fatal or exception rising by one request an hour
    (24 a day, every day) is worth a developer's look; §6's 3/h suits warnings."""
    dispersion: float = 1.0
    """Quasi-Poisson phi (>= 1) from stable signatures (§6 robustness 2); 1 = plain binomial."""

    # --- LOGSPAM (§1.6) ----------------------------------------------------------
    logspam_per_hour: int = 100
    """'Over 100 errors in a 1 hour period' (Holding the train, 2021)."""
    logspam_per_12h: int = 1000
    """'Over 1000 errors in a 12 hr period' (Holding the train, 2021)."""

    # --- train-level decision (§6) -----------------------------------------------
    rollback_fatal_per_hour: int = 100
    """A NEW/REGRESSED critical signature above this many events in an hour recommends rollback."""
    aggregate_rr_lower: float = 1.5
    """Aggregate error-request rate: RR_L at least this ... (§6 rollback a)."""
    aggregate_alpha: float = 1e-4
    """... with p below this recommends rollback (§6 rollback a)."""
    aggregate_channels: tuple[str, ...] = ("exception", "error", "fatal")
    """Channels the store sums into the aggregate (store/snapshot.py ERROR_CHANNELS); used to take
    single-host and reviewed signatures back out of it."""
    min_exposure_requests: int = 50_000
    """Below this many requests served by V (when known) the answer is INCONCLUSIVE (§6)."""
    min_stage_minutes: Mapping[str, float] = field(default_factory=_default_min_stage_minutes)
    """Per stage: younger than this is INCONCLUSIVE (see DEFAULT_MIN_STAGE_MINUTES)."""
    baseline_hours: float = 24.0
    """Cap on the self-controlled baseline window before each promotion (the store applies it)."""

    # --- classification details --------------------------------------------------
    single_host_share: float = 0.9
    """One host carrying at least this share of events is a host problem, not the deploy."""
    single_host_min_events: int = 20
    """... but only with at least this many events (a 3-event signature on one host is just small)."""
    fixed_min_expected: float = 10.0
    """FIXED needs the baseline rate to predict at least this many requests in V's exposure."""
    critical_channels: tuple[str, ...] = ("exception", "fatal")
    """Channels whose NEW/REGRESSED signatures force no-go unreviewed (§6 'critical')."""

    # --- scap-style absolute net (§3.2) ------------------------------------------
    gate_window_seconds: int = 20
    """scap's canary_wait_time: errors are counted in windows of this many seconds."""
    canary_threshold: int = 10
    """Errors per window that fail the canary check while V is only on testwikis/group0."""
    production_threshold: int = 150
    """Errors per window that fail the production-stage check (group1 and later)."""

    def __post_init__(self) -> None:
        for name in ("new_alpha", "fdr_q", "auto_alpha", "rr_alpha", "aggregate_alpha"):
            _check(0.0 < getattr(self, name) < 1.0, name, "must be in (0, 1)")
        _check(0.0 < self.single_host_share <= 1.0, "single_host_share", "must be in (0, 1]")
        _check(
            self.dispersion >= 1.0, "dispersion", "must be >= 1 (it can only make tests more conservative)"
        )
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                _check(math.isfinite(value) and value >= 0, f.name, "must be a finite number >= 0")
        _check(
            all(isinstance(c, str) and c for c in self.critical_channels),
            "critical_channels",
            "must be names",
        )
        unknown = sorted(set(self.min_stage_minutes) - set(STAGES))
        _check(not unknown, "min_stage_minutes", f"unknown stage(s) {unknown}; stages are {list(STAGES)}")
        for stage, minutes in self.min_stage_minutes.items():
            _check(math.isfinite(minutes) and minutes >= 0, f"min_stage_minutes.{stage}", "must be >= 0")

    def is_critical(self, channel: str) -> bool:
        """Critical channels (fatal, exception) are compared case-insensitively."""
        return channel.lower() in {c.lower() for c in self.critical_channels}

    @property
    def peak_min_events(self) -> int:
        """Events below which a signature's busiest hour or 12 hours cannot exceed any limit read
        against them (logspam per hour and per 12 h, rollback per hour): the store skips those peaks."""
        return min(self.logspam_per_hour, self.logspam_per_12h, self.rollback_fatal_per_hour)

    def stage_minutes(self, stage: str) -> float:
        """Minimum age of `stage`; a stage not listed needs the longest listed minimum."""
        if stage in self.min_stage_minutes:
            return self.min_stage_minutes[stage]
        return max(self.min_stage_minutes.values(), default=0.0)

    def window_threshold(self, stage: str | None) -> int:
        """scap's net: the canary threshold while V is only on testwikis/group0, production after."""
        return self.canary_threshold if stage in (None, "testwikis", "group0") else self.production_threshold

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> DetectionConfig:
        """Build from a TOML ``[detection]`` table; unknown keys and wrong types raise ConfigError.

        ``min_stage_minutes`` is merged over the defaults, so ``{group1 = 120}`` changes only group1.
        """
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(table) - set(known))
        if unknown:
            raise ConfigError(f"[detection]: unknown key(s) {unknown}; known keys are {sorted(known)}")
        defaults = cls()
        kwargs: dict[str, Any] = {}
        for name, value in table.items():
            kwargs[name] = _coerce(name, value, getattr(defaults, name))
        if "min_stage_minutes" in kwargs:
            kwargs["min_stage_minutes"] = MappingProxyType(
                {**DEFAULT_MIN_STAGE_MINUTES, **kwargs["min_stage_minutes"]}
            )
        try:
            return cls(**kwargs)
        except ConfigError:
            raise
        except (TypeError, ValueError) as err:  # pragma: no cover - _coerce catches these first
            raise ConfigError(f"[detection]: {err}") from err


def _check(ok: bool, name: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"[detection] {name} {message}")


def _coerce(name: str, value: Any, default: Any) -> Any:
    """Coerce a TOML value to the type of the default, refusing anything that would surprise."""
    where = f"[detection] {name}"
    if isinstance(default, bool):  # pragma: no cover - no boolean knobs today
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        return float(value)
    if isinstance(default, tuple):
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise ConfigError(f"{where} must be a list of strings, got {value!r}")
        if not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where} must be a list of strings, got {value!r}")
        return tuple(value)
    if isinstance(default, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be a table of stage = minutes, got {value!r}")
        out: dict[str, float] = {}
        for key, minutes in value.items():
            out[str(key)] = _coerce(f"{name}.{key}", minutes, 0.0)
        return out
    raise ConfigError(f"{where}: unsupported type")  # pragma: no cover
