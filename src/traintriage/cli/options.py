"""Options shared by many commands, defined once, and the store they open.

`@db_option` / `@json_option` follow sqlite-utils' `output_options`; `open_db` closes
the store when the command's context closes (its `_register_db_for_cleanup`), so
no command writes `close()` itself. `--at`, `--window`, `--config`, `--owners` and
`--field-map` are parsed by Click parameter types or callbacks: a bad value is a
usage error (exit 64) before any work starts.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

DB_HELP = "Database: a SQLite file path or postgresql:// URL (default: $TRAINTRIAGE_DB or ./traintriage.db)."


def db_option(fn: F) -> F:
    """`--db PATH|URL`, passed to the command as `db`."""
    return click.option("--db", "db", metavar="PATH|URL", help=DB_HELP)(fn)


def json_option(fn: F | None = None, *, help: str = "Print JSON instead of text.") -> Any:
    """`--json`, passed to the command as `as_json`; usable bare or with a help text."""

    def decorate(f: F) -> F:
        return click.option("--json", "as_json", is_flag=True, help=help)(f)

    return decorate(fn) if fn is not None else decorate


def open_db(db: str | None) -> Any:
    """Open (and migrate) the store; it is closed when the running command ends."""
    from traintriage.store.db import open_store

    store = open_store(db)
    click.get_current_context().call_on_close(store.close)
    return store


def dump(obj: Any) -> None:
    """Print JSON output: UTF-8 as is, indented, keys in their given order."""
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=False))


def iso(ts: float | None) -> str:
    from traintriage.core.timeparse import iso as to_iso

    return to_iso(ts) if ts is not None else "-"


def one_line(text: str, width: int) -> str:
    """Whitespace collapsed, cut to `width` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


# --- parameter types ---------------------------------------------------------------


class When(click.ParamType):
    """An ISO 8601 time, a date, or 'now' -> UTC epoch seconds."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float):
            return value
        from traintriage.core.timeparse import parse_when

        try:
            return parse_when(str(value))
        except ValueError:
            self.fail(
                f"{value!r} is not a date or ISO 8601 time (e.g. 2021-02-01 or 2021-01-27T20:10:00Z)",
                param,
                ctx,
            )


class Duration(click.ParamType):
    """20s, 1m, 2h or plain seconds -> seconds."""

    name = "DURATION"
    units = {"s": 1, "m": 60, "h": 3600}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float):
            return value
        text = str(value).strip()
        try:
            seconds = float(text[:-1]) * self.units[text[-1]] if text[-1:] in self.units else float(text)
        except (ValueError, IndexError):
            self.fail(f"{value!r} is not a duration like 20s, 1m, 90", param, ctx)
        if not seconds > 0 or seconds == float("inf"):
            self.fail(f"{value!r} must be a positive duration", param, ctx)
        return seconds


WHEN = When()
DURATION = Duration()


def now() -> float:
    return WHEN.convert("now", None, None)


# --- file-backed options -----------------------------------------------------------


def _load_config(ctx: click.Context, param: click.Parameter, path: str | None) -> Any:
    """The [detection] table of --config or $TRAINTRIAGE_CONFIG (defaults without either)."""
    from traintriage.detect.config import ConfigError, DetectionConfig

    path = path or os.environ.get("TRAINTRIAGE_CONFIG")
    if not path:
        return DetectionConfig()
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        return DetectionConfig.from_mapping(data.get("detection", {}))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ConfigError) as err:
        raise click.BadParameter(f"{path}: {err}", ctx, param) from None


def config_option(fn: F) -> F:
    """`--config FILE`, passed as `config`: a loaded DetectionConfig."""
    return click.option(
        "--config",
        "config",
        type=click.Path(dir_okay=False),
        callback=_load_config,
        help="TOML file with a [detection] table (default: $TRAINTRIAGE_CONFIG).",
    )(fn)


def _load_field_map(ctx: click.Context, param: click.Parameter, path: str | None) -> Any:
    from traintriage.ingest.formats import FieldMap

    if path is None:
        return FieldMap()
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        return FieldMap.from_mapping(data.get("fields", data))
    except (OSError, tomllib.TOMLDecodeError, ValueError, UnicodeDecodeError) as err:
        raise click.BadParameter(f"{path}: {err}", ctx, param) from None


def field_map_option(fn: F) -> F:
    """`--field-map FILE`, passed as `field_map`: a loaded FieldMap."""
    return click.option(
        "--field-map",
        "field_map",
        type=click.Path(exists=True, dir_okay=False),
        callback=_load_field_map,
        help="TOML field mapping for generic JSON logs.",
    )(fn)


def load_owners(path: str) -> Any:
    """An owners file that must load; its invalid lines are printed on stderr (and skipped)."""
    from traintriage.triage.owners import OwnersError
    from traintriage.triage.owners import load_owners as load

    try:
        return load(path)
    except OwnersError as err:
        raise click.BadParameter(str(err), param_hint="owners file") from None


def default_owners(path: str | None) -> Any:
    """--owners FILE, else $TRAINTRIAGE_OWNERS (either must load), else ./OWNERS if present."""
    from traintriage.triage.owners import default_owners_path

    path = path or default_owners_path()
    if path is None:
        return None
    owners = load_owners(path)
    for line in owners.error_lines():
        click.echo(line, err=True)
    return owners
