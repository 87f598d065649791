"""What users change through the pages and the API: reviews, deploy steps, accounts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import HTTPException

from traintriage.services import train
from traintriage.services.reviews import ReviewChange, record_review
from traintriage.store import accounts
from traintriage.store.accounts import AccountError
from traintriage.web import security
from traintriage.web.auth import Principal
from traintriage.web.views import Env


def review(
    env: Env,
    signature: str,
    principal: Principal,
    *,
    verdict: str,
    version: str | None = None,
    task: str | None = None,
    note: str | None = None,
    assignee: str | None = None,
    target: str | None = None,
    mute_until: float | None = None,
) -> dict[str, Any]:
    """Record a verdict (and optional tasks, note, assignee, mute) as the principal, in one
    transaction (services/reviews.py, as the CLI does). Invalid input is a 422 (app.py)."""
    tasks = tuple(t for t in (task or "").replace(",", " ").split() if t)
    change = ReviewChange(
        signature=signature,
        actor=principal.name,
        verdict=verdict,
        version=version or None,
        target=target or None,
        assignee=assignee or None,
        note=(note or "").strip() or None,
        tasks=tasks,
        mute_until=mute_until,
        at=env.now,  # the app's clock: a replay (serve --at) records its reviews in the replay
    )
    outcome = record_review(env.store, change)
    assert outcome.review is not None  # a verdict was given
    return outcome.review.to_dict()


def record_deploy(env: Env, version: str, group: str, when: datetime, actor: str) -> dict[str, Any]:
    """Record that `group` now runs `version` (as `traintriage deploy record` does)."""
    return train.record_deploy(env.store, version, group, when, actor, source="web").to_dict()


# --- accounts ------------------------------------------------------------------------------


def add_user(env: Env, name: str, role: str, password: str | None, team: str | None) -> dict[str, Any]:
    try:
        hashed = security.hash_password(password) if password else None
        return accounts.create_user(env.store, name, role, hashed, team or None).to_dict()
    except (AccountError, ValueError) as err:
        raise HTTPException(422, str(err)) from None


def update_user(
    env: Env,
    principal: Principal,
    name: str,
    *,
    role: str | None = None,
    team: str | None = None,
    password: str | None = None,
    disabled: bool | None = None,
) -> dict[str, Any]:
    """Change a user as an admin. Nobody demotes or disables themselves here (another admin
    or the CLI can), and the last enabled admin stays one: the web app never locks itself out.
    Everything is checked before the first change is stored."""
    target = accounts.get_user(env.store, name)
    if target is None:
        raise HTTPException(404, f"no user {name!r}")
    demoted = bool(role) and role != "admin"
    if name == principal.name and (demoted or disabled):
        raise HTTPException(422, "you cannot demote or disable yourself (ask another admin)")
    losing_admin = target.role == "admin" and not target.disabled and (demoted or bool(disabled))
    if losing_admin and accounts.count_admins(env.store) <= 1:
        raise HTTPException(409, f"{name} is the last enabled admin")
    if role:
        accounts.check_role(role)
    problem = security.password_problem(password) if password else None
    if problem is not None:
        raise HTTPException(422, problem)
    try:
        if role:
            accounts.set_role(env.store, name, role)
        if team is not None:
            accounts.set_team(env.store, name, team.strip() or None)
        if password:
            accounts.set_password(env.store, name, security.hash_password(password))
        if disabled is not None:
            accounts.set_disabled(env.store, name, disabled)
    except AccountError as err:
        raise HTTPException(404 if "no user" in str(err) else 422, str(err)) from None
    user = accounts.get_user(env.store, name)
    assert user is not None
    return user.to_dict()


def create_token(env: Env, user: accounts.User, scopes: list[str], label: str) -> dict[str, Any]:
    """A new token for `user`; scopes beyond the user's role are refused. The token is shown once."""
    wanted = tuple(dict.fromkeys(s.strip() for s in scopes if s.strip()))
    allowed = security.allowed_scopes(user.role)
    too_much = [s for s in wanted if s not in allowed]
    if too_much:
        raise HTTPException(403, f"a {user.role} cannot hold the scope(s) {', '.join(too_much)}")
    token, token_id, prefix, digest = security.new_token()
    try:
        stored = accounts.create_token(
            env.store,
            token_id=token_id,
            user=user.name,
            digest=digest,
            prefix=prefix,
            scopes=wanted,
            label=label,
        )
    except AccountError as err:
        raise HTTPException(422, str(err)) from None
    return {**stored.to_dict(), "token": token}
