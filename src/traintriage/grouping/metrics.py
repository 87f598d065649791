"""Grouping quality against labelled data: GA and FGA as used by Loghub benchmarks.

A predicted group is *correct* when its set of lines equals the set of lines of
one true group. GA (grouping accuracy) is the share of lines in correct groups;
FGA is the F1 of correct groups over predicted (precision) and true (recall)
groups. Both are strict: one stray line makes its whole group wrong, which is
what a triager sees when two bugs share a signature or one bug has two.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import NamedTuple


class GroupingScores(NamedTuple):
    """GA and FGA with the counts they come from."""

    ga: float
    fga: float
    correct_groups: int
    predicted_groups: int
    true_groups: int


def _groups(labels: Sequence[Hashable]) -> dict[Hashable, frozenset[int]]:
    members: dict[Hashable, set[int]] = {}
    for line, label in enumerate(labels):
        members.setdefault(label, set()).add(line)
    return {label: frozenset(lines) for label, lines in members.items()}


def grouping_scores(truth: Sequence[Hashable], predicted: Sequence[Hashable]) -> GroupingScores:
    """GA, FGA and group counts for per-line true and predicted group labels."""
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} true labels but {len(predicted)} predicted")
    if not truth:
        return GroupingScores(1.0, 1.0, 0, 0, 0)
    true_sets = set(_groups(truth).values())
    predicted_sets = list(_groups(predicted).values())
    correct = [lines for lines in predicted_sets if lines in true_sets]
    ga = sum(len(lines) for lines in correct) / len(truth)
    precision = len(correct) / len(predicted_sets)
    recall = len(correct) / len(true_sets)
    fga = 2 * precision * recall / (precision + recall) if correct else 0.0
    return GroupingScores(ga, fga, len(correct), len(predicted_sets), len(true_sets))


def grouping_accuracy(truth: Sequence[Hashable], predicted: Sequence[Hashable]) -> float:
    """Share of lines whose predicted group has exactly the lines of their true group."""
    return grouping_scores(truth, predicted).ga


def f1_grouping_accuracy(truth: Sequence[Hashable], predicted: Sequence[Hashable]) -> float:
    """FGA: F1 of exactly-recovered groups (precision over predicted, recall over true)."""
    return grouping_scores(truth, predicted).fga
