"""Compute error signatures: a stable id, a human title and why.

Algorithm `sig:v2` (rules in rules/grouping.toml, documented in docs/grouping.md;
`sig:v1`, rules/grouping_v1.toml, differs where the rules' flags say):

* exceptions (an exception class, a trace or a throw site is present):
  channel + exception class + masked message template + throw site (path, no
  line) + the top in-app frames (path and function, no line);
* other events: the masked message template (MediaWiki's `normalized_message`
  when given, else the message) mined into a template cluster per channel by a
  Drain-like miner whose cluster ids never change.

Version segments of paths, line numbers, interpolated values, request dispatch
frames and the transport (placeholders kept or rendered) never take part, so one
bug keeps one signature across train versions, entry points and log formats;
channel, class and code site always do, so distinct bugs stay apart.

The `Grouper` caches results per distinct input so that the common case
(the same error again) costs a dictionary lookup.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from traintriage.core.events import Event
from traintriage.grouping.drain import TemplateMiner
from traintriage.grouping.mask import mask_text
from traintriage.grouping.placeholders import fill_placeholders, has_placeholder
from traintriage.grouping.rules import GroupingRules, default_rules
from traintriage.grouping.stacktrace import throw_site, top_in_app_frames

_UNCAUGHT = re.compile(r"^(?:PHP Fatal error:\s+)?Uncaught (?P<cls>[A-Za-z_\\][\w\\]*)[:(]")
_CLASS_PREFIX = re.compile(r"^(?P<cls>[A-Za-z_\\][\w\\]*(?:Exception|Error|Throwable))\b:")
_CACHE_LIMIT = 200_000
_SITE_LIMIT = 20_000  # distinct (class, file, trace) remembered: each holds a trace of a few KB
_TITLE_LIMIT = 240


@dataclass
class SignatureInfo:
    """What a signature is made of; `explanation` lists each component and whether it counted."""

    id: str
    algorithm: str
    kind: str  # "exception" | "message"
    channel: str
    exc_class: str | None
    title: str
    explanation: list[dict[str, Any]] = field(default_factory=list)
    level: str = ""  # level of the first event seen (deprecations are WARNING)
    template_scope: str | None = None  # miner scope for "message" signatures
    template_cluster: int | None = None


def signature_id(algorithm: str, parts: list[str]) -> str:
    """Stable 16-hex-digit id over the contributing components (blake2b-64)."""
    digest = hashlib.blake2b("\x1f".join([algorithm, *parts]).encode("utf-8", "surrogatepass"), digest_size=8)
    return digest.hexdigest()


class Grouper:
    """Assigns signatures to events; holds the per-channel template miners.

    `known_templates` maps (scope, cluster id) to an existing signature id, so a
    miner restored from the store keeps giving the ids it gave before.
    """

    def __init__(
        self,
        rules: GroupingRules | None = None,
        miners: dict[str, TemplateMiner] | None = None,
        known_templates: dict[tuple[str, int], str] | None = None,
    ) -> None:
        self.rules = rules or default_rules()
        self.miners: dict[str, TemplateMiner] = miners or {}
        self.template_ids: dict[tuple[str, int], str] = dict(known_templates or {})
        self.new_templates: dict[tuple[str, int], SignatureInfo] = {}
        self.changed_scopes: set[str] = set()
        # Two levels (issue 10): (class, file, trace) -> site number, then (channel, site
        # number, text) -> signature for exceptions; (channel, text) -> signature otherwise.
        self._site_ids: dict[tuple[str | None, str | None, str | None], int] = {}
        self._next_site = 0
        self._cache: dict[tuple[Any, ...], SignatureInfo] = {}
        self._templates: dict[str, SignatureInfo] = {}
        self._sites: dict[tuple[str | None, str | None], tuple[str | None, tuple[str, ...]]] = {}
        self._masked: dict[str, str] = {}
        self._by_cluster: dict[tuple[str, int], SignatureInfo] = {}
        self._fill_plans: dict[str, tuple[str | None, bool]] = {}  # per normalized_message

    # --- public ---------------------------------------------------------------

    def signature_of(self, ev: Event) -> SignatureInfo:
        """Signature of one event (cached by its grouping-relevant fields)."""
        channel = self.rules.channel_aliases.get(ev.channel, ev.channel)
        text = ev.normalized_message or ev.message
        if ev.normalized_message and self.rules.canonical_placeholders and ev.message != text:
            # One canonical template whatever the transport: placeholders take the
            # values of the line's context or of its rendered message (whitespace
            # values stay {key}). Whether a template has any is decided once per template.
            plan = self._fill_plans.get(text)
            if plan is None:
                stripped = self._strip_prefix(text)
                # (template to fill or None, whether the message has a prefix to strip too)
                plan = (stripped if has_placeholder(stripped) else None, stripped != text)
                if len(self._fill_plans) >= _CACHE_LIMIT:
                    self._fill_plans.clear()
                self._fill_plans[text] = plan
            template, prefixed = plan
            if template is not None:
                message = self._strip_prefix(ev.message) if prefixed else ev.message
                text = fill_placeholders(template, message, ev.context)
        if ev.exc_class or ev.trace or ev.exc_file:
            skey = (ev.exc_class, ev.exc_file, ev.trace)
            site = self._site_ids.get(skey)
            if site is None:
                site = self._site_id(skey)
            key: tuple[Any, ...] = (channel, site, text)
            info = self._cache.get(key)
            if info is None:
                info = self._exception_signature(channel, ev, text)
                self._remember(key, info)
            return info
        key = (channel, text)
        info = self._cache.get(key)
        if info is None:
            info = self._message_signature(channel, text, ev.level)
            self._remember(key, info)
        return info

    def title_of(self, info: SignatureInfo) -> str:
        """Current title: template signatures generalise as the miner learns."""
        if info.template_scope is not None and info.template_cluster is not None:
            miner = self.miners.get(info.template_scope)
            if miner is not None:
                text = miner.template(info.template_cluster)
                if info.exc_class and info.exc_class not in text:
                    text = f"{info.exc_class}: {text}"
                return _clip(text)
        return info.title

    # --- exceptions -------------------------------------------------------------

    def _exception_signature(self, channel: str, ev: Event, text: str) -> SignatureInfo:
        rules = self.rules
        message = self._strip_prefix(text)
        if not ev.normalized_message and ev.exc_message and "\n" in message:
            message = message.split("\n", 1)[0]
        exc_class = ev.exc_class or _class_from_message(message)
        masked = self._mask(message)
        site_key = (ev.exc_file, ev.trace)
        code = self._sites.get(site_key)
        if code is None:
            code = (
                throw_site(ev.exc_file, rules),
                tuple(f.key() for f in top_in_app_frames(ev.trace, rules, rules.frames)),
            )
            if len(self._sites) >= _CACHE_LIMIT:
                self._sites.clear()
            self._sites[site_key] = code
        site, top = code
        # Messages thrown at one code site are mined into templates within that site only,
        # so "Could not enqueue jobs from stream X" stays one bug whatever X is, while a
        # different class, channel or code site can never be merged in.
        scope = "x:" + signature_id(rules.algorithm, ["scope", channel, exc_class or "", site or "", *top])
        tokens = masked.split() or ["<empty>"]
        miner = self.miners.get(scope)
        if miner is None:
            miner = self.miners[scope] = TemplateMiner(sim_threshold=rules.exception_similarity)
        cluster, changed = miner.add(tokens)
        if changed:
            self.changed_scopes.add(scope)
        known = self._by_cluster.get((scope, cluster))
        if known is not None:
            return known
        sig = self.template_ids.get((scope, cluster))
        if sig is None:
            parts = ["exception", channel, exc_class or "", masked, site or "", *top]
            sig = signature_id(rules.algorithm, parts)
            self.template_ids[(scope, cluster)] = sig
            self.changed_scopes.add(scope)
        masked = miner.template(cluster)
        title = masked if (not exc_class or exc_class in masked) else f"{exc_class}: {masked}"
        explanation: list[dict[str, Any]] = [
            {"component": "algorithm", "value": rules.algorithm, "contributes": True},
            {"component": "channel", "value": channel, "contributes": True},
            {
                "component": "exception class",
                "value": exc_class,
                "contributes": True,
                "hint": "from the event" if ev.exc_class else "parsed from the message",
            },
            {
                "component": "message template",
                "value": masked,
                "contributes": True,
                "hint": ("normalized_message" if ev.normalized_message else "message")
                + ", values masked, then mined into templates within this code site (ids fixed at creation)",
            },
            {
                "component": "throw site",
                "value": site,
                "contributes": site is not None,
                "hint": "path without version or line",
            },
            {
                "component": "in-app frames",
                "value": list(top),
                "contributes": bool(top),
                "hint": f"top {rules.frames} in-app frames, library and error-handler frames skipped, no line numbers",
            },
            {
                "component": "ignored",
                "value": "request id, URL, wiki, host, version path segments, line numbers, interpolated values",
                "contributes": False,
            },
        ]
        info = SignatureInfo(
            sig,
            rules.algorithm,
            "exception",
            channel,
            exc_class,
            _clip(title),
            explanation,
            ev.level,
            scope,
            cluster,
        )
        self._by_cluster[(scope, cluster)] = info
        self.new_templates.setdefault((scope, cluster), info)
        return info

    def _mask(self, message: str) -> str:
        masked = self._masked.get(message)
        if masked is None:
            masked = mask_text(message)
            if len(self._masked) >= _CACHE_LIMIT:
                self._masked.clear()
            self._masked[message] = masked
        return masked

    def _strip_prefix(self, text: str) -> str:
        for pattern in self.rules.message_prefixes:
            stripped = pattern.sub("", text, count=1)
            if stripped is not text and stripped != text:
                return stripped
        return text

    # --- free text --------------------------------------------------------------

    def _message_signature(self, channel: str, text: str, level: str) -> SignatureInfo:
        message = self._strip_prefix(text)
        masked = self._mask(message)
        info = self._templates.get(channel + "\x1f" + masked)
        if info is not None:
            return info
        tokens = masked.split()  # = mask_tokens(message), without masking twice
        scope = channel or "-"
        miner = self.miners.get(scope)
        if miner is None:
            miner = self.miners[scope] = TemplateMiner(
                sim_threshold=self.rules.message_similarity,
                shapes=self.rules.token_shapes,
                elastic=self.rules.message_elastic,
            )
        cluster, changed = miner.add(tokens)
        if changed:
            self.changed_scopes.add(scope)
        sig = self.template_ids.get((scope, cluster))
        if sig is None:
            sig = signature_id(self.rules.algorithm, ["message", scope, " ".join(tokens)])
            self.template_ids[(scope, cluster)] = sig
            self.changed_scopes.add(scope)
        explanation: list[dict[str, Any]] = [
            {"component": "algorithm", "value": self.rules.algorithm, "contributes": True},
            {"component": "channel", "value": channel, "contributes": True},
            {
                "component": "message template",
                "value": miner.template(cluster),
                "contributes": True,
                "hint": f"template cluster #{cluster} of channel {scope!r}; values masked, then mined (Drain-like); "
                "the id was fixed when the cluster was created",
            },
            {
                "component": "ignored",
                "value": "interpolated values, request id, wiki, host, version",
                "contributes": False,
            },
        ]
        info = SignatureInfo(
            sig,
            self.rules.algorithm,
            "message",
            channel,
            None,
            _clip(miner.template(cluster)),
            explanation,
            level,
            scope,
            cluster,
        )
        if (scope, cluster) not in self.new_templates:
            self.new_templates[(scope, cluster)] = info
        self._templates[channel + "\x1f" + masked] = info
        if len(self._templates) > _CACHE_LIMIT:
            self._templates.clear()
        return info

    def _site_id(self, skey: tuple[str | None, str | None, str | None]) -> int:
        """A small number for a distinct (class, file, trace): the first level of the cache.

        Cache keys then hold one copy of each distinct trace (several KB) instead of one per
        distinct message, which is what keeps memory flat (issue 10). Numbers are never reused,
        so entries of the second level made before a clear can never be mistaken for others.
        """
        if len(self._site_ids) >= _SITE_LIMIT:
            self._site_ids.clear()
            self._cache.clear()  # its keys name sites by numbers no longer kept
        self._next_site += 1
        self._site_ids[skey] = self._next_site
        return self._next_site

    def _remember(self, key: tuple[Any, ...], info: SignatureInfo) -> None:
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()  # bounded memory: a cold cache only costs speed
        self._cache[key] = info


def _class_from_message(message: str) -> str | None:
    m = _UNCAUGHT.match(message) or _CLASS_PREFIX.match(message)
    return m["cls"] if m else None


def _clip(text: str) -> str:
    return text if len(text) <= _TITLE_LIMIT else text[: _TITLE_LIMIT - 1] + "…"
