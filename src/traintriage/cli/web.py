"""Web commands: `serve`, and the accounts it needs (`user ...`, `token ...`).

The web stack (FastAPI, uvicorn, Jinja2) is imported inside `serve` only, so the rest of
the CLI stays fast; `user` and `token` need only the store and stdlib hashing.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from traintriage.cli.app import command, group
from traintriage.cli.errors import Failed, NotFoundError, usage
from traintriage.cli.options import WHEN, config_option, db_option, dump, iso, json_option, open_db

DEFAULT_MAX_BODY = 1024 * 1024  # web/limits.py's defaults; not imported: the web stack loads in serve only
DEFAULT_MAX_INTAKE_BODY = 32 * 1024 * 1024


@command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=int)
@db_option
@click.option(
    "--owners",
    type=click.Path(exists=True, dir_okay=False),
    help="Ownership rules (default: $TRAINTRIAGE_OWNERS).",
)
@click.option(
    "--source-url",
    help="Source link template with {repo} {version} {path} {line} (default: $TRAINTRIAGE_SOURCE_URL or Gerrit).",
)
@config_option
@click.option(
    "--at", "at", type=WHEN, help="Freeze the server's clock at this time (ISO 8601): demos and replays."
)
@click.option("--secure-cookies", is_flag=True, help="Mark the session cookie Secure (behind HTTPS).")
@click.option(
    "--refresh", default=60, show_default=True, help="Seconds between train page refreshes (0: off)."
)
@click.option(
    "--trusted-proxy",
    "trusted_proxies",
    multiple=True,
    envvar="TRAINTRIAGE_TRUSTED_PROXIES",
    help="Address or network of a reverse proxy whose X-Forwarded-For is believed (repeatable; "
    "default: none, $TRAINTRIAGE_TRUSTED_PROXIES).",
)
@click.option(
    "--max-body",
    type=click.IntRange(min=1024),
    default=DEFAULT_MAX_BODY,
    show_default=True,
    help="Largest request body in bytes for forms and the JSON API (413 beyond).",
)
@click.option(
    "--max-intake-body",
    type=click.IntRange(min=1024),
    default=DEFAULT_MAX_INTAKE_BODY,
    show_default=True,
    help="Largest request body in bytes for log intake routes.",
)
def serve(
    host: str,
    port: int,
    db: str | None,
    owners: str | None,
    source_url: str | None,
    config: Any,
    at: float | None,
    secure_cookies: bool,
    refresh: int,
    trusted_proxies: tuple[str, ...],
    max_body: int,
    max_intake_body: int,
) -> None:
    """Run the web app: train page, team queue, signatures, search, JSON API and gate.

    Log in with an account made by `traintriage user add`. The JSON API is under
    /api/v1 (schema: /api/v1/openapi.json); see docs/web.md.
    """
    try:
        import uvicorn

        from traintriage.web.app import WebSettings, create_app
        from traintriage.web.limits import BodyLimits
        from traintriage.web.sources import DEFAULT_SOURCE_URL, SourceTemplateError
        from traintriage.web.throttle import parse_networks
    except ImportError as err:  # pragma: no cover - depends on the install
        raise Failed(f"the web app needs the 'web' extra: pip install 'traintriage[web]' ({err})") from None
    from traintriage.store.accounts import count_users

    users = count_users(open_db(db))
    settings = WebSettings(
        db=db,
        owners=owners,
        source_url=source_url or os.environ.get("TRAINTRIAGE_SOURCE_URL") or DEFAULT_SOURCE_URL,
        at=at,
        secure_cookies=secure_cookies,
        detection=config,
        refresh_seconds=max(0, refresh),
        body_limits=BodyLimits(default=max_body, intake=max_intake_body),
        trusted_proxies=trusted_proxies,
    )
    try:
        parse_networks(trusted_proxies)
    except ValueError as err:
        usage(str(err))
    try:
        app = create_app(settings)
    except SourceTemplateError as err:
        usage(str(err))
    if not users:
        click.echo(
            "no users yet: create one with `traintriage user add NAME --role admin --password-stdin`",
            err=True,
        )
    click.echo(f"traintriage web on http://{host}:{port}/ (Ctrl-C to stop)", err=True)
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False)


# --- users -------------------------------------------------------------------------------------


@group()
def user() -> None:
    """Web accounts: add, list, change role/team/password, disable."""


def _read_password(password_stdin: bool, prompt: bool) -> str | None:
    if password_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
        if not value:
            usage("no password on standard input")
        return value
    if prompt:
        return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))
    return None


@user.command("add")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["viewer", "developer", "deployer", "admin"]),
    default="viewer",
    show_default=True,
)
@click.option("--team", help="The user's team (their default queue).")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.option("--no-password", is_flag=True, help="No password login (API tokens only).")
@db_option
def user_add(
    name: str, role: str, team: str | None, password_stdin: bool, no_password: bool, db: str | None
) -> None:
    """Add a user NAME with a role (viewer, developer, deployer, admin)."""
    from traintriage.store.accounts import create_user
    from traintriage.web.security import hash_password

    password = None if no_password else _read_password(password_stdin, prompt=True)
    create_user(open_db(db), name, role, hash_password(password) if password else None, team)
    click.echo(f"added {role} {name}" + (f" (team {team})" if team else ""))


@user.command("list")
@db_option
@json_option
def user_list(db: str | None, as_json: bool) -> None:
    """Users with their role, team and state."""
    from traintriage.store.accounts import list_users

    users = list_users(open_db(db))
    if as_json:
        dump([u.to_dict() for u in users])
        return
    for u in users:
        state = "disabled" if u.disabled else ("no password" if not u.password_hash else "active")
        click.echo(f"{u.name:<20} {u.role:<10} {u.team or '-':<16} {state}")


@user.command("set")
@click.argument("name")
@click.option("--role", type=click.Choice(["viewer", "developer", "deployer", "admin"]))
@click.option("--team", help="Set the team ('' to clear).")
@click.option("--password-stdin", is_flag=True, help="Set the password from the first line of stdin.")
@click.option("--disable/--enable", "disabled", default=None, help="Disable (or re-enable) login and tokens.")
@db_option
def user_set(
    name: str, role: str | None, team: str | None, password_stdin: bool, disabled: bool | None, db: str | None
) -> None:
    """Change a user's role, team, password, or disable them."""
    from traintriage.store import accounts
    from traintriage.web.security import hash_password

    password = _read_password(password_stdin, prompt=False)
    store = open_db(db)
    if role:
        accounts.set_role(store, name, role)
    if team is not None:
        accounts.set_team(store, name, team)
    if password:
        accounts.set_password(store, name, hash_password(password))
    if disabled is not None:
        accounts.set_disabled(store, name, disabled)
    click.echo(f"updated {name}")


# --- tokens ------------------------------------------------------------------------------------


@group()
def token() -> None:
    """API tokens for deploy tools and scripts (Authorization: Bearer tt_...)."""


@token.command("create")
@click.option("--user", "user_name", required=True, help="The token acts as this user.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(["read", "review", "ingest", "admin"]),
    help="Repeatable; default read. Limited by the user's role.",
)
@click.option("--label", default="cli", show_default=True, help="What the token is for.")
@db_option
@json_option
def token_create(user_name: str, scopes: tuple[str, ...], label: str, db: str | None, as_json: bool) -> None:
    """Create a token; it is printed once and only its sha256 is stored."""
    from traintriage.store import accounts
    from traintriage.web.security import allowed_scopes, new_token

    wanted = tuple(dict.fromkeys(scopes or ("read",)))
    store = open_db(db)
    owner = accounts.get_user(store, user_name)
    if owner is None:
        raise NotFoundError(f"no user {user_name!r}")
    too_much = [s for s in wanted if s not in allowed_scopes(owner.role)]
    if too_much:
        usage(f"a {owner.role} cannot hold the scope(s) {', '.join(too_much)}")
    value, token_id, prefix, digest = new_token()
    stored = accounts.create_token(
        store, token_id=token_id, user=user_name, digest=digest, prefix=prefix, scopes=wanted, label=label
    )
    if as_json:
        dump({**stored.to_dict(), "token": value})
        return
    click.echo(value)
    click.echo(
        f"token {stored.id} for {user_name}, scopes {', '.join(wanted)}: store it now, it is not shown again",
        err=True,
    )


@token.command("list")
@click.option("--user", "user_name", help="Only this user's tokens.")
@db_option
@json_option
def token_list(user_name: str | None, db: str | None, as_json: bool) -> None:
    """Tokens (id, owner, scopes, last use); never the tokens themselves."""
    from traintriage.store.accounts import list_tokens

    tokens = list_tokens(open_db(db), user_name)
    if as_json:
        dump([t.to_dict() for t in tokens])
        return
    for t in tokens:
        used = iso(t.last_used_at) if t.last_used_at else "never used"
        state = "revoked" if t.revoked else used
        click.echo(f"{t.id}  {t.prefix}…  {t.user:<16} {','.join(t.scopes):<24} {t.label:<16} {state}")


@token.command("revoke")
@click.argument("token_id")
@db_option
def token_revoke(token_id: str, db: str | None) -> None:
    """Revoke a token by its id (see `token list`)."""
    from traintriage.store.accounts import revoke_token

    if not revoke_token(open_db(db), token_id):
        raise NotFoundError(f"no live token {token_id!r}")
    click.echo(f"revoked {token_id}")


COMMANDS = [serve, user, token]
