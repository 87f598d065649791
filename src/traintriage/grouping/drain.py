"""A Drain-like online template miner with ids that never change.

Idea from He et al., "Drain: An Online Log Parsing Approach with Fixed Depth
Tree" (ICWS 2017); this is an independent implementation. Messages, already
masked into tokens, descend a fixed-depth prefix tree: first by token count,
then by their leading tokens. The leaf holds candidate clusters of that
length; the most similar one absorbs the message if its net agreement (see
``_similarity``) reaches ``sim_threshold``, and positions that differ become
``<*>``.

Differences from Drain3 that matter for error signatures:

* Cluster ids are ints in creation order and never change or get evicted:
  a signature derived from an id stays valid for the life of the state.
* Placeholders from masking (``<num>``, ``<ip>``...) are values: they never
  pick a tree branch, and a template wildcard matches them like an equal token.
* The whole state is plain JSON (``to_state``/``from_state``) and restoring it
  reproduces the miner's behaviour exactly.

With ``shapes`` (sig:v2's free-text miner, shapes chosen in rules/grouping.toml) words are typed too: a token of a
value-like *shape* that masking keeps because it has no digit (see ``token_shape``:
dotted names such as ``org.apache.Foo`` or ``proxy.example.org``, file paths, and
``key=value`` pairs) counts as a value of its type. Two tokens of one shape at one
position agree, a wildcard agrees with a typed token as it does with a placeholder,
and a typed token in the leading positions goes down the ``<*>`` branch. Why it is
general: these shapes are how programs print identifiers (class, host, file and
setting names) in any log, and a variable position holds one type of value; the
words that carry a message's meaning (verbs, nouns, states) are plain words and
still have to agree.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

WILDCARD = "<*>"
STATE_FORMAT = "traintriage.drain/1"

# A token that is a value, not a word: it has a digit or a <placeholder> from masking.
_IS_PARAM = re.compile(r"\d|<[a-z*]+>").search

# Value-like shapes of digit-free tokens (typed miners only); see token_shape.
_DOTTED = re.compile(r"[A-Za-z_$][\w$-]*+(?:\.[A-Za-z_$][\w$-]*+){2,}+\.?(?::(?:<num>|\d++))?")
_PATH = re.compile(
    r"(?:~|\.{1,2})?/[^\s/]++(?:/[^\s/]*+)++|/[^\s/]{2,}+|[\w.-]++(?:/[\w.-]++){2,}+"
    r"|(?:[A-Za-z]:)?\\[^\s\\]++(?:\\[^\s\\]*+)++"
)
_KEY_VALUE = re.compile(r"([A-Za-z_][\w.\-]*+)[=:](?![/:])\S")
_SHAPES: dict[str, str] = {}
_MEMO_LIMIT = 50_000  # token lists remembered per miner (an exact memo: a clear only costs speed)
_PSR3 = re.compile(r"\{[A-Za-z_][\w.\-]*\}").fullmatch  # a PSR-3 placeholder kept in a template
SHAPES = ("dotted", "path", "kv")


def token_shape(token: str) -> str:
    """The value type of a digit-free token ("" for a plain word).

    ``dotted``: three or more dot-separated identifier parts (``org.apache.hadoop.Foo``,
    ``proxy.cse.example.edu``, also with a ``:port``); ``path``: a file path (``/usr/lib/x``,
    ``./a/b``, ``a/b/c``, ``C:\\Windows\\x``);
    ``kv:KEY``: a ``key=value`` or ``key:value`` pair, typed by its key (values of one
    setting are one variable). Cached: logs repeat their tokens.
    """
    shape = _SHAPES.get(token)
    if shape is None:
        core = token.strip("()[]{},;'\"")
        if _DOTTED.fullmatch(core):
            shape = "dotted"
        elif ("/" in core or "\\" in core) and _PATH.fullmatch(core):
            shape = "path"
        else:
            m = _KEY_VALUE.match(core)
            shape = "kv:" + m.group(1) if m else ""
        if len(_SHAPES) >= 100_000:
            _SHAPES.clear()
        _SHAPES[token] = shape
    return shape


def _is_placeholder(token: str) -> bool:
    """A whole-token placeholder such as <num> or <*>."""
    return len(token) > 2 and token[0] == "<" and token[-1] == ">" and token[1:-1].replace("*", "a").isalpha()


class _Node:
    """A prefix-tree node: children by token, and at the leaves the cluster ids."""

    __slots__ = ("children", "ids")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.ids: list[int] = []

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.children:
            out["children"] = {key: child.to_dict() for key, child in self.children.items()}
        if self.ids:
            out["ids"] = list(self.ids)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> _Node:
        node = cls()
        node.children = {str(k): cls.from_dict(v) for k, v in data.get("children", {}).items()}
        node.ids = [int(i) for i in data.get("ids", [])]
        return node


class TemplateMiner:
    """Groups token lists into templates online; see the module docstring."""

    def __init__(
        self,
        sim_threshold: float = 0.5,
        depth: int = 4,
        max_children: int = 100,
        shapes: tuple[str, ...] = (),
        elastic: int = 0,
    ) -> None:
        if not 0.0 <= sim_threshold <= 1.0:
            raise ValueError("sim_threshold must be in [0, 1]")
        if depth < 3:
            raise ValueError("depth must be at least 3 (root, length, one token level)")
        if max_children < 2:
            raise ValueError("max_children must be at least 2")
        self.sim_threshold = sim_threshold
        unknown = set(shapes) - set(SHAPES)
        if unknown:
            raise ValueError(f"unknown token shapes {sorted(unknown)} (known: {', '.join(SHAPES)})")
        self.shapes = tuple(shapes)
        self._typed = frozenset(shapes)
        if elastic < 0:
            raise ValueError("elastic must be >= 0")
        self.elastic = elastic
        self._by_length: dict[int, list[int]] = {}
        self.depth = depth
        self.max_children = max_children
        self._templates: list[list[str]] = []
        self._root: dict[int, _Node] = {}
        # Changes of the state (a template, a cluster or a tree node added or generalised);
        # the memo of `add` holds only answers given at the current generation.
        self.generation = 0
        self._memo: dict[tuple[str, ...], int] = {}

    def __len__(self) -> int:
        return len(self._templates)

    # --- public API -----------------------------------------------------------

    def add(self, tokens: list[str]) -> tuple[int, bool]:
        """Learn one message; return (cluster id, whether its template changed or is new).

        Exact memo: a message that changed nothing maps to its cluster for as long as the
        miner's state stays as it was (`generation` counts the changes), since `add` of the
        same tokens to the same state gives the same answer and changes nothing again.
        """
        key = tuple(tokens)
        memo = self._memo
        hit = memo.get(key)
        if hit is not None:
            return hit, False
        before = self.generation
        cluster, changed = self._add(tokens)
        if changed:
            self.generation += 1
        if self.generation == before:
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            memo[key] = cluster
        else:
            memo.clear()
        return cluster, changed

    def _add(self, tokens: list[str]) -> tuple[int, bool]:
        leaf = self._leaf(tokens, learn=True)
        assert leaf is not None  # learning always finds or creates a leaf
        best = self._best(leaf.ids, tokens)
        if best is not None:
            template = self._templates[best]
            merged = [t if t == m else WILDCARD for t, m in zip(template, tokens, strict=True)]
            if merged == template:
                return best, False
            self._templates[best] = merged
            return best, True
        if self.elastic:
            found = self._elastic(tokens)
            if found is not None:
                return found
        cluster_id = len(self._templates)
        self._templates.append(list(tokens))
        leaf.ids.append(cluster_id)
        self._by_length.setdefault(len(tokens), []).append(cluster_id)
        return cluster_id, True

    def match(self, tokens: list[str]) -> int | None:
        """The cluster a message belongs to, without learning; None if there is none."""
        leaf = self._leaf(tokens, learn=False)
        best = None if leaf is None else self._best(leaf.ids, tokens)
        if best is None and self.elastic:
            found = self._elastic(tokens, learn=False)
            best = None if found is None else found[0]
        return best

    def template(self, cluster_id: int) -> str:
        """The template of a cluster: tokens joined by spaces, wildcards as <*>."""
        return " ".join(self._templates[cluster_id])

    def to_state(self) -> dict[str, Any]:
        """The full state as JSON-serialisable data."""
        return {
            "format": STATE_FORMAT,
            "sim_threshold": self.sim_threshold,
            "depth": self.depth,
            "max_children": self.max_children,
            "shapes": list(self.shapes),
            "elastic": self.elastic,
            "templates": [list(t) for t in self._templates],
            "tree": {str(n): node.to_dict() for n, node in self._root.items()},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TemplateMiner:
        """Restore a miner saved by to_state; it behaves exactly like the original."""
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"not a {STATE_FORMAT} state: {state.get('format')!r}")
        miner = cls(
            float(state["sim_threshold"]),
            int(state["depth"]),
            int(state["max_children"]),
            tuple(str(x) for x in state.get("shapes", ())),
            int(state.get("elastic", 0)),
        )
        miner._templates = [[str(t) for t in tpl] for tpl in state["templates"]]
        miner._root = {int(n): _Node.from_dict(node) for n, node in state["tree"].items()}
        for n, node in miner._root.items():
            miner._by_length[n] = sorted(_leaf_ids(node))
        return miner

    # --- internals --------------------------------------------------------------

    def _elastic(self, tokens: list[str], learn: bool = True) -> tuple[int, bool] | None:
        """A cluster of another length that this message matches with one variable-length span.

        Length-robust matching: a value printed as several words ("Oracle Corporation",
        a list, a sentence in a parameter) changes the token count, which the prefix tree
        and the positional similarity cannot absorb. Here the message and a template of
        up to `elastic` tokens more or fewer must agree on a common prefix and suffix
        that cover all of the shorter one but exactly one position, which must hold a
        value (placeholder, wildcard, typed token) that the longer one prints as several
        tokens (or words that continue a value, "os.name=Mac OS X"). At least three tokens
        must agree, and they must be `sim_threshold` of the shorter one. A differing word anywhere keeps them apart, and so does an
        inserted field (`user=root`: an optional field is a different message shape).
        """
        n = len(tokens)
        best: tuple[float, int, int, int] | None = None  # (score, -id, prefix, suffix)
        for length in range(max(1, n - self.elastic), n + self.elastic + 1):
            if length == n:
                continue
            for cluster_id in self._by_length.get(length, []):
                template = self._templates[cluster_id]
                fit = _span_fit(template, tokens, self._shape if self._typed else None)
                if fit is None:
                    continue
                prefix, suffix = fit
                score = (prefix + suffix) / min(n, length)  # agreeing share of the shorter one
                if prefix + suffix >= 3 and score >= self.sim_threshold:
                    key = (score, -cluster_id, prefix, suffix)
                    if best is None or key > best:
                        best = key
        if best is None:
            return None
        cluster_id, prefix, suffix = -best[1], best[2], best[3]
        template = self._templates[cluster_id]
        if not learn or len(template) <= n:
            return cluster_id, False
        # the template is longer: its uncovered middle becomes one wildcard position each
        merged = list(template)
        for i in range(prefix, len(template) - suffix):
            merged[i] = WILDCARD
        changed = merged != template
        self._templates[cluster_id] = merged
        return cluster_id, changed

    def _shape(self, token: str) -> str:
        """The token's value shape if this miner types that shape, else ""."""
        if not self._typed:
            return ""
        shape = token_shape(token)
        return shape if shape.split(":", 1)[0] in self._typed else ""

    def _leaf(self, tokens: list[str], learn: bool) -> _Node | None:
        """Walk (and when learning, grow) the tree: token count, then leading tokens.

        Value tokens go down the <*> branch so that ids do not open branches. A node
        that is full sends new words to <*> too (one slot stays free for it).
        """
        node = self._root.get(len(tokens))
        if node is None:
            if not learn:
                return None
            node = self._root[len(tokens)] = _Node()
            self.generation += 1
        for token in tokens[: self.depth - 2]:
            key = WILDCARD if _IS_PARAM(token) or self._shape(token) else token
            child = node.children.get(key)
            if child is None and not learn:
                child = node.children.get(WILDCARD)
                if child is None:
                    return None
            elif child is None:
                if key != WILDCARD and len(node.children) >= self.max_children - 1:
                    key = WILDCARD
                child = node.children.get(key)
                if child is None:
                    child = node.children[key] = _Node()
                    self.generation += 1
            node = child
        return node

    def _best(self, ids: list[int], tokens: list[str]) -> int | None:
        """The most similar cluster at or above the threshold (ties: more wildcards, then lower id)."""
        best_id: int | None = None
        best_key = (-1.0, -1)
        for cluster_id in ids:
            sim, wildcards = _similarity(
                self._templates[cluster_id], tokens, self._shape if self._typed else None
            )
            if sim >= self.sim_threshold and (sim, wildcards) > best_key:
                best_id, best_key = cluster_id, (sim, wildcards)
        return best_id


def _leaf_ids(node: _Node) -> list[int]:
    out = list(node.ids)
    for child in node.children.values():
        out += _leaf_ids(child)
    return out


def _agree(t: str, m: str, shape: Callable[[str], str] | None) -> bool:
    """Two tokens at one position say the same: equal, or both values of one kind."""
    if t == m:
        return True
    if t == WILDCARD or _is_placeholder(t):
        return _is_placeholder(m) or (shape is not None and bool(shape(m)))
    return shape is not None and bool(kind := shape(m)) and kind == shape(t)


def _span_fit(
    template: list[str], tokens: list[str], shape: Callable[[str], str] | None
) -> tuple[int, int] | None:
    """(prefix, suffix) agreeing lengths when they cover the shorter side but one value position."""
    short, long = (template, tokens) if len(template) < len(tokens) else (tokens, template)
    prefix = 0
    limit = len(short)
    while prefix < limit and _agree(template[prefix], tokens[prefix], shape):
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and _agree(template[-1 - suffix], tokens[-1 - suffix], shape):
        suffix += 1
    left = len(short) - prefix - suffix
    if left == 1:  # one value position of the shorter one is several tokens in the longer one
        return (prefix, suffix) if _is_value(short[prefix], shape) else None
    if left == 0 and prefix and _is_value(short[prefix - 1], shape):
        # the longer one has more words right after a value: the value went on ("=Mac OS X"),
        # unless a word of them is a field of its own ("user=root"): an optional field
        # makes another message shape
        extra = long[prefix : len(long) - suffix]
        if all("=" not in t and not (shape and shape(t)) for t in extra):
            return prefix - 1, suffix
    return None


def _is_value(token: str, shape: Callable[[str], str] | None) -> bool:
    """A position that holds a value: a wildcard, a masked or PSR-3 placeholder, a typed token."""
    return token == WILDCARD or _is_placeholder(token) or bool(_PSR3(token)) or bool(shape and shape(token))


def _similarity(
    template: list[str], tokens: list[str], shape: Callable[[str], str] | None = None
) -> tuple[float, int]:
    """Net agreement of a message with a template, and the template's wildcard count.

    A position agrees when the tokens are equal, when both are values (a wildcard
    or placeholder against a placeholder), and disagrees when a word differs. A
    wildcard against a word is neutral. The score is (agree - disagree) / length,
    so the default threshold 0.5 asks three quarters of the positions to agree.
    Drain counts only agreement (0.5 = half); after masking, the positions that
    differ are mostly words, and a different word is evidence of a different
    message: on Loghub this lifts mean GA from 0.913 to 0.947 at the same default.
    A four-token message merges with one different word, not two; a three-token
    one only when all words agree; "stored as bytes" vs "stored as values" (one
    in seven) still merges. With `shape` (a typed miner), two tokens of one value shape
    agree, and a wildcard agrees with a typed token (see `token_shape`).
    """
    if not tokens:
        return 1.0, 0
    agree = 0
    disagree = 0
    wildcards = 0
    for t, m in zip(template, tokens, strict=True):
        if t == m:
            agree += 1
            if t == WILDCARD:
                wildcards += 1
        elif t == WILDCARD:
            wildcards += 1
            if _is_placeholder(m) or (shape is not None and shape(m)):
                agree += 1
        elif (
            _is_placeholder(t)
            and _is_placeholder(m)
            or shape is not None
            and (kind := shape(m))
            and kind == shape(t)
        ):
            agree += 1
        else:
            disagree += 1
    return (agree - disagree) / len(tokens), wildcards
