"""`traintriage regroup`: re-key a store's signatures to the current grouping algorithm.

Thin Click layer over services/regroup.py. A store keeps the ids of the algorithm
that made them (sig:v1 stores keep grouping with sig:v1) until this is run.
"""

from __future__ import annotations

import click

from traintriage.cli.app import command
from traintriage.cli.options import db_option, dump, json_option, open_db


@command()
@db_option
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--actor", default="cli", show_default=True, help="Name recorded in the audit log.")
@json_option(help="Print the report (with the old -> new id map) as JSON.")
def regroup(db: str | None, dry_run: bool, actor: str, as_json: bool) -> None:
    """Re-key the store to the current grouping algorithm (sig:v2), keeping reviews and history.

    Every stored sample is grouped again; each old signature takes the new id most of
    its samples get. Counts, samples, reviews and audit entries move to the new ids
    (two old ids that become one are merged), in one transaction, with an audit entry
    per new id. Stop ingest while it runs.
    """
    from traintriage.services.regroup import regroup as run_regroup

    report = run_regroup(open_db(db), actor=actor, dry_run=dry_run)
    if as_json:
        dump(report.to_dict())
        return
    if not report.before:
        click.echo(f"nothing to regroup: every signature is already {report.target}")
        return
    verb = "would re-key" if dry_run else "re-keyed"
    click.echo(f"{verb} {report.before:,} signatures to {report.after:,} {report.target} signatures")
    for new, olds in report.merged.items():
        click.echo(f"  {new} <- {', '.join(olds)}")
    if report.without_samples:
        click.echo(f"  {len(report.without_samples)} without samples kept apart under derived ids")


COMMANDS = [regroup]
