"""The command list as documentation: generated into README.md by cog, checked by tests.

`make lint` runs `cog --check README.md`, so the README's list of commands is exactly what
`traintriage --help` offers; tests/test_docs.py fails when a command is missing from it.
"""

from __future__ import annotations

from collections.abc import Iterator

import click

from traintriage.cli.errors import EXIT_CODES


def commands(
    group: click.Group | None = None, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, click.Command]]:
    """Every command a user can run, as ('deploys import', command); a group that runs by itself
    (`gate`) counts, a group that only holds subcommands (`deploys`) does not."""
    if group is None:
        from traintriage.cli import main

        group = main
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        if isinstance(command, click.Group):
            if command.invoke_without_command:
                yield " ".join(path), command
            yield from commands(command, path)
        else:
            yield " ".join(path), command


def summary(command: click.Command) -> str:
    """The first paragraph of the command's help, on one line."""
    first = (command.help or "").split("\n\n")[0]
    return " ".join(first.split())


def usage(path: str, command: click.Command) -> str:
    """`traintriage PATH --REQUIRED-OPTION VALUE ARGUMENTS`: what must be typed, no other options."""
    ctx = click.Context(command, info_name=path)
    words = ["traintriage", path]
    for param in command.params:
        if isinstance(param, click.Option) and param.required:
            words += [param.opts[0], param.metavar or param.opts[0].lstrip("-").upper()]
        elif isinstance(param, click.Argument):
            words.append(param.make_metavar(ctx))
    return " ".join(words)


def markdown_commands() -> str:
    """One table row per command: its usage and the first paragraph of its help."""
    rows = ["| command | what it does |", "|---|---|"]
    for path, command in commands():
        text = summary(command).replace("|", "\\|")  # a table cell
        rows.append(f"| `{usage(path, command)}` | {text} |")
    return "\n".join(rows)


def markdown_exit_codes() -> str:
    rows = ["| code | meaning |", "|---:|---|"]
    rows += [f"| {code} | {meaning} |" for code, meaning in EXIT_CODES.items()]
    return "\n".join(rows)
