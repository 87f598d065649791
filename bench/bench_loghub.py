"""Grouping quality and speed on the Loghub 2k samples: ours vs Drain3, plus masking speed.

    .venv/bin/python bench/bench_loghub.py [--data DIR] [--repeat N]

For each system under DIR (default ../shared/data/loghub_2k, read in place, never
copied), the `Content` column of `<System>_2k.log_structured_corrected.csv` is
grouped and compared with `EventId`:

* ours: each line through the same path as `traintriage fingerprint --format text`
  (``LineReader(fmt="text")`` then ``Grouper().signature_of``, algorithm sig:v2);
* Drain3 0.9.11 with its default configuration and no masking rules.

Then a leave-one-out hold-out check of the one tuned parameter of free-text mining
(the miner's similarity threshold): for each system, the threshold that scores best
(mean FGA, then GA) on the other seven is chosen, and the held-out system is scored
with it. A large gap between the in-sample and the held-out scores would mean the
rules fit the eight systems rather than logs in general.

It prints a markdown table of GA, FGA, group counts and lines/s per system and
their mean, then the masking throughput of ``mask_text`` on 60-150 character
messages. Speeds are CPU time of this single-threaded process (best of --repeat
runs), so a busy machine slows them less than wall-clock time would. It is a benchmark, not a test: it always exits 0. The metric functions
are re-exported here (``from bench.bench_loghub import grouping_accuracy``).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import logging
import random
import sys
import time
import uuid
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import NamedTuple

try:
    from traintriage.grouping.drain import TemplateMiner
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from traintriage.grouping.drain import TemplateMiner

from traintriage.grouping.mask import mask_text, mask_tokens
from traintriage.grouping.metrics import (
    GroupingScores,
    f1_grouping_accuracy,
    grouping_accuracy,
    grouping_scores,
)
from traintriage.grouping.rules import default_rules
from traintriage.grouping.signature import Grouper
from traintriage.ingest.formats import LineError, LineReader

__all__ = ["f1_grouping_accuracy", "grouping_accuracy", "grouping_scores", "main"]

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "loghub_2k"


class Run(NamedTuple):
    """One parser's result on one system."""

    scores: GroupingScores
    lines_per_s: float


def load_system(folder: Path) -> tuple[list[str], list[str]]:
    """(messages, true group ids) of one Loghub system."""
    path = folder / f"{folder.name}_2k.log_structured_corrected.csv"
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["Content"] for r in rows], [r["EventId"] for r in rows]


def group_ours(
    messages: Sequence[str],
    threshold: float | None = None,
    shapes: tuple[str, ...] | None = None,
    elastic: int | None = None,
) -> list[str]:
    """Signature ids through the fingerprint path (`--format text`, no timestamps needed)."""
    rules = default_rules()
    if threshold is not None:
        rules = dataclasses.replace(rules, message_similarity=threshold)
    if shapes is not None:
        rules = dataclasses.replace(rules, token_shapes=shapes)
    if elastic is not None:
        rules = dataclasses.replace(rules, message_elastic=elastic)
    reader = LineReader(fmt="text", require_time=False)
    grouper = Grouper(rules)
    out = []
    for m in messages:
        try:
            out.append(grouper.signature_of(reader.read(m.encode("utf-8"))).id)
        except LineError:
            out.append("<unreadable>")  # an empty Content: one group of its own
    return out


def group_miner_only(messages: Sequence[str]) -> list[int]:
    """Cluster ids from masking + the bare miner (what sig:v1 did for free text)."""
    miner = TemplateMiner()
    return [miner.add(mask_tokens(m))[0] for m in messages]


def group_drain3(messages: Sequence[str]) -> list[int]:
    """Cluster ids from Drain3 with its default configuration (no masking)."""
    from drain3 import TemplateMiner as Drain3Miner
    from drain3.template_miner_config import TemplateMinerConfig

    miner = Drain3Miner(config=TemplateMinerConfig())  # defaults; ignores any drain3.ini
    return [miner.add_log_message(m)["cluster_id"] for m in messages]


def measure(
    parser: Callable[[Sequence[str]], Sequence[Hashable]], messages: list[str], truth: list[str], repeat: int
) -> Run:
    """Scores of one parser, and its best lines/s over `repeat` fresh runs."""
    best = float("inf")
    predicted: Sequence[Hashable] = []
    for _ in range(repeat):
        t0 = time.process_time()
        predicted = parser(messages)
        best = min(best, time.process_time() - t0)
    return Run(grouping_scores(truth, predicted), len(messages) / best)


def mediawiki_like_messages(n: int, seed: int = 1) -> list[str]:
    """Synthetic MediaWiki error messages (domain.md 2.2 shapes) with random values."""
    rng = random.Random(seed)
    shapes = [
        "PHP Notice: A non well formed numeric value encountered",
        'PHP Warning: Undefined array key "{word}" in /srv/mediawiki/php-1.36.0-wmf.{v}/includes/{cls}.php on line {n}',
        "Uncaught RedisException: Connection timed out in /srv/mediawiki/src/Profiler.php:{n}",
        'Memcached error for key "enwiki:pcache:idhash:{n}-0!canonical" on server "{ip}:11211": A TIMEOUT OCCURRED',
        "Wikimedia\\Rdbms\\DBQueryError: Error 1205: Lock wait timeout exceeded; try restarting transaction",
        "Expectation (writeQueryTime <= 1) by MediaWiki::main not met (actual: {f})",
        "TypeError: Argument 1 passed to MediaWiki\\Revision\\RevisionStore::getRevisionById() must be of the type int",
        "Wikimedia\\Assert\\InvariantException: Invariant failed: Bad UTF-8 at start of string",
        "[{uuid}] /w/api.php   PHP Warning: Cannot modify header information - headers already sent",
        "Could not acquire lock '{wiki}:page:{n}' for {cls}::doUpdate after {f}s",
        "JobQueueError: Could not enqueue jobs for wiki {wiki} on db{host}",
        "Lost connection to MySQL server at 'reading initial communication packet' on {ip}:3306",
        "PHP Deprecated: Use of {cls}::getText was deprecated in MediaWiki 1.36. [Called from Foo::bar]",
        "Parsoid\\Wt2Html\\TT\\Sanitizer: unexpected token at offset {n} of page {n} rev {n}",
        "HTTP 503 from https://api.example.org/v1/items/{n} after {n}ms",
    ]
    words = ["title", "user", "namespace", "page", "action", "revid", "format"]
    classes = ["Title", "WikiPage", "OutputPage", "Parser", "LinksUpdate", "SpecialPage"]
    wikis = ["enwiki", "dewiki", "commonswiki", "wikidatawiki", "zhwiki"]
    out = []
    while len(out) < n:
        text = rng.choice(shapes).format(
            word=rng.choice(words),
            cls=rng.choice(classes),
            wiki=rng.choice(wikis),
            v=rng.randint(20, 40),
            n=rng.randint(1, 99_999_999),
            f=round(rng.uniform(0, 30), 3),
            host=rng.randint(1000, 2999),
            ip=".".join(str(rng.randint(1, 254)) for _ in range(4)),
            uuid=str(uuid.UUID(int=rng.getrandbits(128))),
        )
        if 60 <= len(text) <= 150:
            out.append(text)
    return out


def masking_rate(messages: list[str], repeat: int) -> float:
    """mask_text messages/s on one core, best of `repeat` passes."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        for m in messages:
            mask_text(m)
        best = min(best, time.process_time() - t0)
    return len(messages) / best


def _row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def grouping_table(data: Path, repeat: int) -> list[str]:
    """Run both parsers on every system and return the markdown table lines."""
    systems = sorted(p for p in data.iterdir() if p.is_dir())
    try:
        import drain3  # noqa: F401

        have_drain3 = True
    except ImportError:
        have_drain3 = False
    lines = [
        f"## Grouping on Loghub 2k ({len(systems)} systems): ours (fingerprint path, sig:v2) vs Drain3 0.9.11, defaults",
        "",
        _row(
            [
                "system",
                "GA ours",
                "GA Drain3",
                "FGA ours",
                "FGA Drain3",
                "groups ours / Drain3 / true",
                "lines/s ours",
                "lines/s Drain3",
            ]
        ),
        _row(["---"] * 8),
    ]
    ours_all: list[Run] = []
    theirs_all: list[Run] = []
    for folder in systems:
        messages, truth = load_system(folder)
        ours = measure(group_ours, messages, truth, repeat)
        ours_all.append(ours)
        theirs = measure(group_drain3, messages, truth, repeat) if have_drain3 else None
        if theirs:
            theirs_all.append(theirs)
        lines.append(_row(_cells(folder.name, ours, theirs)))
    lines.append(_row(_mean_cells(ours_all, theirs_all)))
    if theirs_all:
        ratio = sum(o.lines_per_s / t.lines_per_s for o, t in zip(ours_all, theirs_all, strict=True)) / len(
            theirs_all
        )
        lines += ["", f"Throughput ratio ours/Drain3 (mean over systems): {ratio:.2f}x"]
    else:
        lines += ["", "Drain3 is not installed (pip install 'traintriage[bench]'): its columns are empty."]
    return lines


def _cells(name: str, ours: Run, theirs: Run | None) -> list[object]:
    t = theirs.scores if theirs else None
    return [
        name,
        f"{ours.scores.ga:.3f}",
        f"{t.ga:.3f}" if t else "-",
        f"{ours.scores.fga:.3f}",
        f"{t.fga:.3f}" if t else "-",
        f"{ours.scores.predicted_groups} / {t.predicted_groups if t else '-'} / {ours.scores.true_groups}",
        f"{ours.lines_per_s:,.0f}",
        f"{theirs.lines_per_s:,.0f}" if theirs else "-",
    ]


def _mean_cells(ours: list[Run], theirs: list[Run]) -> list[object]:
    def mean(values: list[float]) -> float:
        return sum(values) / len(values) if values else float("nan")

    return [
        "**mean**",
        f"**{mean([r.scores.ga for r in ours]):.3f}**",
        f"**{mean([r.scores.ga for r in theirs]):.3f}**" if theirs else "-",
        f"**{mean([r.scores.fga for r in ours]):.3f}**",
        f"**{mean([r.scores.fga for r in theirs]):.3f}**" if theirs else "-",
        "",
        f"{mean([r.lines_per_s for r in ours]):,.0f}",
        f"{mean([r.lines_per_s for r in theirs]):,.0f}" if theirs else "-",
    ]


THRESHOLDS = (0.4, 0.5, 0.6)
SHAPE_SETS: tuple[tuple[str, ...], ...] = ((), ("kv",), ("kv", "path"), ("dotted", "kv", "path"))
ELASTIC = (0, 3)
Config = tuple[float, tuple[str, ...], int]


def leave_one_out_table(data: Path) -> list[str]:
    """Hold-out check: tune the free-text rules on 7 systems, score the 8th with them.

    The grid is the miner threshold x the typed token shapes x length-robust matching
    (off / up to 3 tokens); "shipped" is what rules/grouping.toml says, scored on
    every system. Ties go to the first configuration in grid order (the simpler one).
    """
    systems = sorted(p for p in data.iterdir() if p.is_dir())
    loaded = {p.name: load_system(p) for p in systems}
    configs: list[Config] = [(t, s, e) for t in THRESHOLDS for s in SHAPE_SETS for e in ELASTIC]
    rules = default_rules()
    shipped: Config = (rules.message_similarity, tuple(sorted(rules.token_shapes)), rules.message_elastic)
    if shipped not in configs:
        configs.append(shipped)
    grid = {
        (name, c): grouping_scores(truth, group_ours(messages, *c))
        for name, (messages, truth) in loaded.items()
        for c in configs
    }
    default = _label(shipped)
    lines = [
        f"## Leave-one-out: free-text rules chosen on the other {len(systems) - 1} systems "
        f"(threshold {THRESHOLDS} x shapes {['+'.join(s) or 'none' for s in SHAPE_SETS]} x elastic {ELASTIC})",
        "",
        _row(["held out", "chosen", "GA held-out", "FGA held-out", f"GA shipped ({default})", "FGA shipped"]),
        _row(["---"] * 6),
    ]
    held: list[GroupingScores] = []
    base: list[GroupingScores] = []
    for name in loaded:
        others = [n for n in loaded if n != name]

        def fit(c: Config, others: list[str] = others) -> tuple[float, float]:
            return (
                round(sum(grid[(n, c)].fga for n in others) / len(others), 4),
                round(sum(grid[(n, c)].ga for n in others) / len(others), 4),
            )

        chosen = max(configs, key=fit)  # ties: the first in grid order (fewer shapes, lower threshold)
        s, d = grid[(name, chosen)], grid[(name, shipped)]
        held.append(s)
        base.append(d)
        lines.append(
            _row([name, _label(chosen), f"{s.ga:.3f}", f"{s.fga:.3f}", f"{d.ga:.3f}", f"{d.fga:.3f}"])
        )

    def mean(values: list[float]) -> str:
        return f"**{sum(values) / len(values):.3f}**"

    lines.append(
        _row(
            [
                "**mean**",
                "",
                mean([s.ga for s in held]),
                mean([s.fga for s in held]),
                mean([s.ga for s in base]),
                mean([s.fga for s in base]),
            ]
        )
    )
    return lines


def _label(config: Config) -> str:
    threshold, shapes, elastic = config
    return f"{threshold} {'+'.join(shapes) or 'untyped'}{f' elastic {elastic}' if elastic else ''}"


def masking_table(data: Path, repeat: int) -> list[str]:
    """Masking throughput on real and MediaWiki-like 60-150 character messages."""
    loghub = [
        m for p in sorted(data.iterdir()) if p.is_dir() for m in load_system(p)[0] if 60 <= len(m) <= 150
    ]
    corpora = {
        "MediaWiki-like error messages (synthetic, domain.md shapes)": mediawiki_like_messages(10_000),
        "Loghub Content lines (8 systems), digit-dense": loghub,
    }
    lines = [
        "## Masking throughput: mask_text, 60-150 char messages, 1 core, best of runs",
        "",
        _row(["corpus", "messages", "mean chars", "messages/s"]),
        _row(["---"] * 4),
    ]
    for name, messages in corpora.items():
        rate = masking_rate(messages, repeat)
        lines.append(
            _row([name, len(messages), f"{sum(map(len, messages)) / len(messages):.0f}", f"{rate:,.0f}"])
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the loghub_2k folder")
    parser.add_argument("--repeat", type=int, default=3, help="timing runs per measurement (best is kept)")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # Drain3 logs every new cluster at INFO
    if not args.data.is_dir():
        print(f"no Loghub data at {args.data}; nothing to do")
        return 0
    print("\n".join(grouping_table(args.data, args.repeat)))
    print()
    print("\n".join(leave_one_out_table(args.data)))
    print()
    print("\n".join(masking_table(args.data, max(args.repeat, 5))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
