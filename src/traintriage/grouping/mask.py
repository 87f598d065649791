"""Token-first value masking: one bug's messages map to one template.

Interpolated values (numbers, ids, IPs, timestamps, quoted strings, train
versions) become placeholders such as ``<num>``, so that the same error from
different requests and train versions yields the same template. The rules, and
what each may get wrong, are data in ``rules/masking.toml``.

Why token-first: one alternation of every value pattern run over the whole
message costs 10-20 us per event (style.md 3.4). Here one C-level translate
marks the characters a value needs (digits, "@"; "://" is looked up), so a
text without them costs a few substring tests, and only the space-separated
tokens that hold one are looked at. Such a token first goes through string-method
fast paths for the shapes that dominate real logs (integers, decimals, IPv4,
times, UUIDs, file:line, plain ids), then through one anchored alternation of
the token rules. Tests check that the fast paths give what the rules give.

The functions are pure and deterministic and keep no cache: callers that see
the same message many times cache the result themselves.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Callable
from functools import partial
from importlib import resources
from typing import Any, NamedTuple

__all__ = ["ALGORITHM", "RULES", "MaskingRules", "load_rules", "mask_text", "mask_tokens", "strip_versions"]


class TextRule:
    """A whole-text substitution, run only when `trigger` occurs in the text.

    A match in which the group named ``keep`` took part is left verbatim.
    """

    __slots__ = ("comment", "name", "placeholder", "regex", "trigger", "_keep", "_literal")

    def __init__(
        self, name: str, trigger: str, regex: re.Pattern[str], placeholder: str, comment: str
    ) -> None:
        self.name = name
        self.trigger = trigger
        self.regex = regex
        self.placeholder = placeholder
        self.comment = comment
        self._keep = "keep" in regex.groupindex
        self._literal = "\\" not in placeholder  # no group references to expand

    def apply(self, text: str) -> str:
        """Substitute every match of the rule in `text`."""
        if self.trigger not in text:
            return text
        if not self._keep:
            return self.regex.sub(self.placeholder, text)
        return self.regex.sub(self._substitute, text)

    def _substitute(self, m: re.Match[str]) -> str:
        if m.start("keep") >= 0:
            return m.group()
        return self.placeholder if self._literal else m.expand(self.placeholder)


class TokenRule(NamedTuple):
    """One anchored token pattern; an empty placeholder keeps the token verbatim."""

    name: str
    pattern: str
    placeholder: str
    comment: str


class MaskingRules(NamedTuple):
    """The parsed contents of masking.toml, with the token rules compiled into one matcher."""

    algorithm: str
    version: TextRule
    text: tuple[TextRule, ...]
    keep_after: frozenset[str]
    tokens: tuple[TokenRule, ...]
    lead: str
    trail: str
    separators: str
    split_also: str
    split_also_triggers: tuple[str, ...]
    fallback: str
    compound: tuple[TextRule, ...]
    match: Callable[[str], re.Match[str] | None]
    placeholders: dict[str, str]


def _compile(pattern: str, name: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"masking rule {name!r}: bad pattern: {exc}") from exc


def _text_rule(raw: dict[str, Any], trigger: str = "") -> TextRule:
    name = str(raw["name"])
    regex = _compile(str(raw["pattern"]), name)
    return TextRule(
        name, str(raw.get("trigger", trigger)), regex, str(raw["placeholder"]), str(raw["comment"])
    )


def _token_matcher(
    rules: tuple[TokenRule, ...],
) -> tuple[Callable[[str], re.Match[str] | None], dict[str, str]]:
    """One anchored alternation of all token rules, in order: the first full match wins."""
    try:
        combined = re.compile("|".join(f"(?P<r{i}>{rule.pattern})" for i, rule in enumerate(rules)))
    except re.error:
        for rule in rules:
            _compile(rule.pattern, rule.name)  # raises with the rule's name
        raise
    if combined.groups != len(rules):
        bad = [rule.name for rule in rules if re.compile(rule.pattern).groups]
        raise ValueError(f"masking rules {bad}: use (?:...), not capturing groups")
    return combined.fullmatch, {f"r{i}": rule.placeholder for i, rule in enumerate(rules)}


def load_rules(data: dict[str, Any] | None = None) -> MaskingRules:
    """Parse and compile masking rules (default: the packaged rules/masking.toml)."""
    if data is None:
        raw = resources.files("traintriage").joinpath("rules", "masking.toml").read_text(encoding="utf-8")
        data = tomllib.loads(raw)
    tok = data["tokens"]
    if _compile(str(tok["split_also"]), "tokens.split_also").groups:
        raise ValueError("masking rule 'tokens.split_also': use (?:...), not capturing groups")
    tokens = tuple(
        TokenRule(str(r["name"]), str(r["pattern"]), str(r["placeholder"]), str(r["comment"]))
        for r in data["token"]
    )
    match, placeholders = _token_matcher(tokens)
    return MaskingRules(
        algorithm=str(data["algorithm"]),
        version=_text_rule(data["versions"], trigger="wmf"),
        text=tuple(_text_rule(r) for r in data.get("text", [])),
        keep_after=frozenset(data["keep_number_after"]["words"]),
        tokens=tokens,
        lead=str(tok["lead"]),
        trail=str(tok["trail"]),
        separators=str(tok["separators"]),
        split_also=str(tok["split_also"]),
        split_also_triggers=tuple(str(t) for t in tok["split_also_triggers"]),
        fallback=str(tok["fallback"]),
        compound=tuple(_text_rule(r) for r in data.get("compound", [])),
        match=match,
        placeholders=placeholders,
    )


RULES = load_rules()
ALGORITHM = RULES.algorithm

# Hot-path state as module globals (fast lookups).
_MATCH = RULES.match
_PLACEHOLDERS = RULES.placeholders
# A one-class split finds its first separator with a fast scan; the multi-character
# separators need an alternation, so they are only used when a trigger is present.
_SPLIT = re.compile("([" + re.escape(RULES.separators) + "])").split
_SPLIT_ALSO = re.compile("([" + re.escape(RULES.separators) + "]|" + RULES.split_also + ")").split
_SPLIT_ALSO_TRIGGERS = RULES.split_also_triggers
_NO_DIGIT = frozenset("0123456789").isdisjoint
_UUID_CHARS = frozenset("0123456789abcdefABCDEF-").issuperset
_ID_CHARS = frozenset(string.ascii_letters + string.digits + "_-.").issuperset
_DIGIT_RUN = re.compile("[0-9]{3}").search  # three digits in a row: never word-like
_LEAD = RULES.lead
_TRAIL = RULES.trail
_FALLBACK = RULES.fallback
_KEEP_AFTER = RULES.keep_after
_KEEP_WINDOW = max((len(w) for w in _KEEP_AFTER), default=0) + 1
_TEXT_RULES = RULES.text
_COMPOUND = RULES.compound
_VERSION = RULES.version
# A core with separators is tried whole only if it may be a value that contains them.
_WHOLE_FIRST = frozenset("0123456789+-[{")
# Value characters become byte 0, and whitespace other than " " (and NUL) byte 1.
_MARKS = bytes.maketrans(b"0123456789@\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x00", b"\x00" * 11 + b"\x01" * 10)
_VALUE_SEARCH = re.compile("[0-9@]").search
# Candidate tokens for texts with tabs, newlines or Unicode spaces (the slow path).
_CANDIDATE = re.compile(r"(?<!\S)[^\s0-9@]*+[0-9@]\S*")
_CANDIDATE_URL = re.compile(r"(?<!\S)(?=\S*?(?:[0-9@]|://))\S+")


def strip_versions(text: str) -> str:
    """Replace train versions (1.36.0-wmf.30, wmf/1.36.0-wmf.30) with <version>.

    Paths keep their shape: /srv/mediawiki/php-<version>/includes/X.php.
    """
    if "wmf" not in text:
        return text
    return _VERSION.regex.sub(_VERSION.placeholder, text)


def mask_text(text: str) -> str:
    """The masked template of a message; whitespace is kept as it was."""
    if "wmf" in text:
        text = _VERSION.regex.sub(_VERSION.placeholder, text)
    for rule in _TEXT_RULES:
        if rule.trigger in text:
            text = rule.apply(text)
    find = _value_finder(text)
    if find is None:  # tabs, newlines or Unicode spaces: the regex path
        url = "://" in text
        text = (_CANDIDATE_URL if url else _CANDIDATE).sub(_mask_match, text)
    else:
        first = find(0)
        if first < 0:
            return text
        text = _mask_values(text, find, first)
    for rule in _COMPOUND:
        if rule.trigger in text:
            text = rule.regex.sub(rule.placeholder, text)
    return text


def mask_tokens(text: str) -> list[str]:
    """mask_text split on whitespace: the input of the template miner."""
    return mask_text(text).split()


def _value_finder(text: str) -> Callable[[int], int] | None:
    """find(pos): the index of the next digit, "@" or "://" at or after pos, or -1.

    None when the text has whitespace other than " " (then tokens are not simply
    space-separated). For ASCII text one C-level translate marks the value
    characters, and each lookup is a memchr; others use a one-class regex search.
    """
    url = "://" in text
    if text.isascii():
        marks = text.encode("ascii").translate(_MARKS)
        if marks.find(1) >= 0:
            return None
        find: Callable[[int], int] = partial(marks.find, 0)
    elif text.isprintable():
        find = partial(_find_value, text)
    else:
        return None
    return partial(_find_value_or_url, find, text) if url else find


def _find_value(text: str, pos: int) -> int:
    m = _VALUE_SEARCH(text, pos)
    return -1 if m is None else m.start()


def _find_value_or_url(find: Callable[[int], int], text: str, pos: int) -> int:
    value = find(pos)
    url = text.find("://", pos)
    return url if value < 0 or 0 <= url < value else value


def _mask_values(text: str, find: Callable[[int], int], first: int) -> str:
    """Mask the space-separated tokens that hold the positions `find` reports.

    An integer right after a [keep_number_after] word stays; a plain integer is
    masked here, without a call (the most common value by far).
    """
    parts = []
    pos = 0
    i = first
    while i >= 0:
        start = text.rfind(" ", 0, i) + 1
        end = text.find(" ", i)
        if end < 0:
            end = len(text)
        token = text[start:end]
        if not token.rstrip(_TRAIL).isdigit():
            masked = _mask_token(token)
        elif start > 1 and text[text.rfind(" ", 0, start - 1) + 1 : start - 1] in _KEEP_AFTER:
            masked = token
        elif token.isdigit() and len(token) < 14:  # 14 digits may be a timestamp
            masked = "<num>"
        else:
            masked = _mask_token(token)
        parts.append(text[pos:start])
        parts.append(masked)
        pos = end
        i = find(end)
    parts.append(text[pos:])
    return "".join(parts)


def _mask_match(m: re.Match[str]) -> str:
    """re.sub callback of the slow path."""
    token = m.group()
    start = m.start()
    if start > 1 and m.string[start - 1] == " " and token.rstrip(_TRAIL).isdigit():
        before = m.string[max(0, start - 1 - _KEEP_WINDOW) : start - 1]
        if not before[-1].isspace() and before.split()[-1] in _KEEP_AFTER:
            return token
    return _mask_token(token)


def _mask_token(token: str) -> str:
    """Mask one whitespace-free token that has a digit, "@" or "://"."""
    if token.isdigit() and len(token) < 14:  # fast path; 14 digits may be a timestamp
        return "<num>"
    core = token.lstrip(_LEAD)
    stripped = core.rstrip(_TRAIL)
    if not stripped:
        return token
    masked = _mask_core(stripped)
    if len(stripped) == len(token):
        return masked
    return token[: len(token) - len(core)] + masked + core[len(stripped) :]


def _fast_path(core: str) -> str | None:
    """Integers, decimals, IPv4[:port], h:mm:ss, UUIDs, "name:123" and plain ids, cheaply.

    None when the shape is not one of these. Each answer equals what the token
    rules give (tests/test_mask.py checks this on many samples).
    """
    head = core[0]
    if head.isdigit():
        if core.isdigit():
            return "<num>" if len(core) < 14 else None
        if len(core) == 36:
            return _uuid_or_none(core)
        if ":" in core:
            return _digits_with_colons(core)
        if "." in core:
            if _is_ipv4(core):
                return "<ip>"
            if all(p.isdigit() for p in core.split(".")):
                return "<num>"
        return None
    if head == "-" or head == "+":
        return "<num>" if core[1:].isdigit() else None
    if len(core) == 36:
        return _uuid_or_none(core)
    name, colon, number = core.rpartition(":")
    if colon:
        if number.isdigit() and ":" not in name and "@" not in name:
            # file:line, host:port, key:count; no rule takes "word:123" whole
            return (name if _NO_DIGIT(name) else _mask_piece(name)) + ":<num>"
        return None
    if (
        len(core) != 24
        and _ID_CHARS(core)
        and ("_" in core or "-" in core or "." in core)
        and _DIGIT_RUN(core)
    ):
        return _FALLBACK  # blk_-1608..., job_1445144423722_0020, part-00318: no rule takes these
    return None


def _uuid_or_none(core: str) -> str | None:
    if core[8] == core[13] == core[18] == core[23] == "-" and core.count("-") == 4 and _UUID_CHARS(core):
        return "<uuid>"
    return None


def _digits_with_colons(core: str) -> str | None:
    host, _, port = core.partition(":")
    if port.isdigit() and len(port) <= 5 and _is_ipv4(host):
        return "<ip>"
    parts = core.split(":")
    if len(parts) == 3 and all(len(p) == 2 and p.isdigit() for p in parts):
        return "<ts>"
    return None


def _is_ipv4(text: str) -> bool:
    parts = text.split(".")
    return len(parts) == 4 and all(p.isdigit() and len(p) <= 3 for p in parts)


def _mask_core(core: str) -> str:
    """Mask a token core: whole when it may be one value, else piece by piece."""
    split = _SPLIT_ALSO if any(map(core.__contains__, _SPLIT_ALSO_TRIGGERS)) else _SPLIT
    parts = split(core)
    if len(parts) == 1:
        return _mask_piece(core)
    if core[0] in _WHOLE_FIRST or len(core) == 24 or "://" in core or "@" in core:
        placeholder = _classify(core)
        if placeholder is not None:
            return placeholder
    return "".join([p if _NO_DIGIT(p) else _mask_piece(p) for p in parts])


def _mask_piece(piece: str) -> str:
    """Mask one separator-free piece; colon chains are tried part by part."""
    placeholder = _fast_path(piece) or _classify(piece)
    if placeholder is not None:
        return placeholder
    if ":" in piece:
        return ":".join([p if _NO_DIGIT(p) else _mask_piece(p) for p in piece.split(":")])
    return piece if _NO_DIGIT(piece) else _FALLBACK


def _classify(piece: str) -> str | None:
    """The placeholder for a whole piece, the piece itself if a rule keeps it, or None."""
    m = _MATCH(piece)
    if m is None:
        return None
    return _PLACEHOLDERS[m.lastgroup or ""] or piece


def _reference_token(token: str) -> str:
    """_mask_token without fast paths or shortcuts: the rules alone (tests compare them)."""
    core = token.lstrip(_LEAD)
    stripped = core.rstrip(_TRAIL)
    if not stripped:
        return token
    placeholder = _classify(stripped)
    if placeholder is None:
        split = _SPLIT_ALSO if any(map(stripped.__contains__, _SPLIT_ALSO_TRIGGERS)) else _SPLIT
        placeholder = "".join([p if _NO_DIGIT(p) else _reference_piece(p) for p in split(stripped)])
    return token[: len(token) - len(core)] + placeholder + core[len(stripped) :]


def _reference_piece(piece: str) -> str:
    placeholder = _classify(piece)
    if placeholder is not None:
        return placeholder
    if ":" in piece:
        return ":".join([p if _NO_DIGIT(p) else _reference_piece(p) for p in piece.split(":")])
    return _FALLBACK


def throughput(messages: list[str], repeat: int = 7) -> float:
    """mask_text messages per second over `messages`, best of `repeat` runs (1 core)."""
    import time

    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        for msg in messages:
            mask_text(msg)
        best = min(best, time.process_time() - t0)
    return len(messages) / best if best > 0 else float("inf")


if __name__ == "__main__":  # pragma: no cover - manual check: python -m traintriage.grouping.mask
    _SAMPLES = [
        "PHP Notice: A non well formed numeric value encountered",
        'Memcached error for key "enwiki:pcache:idhash:41768916-0!canonical" on server "127.0.0.1:11213": A TIMEOUT',
        "Uncaught RedisException: Connection timed out in /srv/mediawiki/src/Profiler.php:276",
        "Wikimedia\\Rdbms\\DBQueryError: Error 1205: Lock wait timeout exceeded; try restarting transaction",
        "PHP Deprecated: Use of Title::getPrefixedText was deprecated in MediaWiki 1.36. [Called from Foo::bar in "
        "/srv/mediawiki/php-1.36.0-wmf.30/extensions/Foo/includes/Foo.php at line 88]",
        "Receiving block blk_-7646004878694144580 src: /10.251.202.181:47130 dest: /10.251.202.181:50010",
    ]
    print(
        f"mask_text: {throughput(_SAMPLES * 5000):,.0f} messages/s on {len(_SAMPLES)} sample shapes (1 core)"
    )
