"""The notification configuration: channels, per-team subscriptions, the promotion schedule.

A TOML file kept with the owners file (examples/notify.toml). Secrets are never in it:
a channel names the environment variable that holds its token or password (`*_env`).
Every mistake is reported with the file, the table and the reason.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from traintriage.core.errors import InvalidInput
from traintriage.notify.events import ALL_TEAMS, KINDS, Schedule

__all__ = ["CHANNEL_TYPES", "Channel", "NotifyConfig", "Subscription", "load_config", "parse_config"]

CHANNEL_TYPES = ("webhook", "slack", "matrix", "email", "irc")
TEAM_KINDS = ("new", "regressed", "logspam", "blocker", "reminder")
"""What a team subscription gets by default (train-wide decisions are opt-in for teams)."""


@dataclass(frozen=True)
class Channel:
    name: str
    type: str
    url: str | None = None  # webhook, slack, irc
    secret_env: str | None = None  # webhook HMAC secret
    homeserver: str | None = None  # matrix
    room: str | None = None
    token_env: str | None = None
    smtp_host: str | None = None  # email
    smtp_port: int = 25
    starttls: bool = False
    username_env: str | None = None
    password_env: str | None = None
    sender: str | None = None
    to: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.type == "email":
            return f"email via {self.smtp_host}:{self.smtp_port} to {', '.join(self.to)}"
        if self.type == "matrix":
            return f"matrix room {self.room} on {self.homeserver}"
        return f"{self.type} {self.url}"


@dataclass(frozen=True)
class Subscription:
    name: str
    team: str
    channel: str
    kinds: tuple[str, ...]
    digest_minutes: int = 0
    max_per_hour: int = 30


@dataclass(frozen=True)
class NotifyConfig:
    channels: Mapping[str, Channel] = field(default_factory=dict)
    subscriptions: tuple[Subscription, ...] = ()
    schedule: Schedule = field(default_factory=Schedule)
    base_url: str | None = None
    source: str = ""

    def subscription(self, name: str) -> Subscription | None:
        return next((s for s in self.subscriptions if s.name == name), None)


def load_config(path: str | Path) -> NotifyConfig:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InvalidInput(f"{p}: cannot read: {err}") from None
    return parse_config(text, str(p))


def parse_config(text: str, source: str = "notify.toml") -> NotifyConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InvalidInput(f"{source}: {err}") from None
    unknown = set(data) - {"base_url", "schedule", "channels", "subscriptions"}
    if unknown:
        raise InvalidInput(f"{source}: unknown key(s) {', '.join(sorted(unknown))}")
    base = data.get("base_url")
    if base is not None:
        base = _url(source, "base_url", base)
    channels = {
        name: _channel(source, name, spec)
        for name, spec in _table(source, "channels", data.get("channels", {})).items()
    }
    subs_raw = data.get("subscriptions", [])
    if not isinstance(subs_raw, list):
        raise InvalidInput(f"{source}: subscriptions: write [[subscriptions]] tables")
    subs = [_subscription(source, i, spec, channels) for i, spec in enumerate(subs_raw, 1)]
    names = [s.name for s in subs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InvalidInput(f"{source}: subscriptions: duplicate name(s) {', '.join(dup)}; give each a `name`")
    return NotifyConfig(channels, tuple(subs), _schedule(source, data.get("schedule", {})), base, source)


def _table(source: str, where: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{source}: {where}: expected a table")
    return value


def _url(source: str, where: str, value: Any) -> str:
    if (
        not isinstance(value, str)
        or urlsplit(value).scheme not in ("http", "https")
        or not urlsplit(value).hostname
    ):
        raise InvalidInput(f"{source}: {where}: {value!r} is not an http(s) URL")
    return value


def _str(source: str, where: str, spec: Mapping[str, Any], key: str, required: bool = False) -> str | None:
    value = spec.get(key)
    if value is None:
        if required:
            raise InvalidInput(f"{source}: {where}: `{key}` is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{source}: {where}: `{key}` must be a non-empty string")
    return value.strip()


_CHANNEL_KEYS = {
    "webhook": {"url", "secret_env"},
    "slack": {"url"},
    "irc": {"url"},
    "matrix": {"homeserver", "room", "token_env"},
    "email": {"smtp", "starttls", "username_env", "password_env", "from", "to"},
}


def _channel(source: str, name: str, spec: Any) -> Channel:
    where = f"[channels.{name}]"
    spec = _table(source, where, spec)
    kind = spec.get("type")
    if kind not in CHANNEL_TYPES:
        raise InvalidInput(
            f"{source}: {where}: type must be one of {', '.join(CHANNEL_TYPES)} (got {kind!r})"
        )
    extra = set(spec) - _CHANNEL_KEYS[kind] - {"type"}
    if extra:
        raise InvalidInput(f"{source}: {where}: unknown key(s) for type {kind}: {', '.join(sorted(extra))}")
    if kind in ("webhook", "slack", "irc"):
        url = _url(source, f"{where} url", _str(source, where, spec, "url", required=True))
        return Channel(name, kind, url=url, secret_env=_str(source, where, spec, "secret_env"))
    if kind == "matrix":
        home = _url(source, f"{where} homeserver", _str(source, where, spec, "homeserver", required=True))
        room = _str(source, where, spec, "room", required=True) or ""
        if not room.startswith("!") or ":" not in room:
            raise InvalidInput(f"{source}: {where}: room must be a room id like '!abc:example.org'")
        return Channel(
            name, kind, homeserver=home, room=room, token_env=_str(source, where, spec, "token_env", True)
        )
    smtp = _str(source, where, spec, "smtp", required=True) or ""
    host, _, port = smtp.rpartition(":") if ":" in smtp else (smtp, "", "25")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInput(f"{source}: {where}: smtp must be HOST or HOST:PORT (got {smtp!r})")
    to = spec.get("to")
    if isinstance(to, str):
        to = [to]
    if not isinstance(to, list) or not to or not all(isinstance(a, str) and "@" in a for a in to):
        raise InvalidInput(f"{source}: {where}: `to` must list e-mail addresses")
    sender = _str(source, where, spec, "from", required=True) or ""
    if "@" not in sender or any(c in sender for c in "\r\n"):
        raise InvalidInput(f"{source}: {where}: `from` must be an e-mail address")
    starttls = spec.get("starttls", False)
    if not isinstance(starttls, bool):
        raise InvalidInput(f"{source}: {where}: starttls must be true or false")
    return Channel(
        name,
        kind,
        smtp_host=host,
        smtp_port=int(port),
        starttls=starttls,
        username_env=_str(source, where, spec, "username_env"),
        password_env=_str(source, where, spec, "password_env"),
        sender=sender,
        to=tuple(a.strip() for a in to),
    )


def _subscription(source: str, index: int, spec: Any, channels: Mapping[str, Channel]) -> Subscription:
    where = f"[[subscriptions]] #{index}"
    spec = _table(source, where, spec)
    extra = set(spec) - {"name", "team", "channel", "events", "digest_minutes", "max_per_hour"}
    if extra:
        raise InvalidInput(f"{source}: {where}: unknown key(s) {', '.join(sorted(extra))}")
    team = (_str(source, where, spec, "team", required=True) or "").lstrip("@")
    channel = _str(source, where, spec, "channel", required=True) or ""
    if channel not in channels:
        raise InvalidInput(f"{source}: {where}: unknown channel {channel!r} (define [channels.{channel}])")
    events = spec.get("events", list(KINDS if team == ALL_TEAMS else TEAM_KINDS))
    if not isinstance(events, list) or not events or any(e not in KINDS for e in events):
        raise InvalidInput(f"{source}: {where}: events must list some of {', '.join(KINDS)}")
    digest, limit = spec.get("digest_minutes", 0), spec.get("max_per_hour", 30)
    if not isinstance(digest, int) or isinstance(digest, bool) or not 0 <= digest <= 7 * 1440:
        raise InvalidInput(f"{source}: {where}: digest_minutes must be 0 (immediately) .. 10080")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 3600:
        raise InvalidInput(f"{source}: {where}: max_per_hour must be 1 .. 3600")
    name = _str(source, where, spec, "name") or f"{team}->{channel}"
    return Subscription(name, team, channel, tuple(dict.fromkeys(events)), digest, limit)


def _schedule(source: str, spec: Any) -> Schedule:
    spec = _table(source, "[schedule]", spec)
    times = dict(Schedule().times)
    lead = spec.get("remind_minutes", Schedule().lead_minutes)
    if not isinstance(lead, int) or isinstance(lead, bool) or not 0 < lead <= 7 * 1440:
        raise InvalidInput(f"{source}: [schedule]: remind_minutes must be 1 .. 10080")
    for stage, text in spec.items():
        if stage == "remind_minutes":
            continue
        if not isinstance(text, str):
            raise InvalidInput(f"{source}: [schedule]: {stage} must be like 'Wed 20:00'")
        try:
            times[stage] = Schedule.parse(stage, text)
        except ValueError as err:
            raise InvalidInput(f"{source}: [schedule]: {err}") from None
    return Schedule(times, lead)
