"""Secrets of the web app, stdlib only (the CLI uses it without importing the web stack).

* Passwords: `hashlib.scrypt` (n=2**14, r=8, p=1) with a 16-byte random salt per user,
  stored as `scrypt$n$r$p$salt_hex$hash_hex`, compared in constant time.
* API tokens: `tt_` + `secrets.token_urlsafe(32)`; only the sha256 hex digest is stored.
* Sessions: a signed cookie (HMAC-SHA256 over base64url JSON, with the issue time),
  the secret kept in the settings table. It is what Starlette's SessionMiddleware does
  with itsdangerous, without the extra dependency.
* CSRF: a random token per session, sent back in every form (or `X-CSRF-Token`).
* Roles and scopes: what each may do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from traintriage.core.errors import InvalidInput

TOKEN_PREFIX = "tt_"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD_LENGTH = 12
"""OWASP ASVS 4.0 V2.1.1: user-set passwords of at least 12 characters (a passphrase)."""
MAX_PASSWORD_LENGTH = 1024
"""Longer ones are refused: scrypt's cost grows with the input, and no one types more."""

ROLE_RANK = {"viewer": 0, "developer": 1, "deployer": 2, "admin": 3}
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "viewer": frozenset({"read"}),
    "developer": frozenset({"read", "review"}),
    "deployer": frozenset({"read", "review", "ingest"}),
    "admin": frozenset({"read", "review", "ingest", "admin"}),
}
"""What a role may do; a token's scopes are cut down to its owner's role."""

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("cross-origin-opener-policy", "same-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=()"),
)


# --- passwords --------------------------------------------------------------------------


def password_problem(password: str) -> str | None:
    """Why a new password is not acceptable, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"a password needs at least {MIN_PASSWORD_LENGTH} characters (a passphrase is easiest)"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"a password has at most {MAX_PASSWORD_LENGTH} characters"
    return None


def hash_password(password: str) -> str:
    """The stored form of a new password; InvalidInput if `password_problem` has an objection."""
    problem = password_problem(password)
    if problem is not None:
        raise InvalidInput(problem)
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


_DUMMY_HASH = f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${'00' * 16}${'00' * 32}"


def verify_password(stored: str | None, password: str) -> bool:
    """Constant-time check; an unknown user or no password still costs one scrypt."""
    try:
        scheme, n, r, p, salt_hex, hash_hex = (stored or _DUMMY_HASH).split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(
            password.encode("utf-8"),
            salt=bytes.fromhex(salt_hex),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(hash_hex) // 2,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, bytes.fromhex(hash_hex)) and stored is not None


def password_fingerprint(stored: str | None) -> str:
    """Short fingerprint of a password hash: a session ends when the password changes."""
    return hashlib.sha256((stored or "").encode()).hexdigest()[:12]


# --- API tokens -------------------------------------------------------------------------


def new_token() -> tuple[str, str, str, str]:
    """(token, id, prefix, sha256 digest) of a fresh API token."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, secrets.token_hex(6), token[:10], token_digest(token)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def effective_scopes(role: str, scopes: tuple[str, ...] | frozenset[str]) -> frozenset[str]:
    return frozenset(scopes) & ROLE_SCOPES.get(role, frozenset())


def allowed_scopes(role: str) -> frozenset[str]:
    return ROLE_SCOPES.get(role, frozenset())


# --- signed session cookie ---------------------------------------------------------------


def new_secret() -> str:
    return secrets.token_urlsafe(48)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_session(secret: str, data: dict[str, Any], now: float | None = None) -> str:
    payload = _b64(json.dumps({"d": data, "t": int(now or time.time())}, separators=(",", ":")).encode())
    mac = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(mac)}"


def unsign_session(
    secret: str, cookie: str, max_age: float, now: float | None = None
) -> dict[str, Any] | None:
    """The session data of a cookie, or None if it is forged, malformed or too old."""
    try:
        payload, mac = cookie.split(".", 1)
        expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(mac)):
            return None
        body = json.loads(_unb64(payload))
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict) or not isinstance(body.get("d"), dict):
        return None
    issued = body.get("t")
    if not isinstance(issued, int) or (now or time.time()) - issued > max_age:
        return None
    return body["d"]


# --- CSRF --------------------------------------------------------------------------------


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_matches(expected: str | None, given: str | None) -> bool:
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
