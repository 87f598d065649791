"""`simulate`: write a realistic train (logs, deploy log, dblists, exposure, truth) to a directory."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from traintriage.cli.app import command


def _date(ctx: click.Context, param: click.Parameter, value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", ctx, param) from None


@command()
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Directory to write into."
)
@click.option(
    "--events",
    default=200_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Approximate number of log lines.",
)
@click.option(
    "--weeks",
    default=4,
    show_default=True,
    type=click.IntRange(min=2),
    help="Train weeks to simulate (one version per week; a train needs two).",
)
@click.option("--seed", default=1, show_default=True)
@click.option(
    "--start", default="2021-01-19", show_default=True, callback=_date, help="First Tuesday (YYYY-MM-DD)."
)
def simulate(out_dir: str, events: int, weeks: int, seed: int, start: dt.date) -> None:
    """Generate a realistic multi-week train with logs, deploy log, dblists and ground truth."""
    from traintriage_sim import simulate as run_simulation

    summary = run_simulation(Path(out_dir), events=events, weeks=weeks, seed=seed, start=start)
    click.echo(str(summary))


COMMANDS = [simulate]
