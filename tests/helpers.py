"""Small builders of realistic log lines for tests (no mocks: real formats), and the in-process CLI."""

from __future__ import annotations

import importlib
import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def mw_line(
    *,
    ts: str = "2021-01-19T18:00:01Z",
    channel: str = "exception",
    version: str = "1.36.0-wmf.27",
    wiki: str = "enwiki",
    host: str = "mw1300",
    req: str = "req-1",
    cls: str | None = "RuntimeException",
    message: str = "Something broke",
    file: str = "includes/Foo.php:10",
    frames: tuple[str, ...] = ("includes/Bar.php(20): Bar->call()", "includes/Baz.php(30): Baz->run()"),
    url: str = "/wiki/Main_Page",
) -> str:
    doc: dict[str, object] = {
        "@timestamp": ts,
        "type": "mediawiki",
        "channel": channel,
        "level": "ERROR",
        "host": host,
        "wiki": wiki,
        "mwversion": version,
        "reqId": req,
        "url": url,
        "message": f"[{req}] {url}   {cls + ': ' if cls else ''}{message}",
        "normalized_message": f"[{{reqId}}] {{exception_url}}   {cls + ': ' if cls else ''}{message}",
    }
    if cls:
        trace = [f"from /srv/mediawiki/php-{version}/{file.replace(':', '(')})"]
        trace += [f"#{i} /srv/mediawiki/php-{version}/{f}" for i, f in enumerate(frames)]
        doc["exception"] = {
            "class": cls,
            "message": message,
            "file": f"/srv/mediawiki/php-{version}/{file}",
            "trace": "\n".join(trace),
        }
    return json.dumps(doc)


def synthetic_lines(n: int, seed: int = 7, bad_every: int = 0) -> tuple[list[str], dict[str, int]]:
    """n lines over a few bugs and versions; returns the lines and the expected events per bug."""
    rng = random.Random(seed)
    bugs = [
        ("RuntimeException", "Cache miss for page {n}", "includes/Cache.php:{l}"),
        (
            "TypeError",
            "Argument 1 passed to Foo::bar() must be of the type int, null given",
            "includes/Foo.php:{l}",
        ),
        (
            "Wikimedia\\Rdbms\\DBQueryError",
            "Error 1205: Lock wait timeout exceeded; try restarting transaction",
            "includes/libs/rdbms/Database.php:{l}",
        ),
    ]
    expected: dict[str, int] = {}
    lines: list[str] = []
    for i in range(n):
        if bad_every and i % bad_every == bad_every - 1:
            lines.append('{"@timestamp": "2021-01-19T18:00:01Z", "message": "trunc')
            continue
        cls, msg, file = bugs[rng.randrange(len(bugs))]
        version = rng.choice(["1.36.0-wmf.27", "1.36.0-wmf.28"])
        minute = i % 60
        lines.append(
            mw_line(
                ts=f"2021-01-{19 + (i // 100_000) % 5}T{(i // 3600) % 24:02d}:{minute:02d}:{i % 60:02d}Z",
                version=version,
                wiki=rng.choice(["enwiki", "dewiki", "commonswiki"]),
                host=f"mw{1300 + rng.randrange(20)}",
                req=f"r{i // 2}",
                cls=cls,
                message=msg.format(n=rng.randrange(10**6)),
                file=file.format(l=rng.choice([10, 12, 99])),
            )
        )
        expected[cls] = expected.get(cls, 0) + 1
    return lines, expected


def cli(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Any:
    """Run `traintriage ARGS` in-process (click.testing.CliRunner); stdout and stderr kept apart."""
    from click.testing import CliRunner

    from traintriage.cli import main

    return CliRunner(env=env).invoke(main, list(args), input=input, prog_name="traintriage")


@dataclass(frozen=True)
class SimTrain:
    """The simulator's output for a 2-week train and a SQLite file with all of it loaded."""

    sim: Path
    template: Path

    def copy(self, directory: Path) -> str:
        """A private copy of the loaded database (tests may write to it)."""
        target = directory / "train.db"
        shutil.copyfile(self.template, target)
        return str(target)


class LazyModule:
    """A module imported on first use, so that collecting the tests stays fast (SciPy takes seconds)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):  # pytest probes module attributes for markers while collecting
            raise AttributeError(attr)
        return getattr(importlib.import_module(self._name), attr)
