"""Command line: a thin layer over the library (no SQL, no grouping logic here).

One module per topic; each lists its commands in COMMANDS and they are added to
`main` here. Shared options and the store a command opens live in cli/options.py;
errors become messages and exit codes in cli/errors.py only. Heavy imports (the
store, the web stack) happen inside commands so that `traintriage --help` stays fast.
"""

from __future__ import annotations

from traintriage.cli import (
    deploys,
    ingest,
    meeting,
    metrics,
    notify,
    owners,
    regroup,
    retract,
    review,
    signatures,
    simulate,
    tasks,
    train,
    web,
)
from traintriage.cli.app import main

for _module in (
    ingest,
    signatures,
    regroup,
    train,
    deploys,
    review,
    retract,
    owners,
    tasks,
    meeting,
    notify,
    metrics,
    web,
    simulate,
):
    for _command in _module.COMMANDS:
        main.add_command(_command)

__all__ = ["main"]
