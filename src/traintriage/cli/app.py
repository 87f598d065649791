"""The root `traintriage` group and the command classes every command is built with.

`Command.invoke` and `Group.invoke` hand any exception to `errors.translate`, so a
command body never catches library errors just to print them.
"""

from __future__ import annotations

from typing import Any

import click

from traintriage import __version__
from traintriage.cli.errors import translate


class Command(click.Command):
    """A command whose errors are mapped by cli/errors.py."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BaseException as err:  # translate re-raises what it does not map
            translate(err, ctx)


class Group(click.Group):
    """A group whose subcommands and subgroups are `Command`s and `Group`s too."""

    command_class = Command
    group_class = type  # subgroups get this same class

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except BaseException as err:
            translate(err, parent)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BaseException as err:
            translate(err, ctx)


def command(*args: Any, **kwargs: Any) -> Any:
    """`click.command` with the error mapping of `Command`."""
    return click.command(*args, cls=Command, **kwargs)


def group(*args: Any, **kwargs: Any) -> Any:
    """`click.group` with the error mapping of `Group`."""
    return click.group(*args, cls=Group, **kwargs)


@group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="traintriage")
def main() -> None:
    """traintriage: production errors in, stable signatures out, per train version.

    Exit codes: 0 success (gate: go), 1 the answer is a failure (gate: no-go),
    2 gate: inconclusive; 64 and above are errors, never answers (see README).
    """
