"""Load the grouping rules (rules/grouping.toml) into a typed, compiled object."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path


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

    @classmethod
    def from_toml(cls, text: str) -> GroupingRules:
        data = tomllib.loads(text)
        return cls(
            algorithm=str(data["algorithm"]),
            frames=int(data.get("frames", 2)),
            exception_similarity=float(data.get("exception_similarity", 0.7)),
            message_prefixes=tuple(re.compile(p) for p in data.get("message_prefixes", [])),
            not_in_app_paths=tuple(data.get("not_in_app_paths", [])),
            not_in_app_functions=tuple(data.get("not_in_app_functions", [])),
            path_prefixes=tuple(re.compile(p) for p in data.get("path_prefixes", [])),
            channel_aliases=dict(data.get("channel_aliases", {})),
        )

    @classmethod
    def from_file(cls, path: Path) -> GroupingRules:
        return cls.from_toml(path.read_text(encoding="utf-8"))


@cache
def default_rules() -> GroupingRules:
    """The rules shipped with the package (algorithm sig:v1)."""
    text = resources.files("traintriage").joinpath("rules/grouping.toml").read_text(encoding="utf-8")
    return GroupingRules.from_toml(text)
