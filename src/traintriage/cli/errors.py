"""Exit codes, and the one place where errors become messages and exit codes.

Codes 0, 1 and 2 are answers; 64 and above are errors (numbered as in sysexits.h), so
a deploy tool reading `traintriage gate` can never mistake a crash or a typo for a
decision:

    0   success; gate: GO
    1   the command ran and its answer is a failure: gate NO-GO, an owners file with
        invalid lines, inputs of which not one could be read
    2   gate only: INCONCLUSIVE (not enough evidence yet: ask again later)
    64  usage error: unknown option, missing or invalid value, unreadable file named
        on the command line (EX_USAGE)
    65  conflicts with stored data, e.g. a user that exists already (EX_DATAERR)
    66  not found: no such signature, user or token (EX_NOINPUT)
    69  the database cannot be opened or reached (EX_UNAVAILABLE)
    70  internal error: a bug, reported with its traceback (EX_SOFTWARE)
    74  an operating-system I/O error, e.g. a file that cannot be written (EX_IOERR)
    130 interrupted (Ctrl-C)
"""

from __future__ import annotations

import errno
import sys
import traceback
from typing import NoReturn

import click

from traintriage.core.errors import Conflict, InvalidInput, NotFound, Unavailable

OK = 0
FAILED = 1
INCONCLUSIVE = 2
EX_USAGE = 64
EX_DATAERR = 65
EX_NOINPUT = 66
EX_UNAVAILABLE = 69
EX_SOFTWARE = 70
EX_IOERR = 74
INTERRUPTED = 130

EXIT_CODES = {
    OK: "success; gate: go",
    FAILED: "the command ran and reports failure (gate: no-go)",
    INCONCLUSIVE: "gate only: inconclusive, ask again later",
    EX_USAGE: "usage error: bad option, value or file named on the command line",
    EX_DATAERR: "conflicts with stored data (e.g. the user exists already)",
    EX_NOINPUT: "not found: no such signature, user or token",
    EX_UNAVAILABLE: "the database cannot be opened or reached",
    EX_SOFTWARE: "internal error (a bug; the traceback is printed)",
    EX_IOERR: "operating-system I/O error (e.g. a file cannot be written)",
    INTERRUPTED: "interrupted",
}


class Failed(click.ClickException):
    """The command could not do what was asked; printed as `traintriage: error: ...`."""

    exit_code = FAILED

    def show(self, file: object = None) -> None:
        click.echo(f"traintriage: error: {self.format_message()}", err=True)


class ConflictError(Failed):
    exit_code = EX_DATAERR


class NotFoundError(Failed):
    exit_code = EX_NOINPUT


class UnavailableError(Failed):
    exit_code = EX_UNAVAILABLE


class IOFailure(Failed):
    exit_code = EX_IOERR


def usage(message: str) -> NoReturn:
    """Refuse the command line (exit 64), with the command's usage line."""
    raise click.UsageError(message, click.get_current_context(silent=True))


def translate(err: BaseException, ctx: click.Context | None) -> NoReturn:
    """Re-raise `err` as the Click exception (message and exit code) it stands for.

    Called by every command and by the root group (cli/app.py); nothing else in the
    CLI catches library errors wholesale.
    """
    if isinstance(err, click.UsageError):
        err.exit_code = EX_USAGE  # type: ignore[misc]  # Click's default 2 is the gate's INCONCLUSIVE
        raise err
    if isinstance(err, (click.ClickException, click.exceptions.Exit)):
        raise err
    if isinstance(err, (KeyboardInterrupt, click.Abort)):
        click.echo("Aborted!", err=True)
        raise click.exceptions.Exit(INTERRUPTED) from err
    if isinstance(err, NotFound):
        raise NotFoundError(str(err)) from err
    if isinstance(err, Conflict):
        raise ConflictError(str(err)) from err
    if isinstance(err, InvalidInput):
        raise click.UsageError(str(err), ctx) from err
    if isinstance(err, Unavailable):
        raise UnavailableError(str(err)) from err
    if isinstance(err, OSError) and err.errno != errno.EPIPE:
        raise IOFailure(str(err)) from err
    if isinstance(err, OSError):  # a closed pipe (`| head`): Click's main() ends quietly
        raise err
    if not isinstance(err, Exception):  # SystemExit and friends pass through untouched
        raise err
    traceback.print_exception(err, file=sys.stderr)
    click.echo(
        f"traintriage: internal error: {type(err).__name__}: {err}\n"
        f"This is a bug, not an answer (exit {EX_SOFTWARE}); please report it with the command line.",
        err=True,
    )
    raise click.exceptions.Exit(EX_SOFTWARE) from err
