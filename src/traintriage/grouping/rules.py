"""Load the grouping rules (rules/grouping.toml, rules/grouping_v1.toml) into typed objects.

Each algorithm version has its own rules file, so a store made with an older one can
keep grouping exactly as it did until it is re-keyed (`traintriage regroup`).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

CURRENT_ALGORITHM = "sig:v2"
_RULE_FILES = {"sig:v1": "grouping_v1.toml", "sig:v2": "grouping.toml"}
ALGORITHMS = tuple(_RULE_FILES)


@dataclass(frozen=True)
class GroupingRules:
    """Compiled grouping rules; see rules/grouping.toml for what each one is for."""

    algorithm: str
    frames: int
    exception_similarity: float
    message_prefixes: tuple[re.Pattern[str], ...]
    not_in_app_paths: tuple[str, ...]
    not_in_app_functions: tuple[str, ...]
    path_prefixes: tuple[re.Pattern[str], ...]
    channel_aliases: dict[str, str]
    dispatch_paths: tuple[str, ...] = ()
    dispatch_functions: re.Pattern[str] | None = None
    canonical_placeholders: bool = False
    message_similarity: float = 0.5
    token_shapes: tuple[str, ...] = ()
    message_elastic: int = 0

    @classmethod
    def from_toml(cls, text: str) -> GroupingRules:
        data = tomllib.loads(text)
        dispatch = [str(p) for p in data.get("dispatch_functions", [])]
        return cls(
            algorithm=str(data["algorithm"]),
            frames=int(data.get("frames", 2)),
            exception_similarity=float(data.get("exception_similarity", 0.7)),
            message_prefixes=tuple(re.compile(p) for p in data.get("message_prefixes", [])),
            not_in_app_paths=tuple(data.get("not_in_app_paths", [])),
            not_in_app_functions=tuple(data.get("not_in_app_functions", [])),
            path_prefixes=tuple(re.compile(p) for p in data.get("path_prefixes", [])),
            channel_aliases=dict(data.get("channel_aliases", {})),
            dispatch_paths=tuple(str(p) for p in data.get("dispatch_paths", [])),
            dispatch_functions=re.compile("|".join(f"(?:{p})" for p in dispatch)) if dispatch else None,
            canonical_placeholders=bool(data.get("canonical_placeholders", False)),
            token_shapes=tuple(str(x) for x in data.get("token_shapes", [])),
            message_elastic=int(data.get("message_elastic", 0)),
            message_similarity=float(data.get("message_similarity", 0.5)),
        )

    @classmethod
    def from_file(cls, path: Path) -> GroupingRules:
        return cls.from_toml(path.read_text(encoding="utf-8"))


@cache
def rules_for(algorithm: str) -> GroupingRules:
    """The packaged rules of one algorithm version (ValueError for an unknown one)."""
    name = _RULE_FILES.get(algorithm)
    if name is None:
        raise ValueError(f"unknown grouping algorithm {algorithm!r} (known: {', '.join(ALGORITHMS)})")
    text = resources.files("traintriage").joinpath("rules", name).read_text(encoding="utf-8")
    rules = GroupingRules.from_toml(text)
    if rules.algorithm != algorithm:
        raise ValueError(f"rules/{name} says algorithm {rules.algorithm!r}, expected {algorithm!r}")
    return rules


def default_rules() -> GroupingRules:
    """The rules of the current algorithm (sig:v2)."""
    return rules_for(CURRENT_ALGORITHM)
