"""Version names and their order: `1.36.0-wmf.9` < `1.36.0-wmf.10` < `1.37.0-wmf.1`."""

from __future__ import annotations

import re

_VERSION_TOKEN = re.compile(r"\d+|[^\d.\-_+~]+")


def normalize_version(text: str) -> str:
    """Strip whitespace and the ``php-`` directory prefix wikiversions.json uses."""
    text = text.strip()
    return text[4:] if text.startswith("php-") else text


def version_key(version: str) -> tuple[tuple[int, int, str], ...]:
    """Natural sort key: numeric runs compare as numbers (wmf.9 < wmf.10 < 1.37.0-wmf.1).

    Numbers sort after words at the same position, so ``1.36.0-wmf.1`` and a
    hypothetical ``1.36.0-rc.1`` still compare without TypeError.
    """
    return tuple(
        (1, int(tok), "") if tok.isdigit() else (0, 0, tok.lower())
        for tok in _VERSION_TOKEN.findall(normalize_version(version))
    )


def is_older(a: str, b: str) -> bool:
    """True when version ``a`` is strictly older than ``b``."""
    return version_key(a) < version_key(b)
