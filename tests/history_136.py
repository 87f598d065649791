"""The MediaWiki 1.36 train cycle as a wikiversions commit log, for the cycle-figure tests.

Per version: the first deploy (from the `wikiversions.json` history) and train-stats'
rollback count and seconds rolled back (its per-version CSVs for 1.36). The log below is
[synthesized] from those real figures: every train goes testwikis -> group0 -> group1 ->
all, and its rollbacks are group0 rollbacks whose episodes add up to train-stats' time, so
an import must give back exactly train-stats' numbers per train.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# version, first deploy (UTC), rollbacks, seconds rolled back, conductor (train-stats, 1.36 cycle)
TRAINS: tuple[tuple[str, str, int, int, str], ...] = (
    ("1.36.0-wmf.1", "2020-07-21 17:18", 0, 0, "Jeena Huneidi"),
    ("1.36.0-wmf.2", "2020-07-28 07:25", 4, 389769, "Lars Wirzenius"),
    ("1.36.0-wmf.3", "2020-08-04 17:38", 1, 78985, "Brennen Bearnes"),
    ("1.36.0-wmf.4", "2020-08-11 13:13", 1, 920, "Antoine Musso"),
    ("1.36.0-wmf.5", "2020-08-18 19:13", 0, 0, "Mukunda Modell"),
    ("1.36.0-wmf.6", "2020-08-25 17:10", 0, 0, "Dan Duvall"),
    ("1.36.0-wmf.8", "2020-09-08 17:57", 0, 0, "Jeena Huneidi"),
    ("1.36.0-wmf.9", "2020-09-15 07:50", 1, 83299, "Lars Wirzenius"),
    ("1.36.0-wmf.10", "2020-09-22 19:47", 1, 108, "Ahmon Dancy"),
    ("1.36.0-wmf.11", "2020-09-29 19:32", 3, 1167939, "Mukunda Modell"),
    ("1.36.0-wmf.13", "2020-10-13 18:58", 1, 5679, "Dan Duvall"),
    ("1.36.0-wmf.14", "2020-10-20 12:11", 0, 0, "Lars Wirzenius"),
    ("1.36.0-wmf.16", "2020-11-04 18:54", 2, 339977, "Brennen Bearnes"),
    ("1.36.0-wmf.18", "2020-11-17 19:51", 1, 356753, "Ahmon Dancy"),
    ("1.36.0-wmf.20", "2020-12-01 13:08", 1, 319871, "Antoine Musso"),
    ("1.36.0-wmf.21", "2020-12-08 20:25", 0, 0, "Mukunda Modell"),
    ("1.36.0-wmf.22", "2020-12-15 17:53", 0, 0, "Dan Duvall"),
    ("1.36.0-wmf.25", "2021-01-05 18:18", 2, 86083, "Jeena Huneidi"),
    ("1.36.0-wmf.26", "2021-01-12 09:07", 0, 0, "Lars Wirzenius"),
    ("1.36.0-wmf.27", "2021-01-19 17:59", 2, 73794, "Brennen Bearnes"),
    ("1.36.0-wmf.28", "2021-01-26 18:05", 4, 308038, "Ahmon Dancy"),
    ("1.36.0-wmf.29", "2021-02-02 13:12", 2, 1814, "Antoine Musso"),
    ("1.36.0-wmf.30", "2021-02-09 23:57", 1, 327013, "Mukunda Modell"),
    ("1.36.0-wmf.31", "2021-02-16 17:58", 1, 78422, "Dan Duvall"),
    ("1.36.0-wmf.32", "2021-02-23 20:50", 0, 0, "Jeena Huneidi"),
    ("1.36.0-wmf.33", "2021-03-02 09:09", 0, 0, "Lars Wirzenius"),
    ("1.36.0-wmf.34", "2021-03-09 18:04", 1, 4565, "Brennen Bearnes"),
    ("1.36.0-wmf.35", "2021-03-16 18:56", 1, 72867, "Ahmon Dancy"),
    ("1.36.0-wmf.36", "2021-03-23 13:18", 3, 309874, "Antoine Musso"),
    ("1.36.0-wmf.37", "2021-03-30 19:12", 3, 18925, "Mukunda Modell"),
    ("1.36.0-wmf.38", "2021-04-06 18:07", 0, 0, "Dan Duvall"),
)


def _line(t: datetime, actor: str, message: str) -> str:
    return f"{t:%Y-%m-%d %H:%M:%S} {actor:<15}| {message}"


def wikiversions_log() -> str:
    """One line per wikiversions commit, in time order (the `deploys import` log format)."""
    lines = [_line(datetime(2020, 7, 14, 18, 0, tzinfo=UTC), "Jeena Huneidi", "all wikis to 1.35.0-wmf.41")]
    previous = "1.35.0-wmf.41"
    for version, first, rollbacks, seconds, actor in TRAINS:
        t = datetime.strptime(first, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
        lines.append(_line(t, actor, f"testwikis wikis to {version}"))
        t += timedelta(minutes=60)
        lines.append(_line(t, actor, f"group0 wikis to {version}"))
        for i in range(rollbacks):
            share = seconds // rollbacks + (seconds % rollbacks if i == rollbacks - 1 else 0)
            t += timedelta(minutes=5)
            lines.append(_line(t, actor, f"Rollback group0 to {previous}"))
            t += timedelta(seconds=share)
            lines.append(_line(t, actor, f"group0 wikis to {version}"))
        t += timedelta(minutes=30)
        lines.append(_line(t, actor, f"group1 wikis to {version}"))
        t += timedelta(minutes=30)
        lines.append(_line(t, actor, f"all wikis to {version}"))
        previous = version
    return "\n".join(lines) + "\n"
