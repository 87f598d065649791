"""Users, API tokens and settings of the web app: all their SQL lives here.

Hashing (passwords, tokens) is done by the caller (traintriage.web.security); this module
stores and finds what it is given. Token lookups go by the sha256 digest only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from traintriage.core.errors import Conflict, InvalidInput, NotFound
from traintriage.store.db import Store

ROLES = ("viewer", "developer", "deployer", "admin")
SCOPES = ("read", "review", "ingest", "admin")


class AccountError(InvalidInput):
    """A user or token request that cannot be carried out (unknown user, duplicate, ...)."""


class UserExists(AccountError, Conflict):
    """The name is taken."""


class NoSuchUser(AccountError, NotFound):
    """No user has that name."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    team: str | None
    password_hash: str | None
    created_at: float
    disabled: bool
    session_generation: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "role": self.role,
            "team": self.team,
            "has_password": self.password_hash is not None,
            "created_at": self.created_at,
            "disabled": self.disabled,
        }


@dataclass(frozen=True)
class Token:
    id: str
    user: str
    prefix: str
    scopes: tuple[str, ...]
    label: str
    created_at: float
    last_used_at: float | None
    revoked: bool
    owner: User | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "user": self.user,
            "prefix": self.prefix,
            "scopes": list(self.scopes),
            "label": self.label,
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
            "revoked": self.revoked,
        }


_USER_COLUMNS = "name, role, team, password_hash, created_at, disabled, session_generation"


def _user(row: tuple[object, ...]) -> User:
    return User(
        name=str(row[0]),
        role=str(row[1]),
        team=str(row[2]) if row[2] is not None else None,
        password_hash=str(row[3]) if row[3] is not None else None,
        created_at=float(row[4]),  # type: ignore[arg-type]
        disabled=bool(row[5]),
        session_generation=int(row[6]),  # type: ignore[call-overload]
    )


def check_role(role: str) -> None:
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r} (one of {', '.join(ROLES)})")


# --- users ------------------------------------------------------------------------------


def create_user(
    store: Store, name: str, role: str, password_hash: str | None = None, team: str | None = None
) -> User:
    """Add a user; an existing name is an error (use the update functions)."""
    check_role(role)
    name = name.strip()
    if not name or len(name) > 64 or any(c.isspace() for c in name):
        raise AccountError("a user name is 1-64 characters without spaces")
    if get_user(store, name) is not None:
        raise UserExists(f"user {name!r} exists already")
    store.execute(
        f"INSERT INTO users ({_USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, 0, 0)",
        (name, role, team or None, password_hash, time.time()),
    )
    user = get_user(store, name)
    assert user is not None
    return user


def get_user(store: Store, name: str) -> User | None:
    rows = store.query(f"SELECT {_USER_COLUMNS} FROM users WHERE name = ?", (name,))
    return _user(rows[0]) if rows else None


def list_users(store: Store) -> list[User]:
    return [_user(r) for r in store.query(f"SELECT {_USER_COLUMNS} FROM users ORDER BY name")]


def count_users(store: Store) -> int:
    return int(store.query("SELECT COUNT(*) FROM users")[0][0])


def _require(store: Store, name: str) -> None:
    if get_user(store, name) is None:
        raise NoSuchUser(f"no user {name!r}")


def set_password(store: Store, name: str, password_hash: str | None) -> None:
    """A new password ends every session of the user (the generation moves)."""
    _require(store, name)
    store.execute(
        "UPDATE users SET password_hash = ?, session_generation = session_generation + 1 WHERE name = ?",
        (password_hash, name),
    )


def set_role(store: Store, name: str, role: str) -> None:
    check_role(role)
    _require(store, name)
    store.execute("UPDATE users SET role = ? WHERE name = ?", (role, name))


def set_team(store: Store, name: str, team: str | None) -> None:
    _require(store, name)
    store.execute("UPDATE users SET team = ? WHERE name = ?", (team or None, name))


def set_disabled(store: Store, name: str, disabled: bool) -> None:
    """Disable (or re-enable) a user: no login, and none of their tokens work."""
    _require(store, name)
    store.execute(
        "UPDATE users SET disabled = ?, session_generation = session_generation + 1 WHERE name = ?",
        (1 if disabled else 0, name),
    )


def end_sessions(store: Store, name: str) -> None:
    """End every session of the user, on every device (logout; a stolen cookie stops working)."""
    _require(store, name)
    store.execute("UPDATE users SET session_generation = session_generation + 1 WHERE name = ?", (name,))


def count_admins(store: Store) -> int:
    """Enabled admins: the last one may not be demoted or disabled through the web app."""
    return int(store.query("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0")[0][0])


# --- API tokens -------------------------------------------------------------------------


_TOKEN_COLUMNS = "t.id, t.user_name, t.prefix, t.scopes, t.label, t.created_at, t.last_used_at, t.revoked"


def _token(row: tuple[object, ...], owner: User | None = None) -> Token:
    return Token(
        id=str(row[0]),
        user=str(row[1]),
        prefix=str(row[2]),
        scopes=tuple(s for s in str(row[3]).split(",") if s),
        label=str(row[4]),
        created_at=float(row[5]),  # type: ignore[arg-type]
        last_used_at=float(row[6]) if row[6] is not None else None,  # type: ignore[arg-type]
        revoked=bool(row[7]),
        owner=owner,
    )


def create_token(
    store: Store, *, token_id: str, user: str, digest: str, prefix: str, scopes: tuple[str, ...], label: str
) -> Token:
    """Store a new token's digest (never the token itself)."""
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise AccountError(f"scopes must be some of {', '.join(SCOPES)} (got {', '.join(scopes) or 'none'})")
    _require(store, user)
    store.execute(
        "INSERT INTO api_tokens (id, user_name, digest, prefix, scopes, label, created_at, revoked) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
        (token_id, user, digest, prefix, ",".join(scopes), label, time.time()),
    )
    found = [t for t in list_tokens(store, user) if t.id == token_id]
    return found[0]


def token_by_digest(store: Store, digest: str) -> Token | None:
    """The live token with this sha256 digest and its (enabled) owner, or None."""
    cols = ", ".join("u." + c.strip() for c in _USER_COLUMNS.split(","))
    rows = store.query(
        f"SELECT {_TOKEN_COLUMNS}, {cols} FROM api_tokens t JOIN users u ON u.name = t.user_name "
        "WHERE t.digest = ? AND t.revoked = 0 AND u.disabled = 0",
        (digest,),
    )
    if not rows:
        return None
    row = rows[0]
    return _token(row[:8], _user(row[8:]))


def touch_token(store: Store, token_id: str, at: float | None = None) -> None:
    """Record when a token was last used (at most once a minute per token matters)."""
    now = at if at is not None else time.time()
    store.execute(
        "UPDATE api_tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
        (now, token_id, now - 60),
    )


def list_tokens(store: Store, user: str | None = None) -> list[Token]:
    where, params = ("WHERE t.user_name = ?", (user,)) if user else ("", ())
    return [
        _token(r)
        for r in store.query(
            f"SELECT {_TOKEN_COLUMNS} FROM api_tokens t {where} ORDER BY t.created_at, t.id", params
        )
    ]


def revoke_token(store: Store, token_id: str, user: str | None = None) -> bool:
    """Revoke by id (only the user's own when `user` is given). True if one was revoked."""
    rows = store.query(
        "SELECT id FROM api_tokens WHERE id = ? AND revoked = 0" + (" AND user_name = ?" if user else ""),
        (token_id, user) if user else (token_id,),
    )
    if not rows:
        return False
    store.execute("UPDATE api_tokens SET revoked = 1 WHERE id = ?", (token_id,))
    return True


# --- settings ---------------------------------------------------------------------------


def get_setting(store: Store, key: str) -> str | None:
    rows = store.query("SELECT value FROM settings WHERE key = ?", (key,))
    return str(rows[0][0]) if rows else None


def setting_or_create(store: Store, key: str, value: str) -> str:
    """The stored value of `key`; stores `value` first if there is none (first writer wins)."""
    store.execute(
        "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", (key, value)
    )
    stored = get_setting(store, key)
    assert stored is not None
    return stored
