"""One error hierarchy for the whole package.

Library code raises these; the CLI maps them to messages and exit codes in one place
(cli/__init__.py) and the web app to HTTP statuses in one place (web/errors.py).
Anything else that escapes is a bug, reported as such, never as "no-go" or "ask again".
"""

from __future__ import annotations


class TraintriageError(Exception):
    """Base of every error the package raises on purpose."""


class InvalidInput(TraintriageError, ValueError):
    """The caller gave something unusable: a bad version, time, verdict, file line, option."""


class NotFound(TraintriageError, LookupError):
    """A named thing (signature, version, user, token) does not exist."""


class Conflict(TraintriageError):
    """The request is well-formed but clashes with stored state (a duplicate name, a lease held)."""


class Unavailable(TraintriageError):
    """A resource the request needs (the database) cannot be opened or reached."""


class StorageFull(Unavailable):
    """The database has no room left (a full disk): nothing of the failed write was stored."""
