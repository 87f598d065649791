"""Notifications as use cases: scan the current train into the outbox, deliver what is due.

`scan` decides the current train (as `train status` would), derives the notices
(notify/events.py), and queues one outbox row per notice and matching subscription,
committed before anything is sent. `deliver` claims due rows, groups them per
subscription under its digest window and hourly limit (notify/policy.py), sends each
message through its channel (webhook, Slack-compatible, Matrix, SMTP e-mail, IRC relay),
and records success, or the failure with the next attempt's time. Run both from cron or
`traintriage notify run --watch 60`.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from traintriage.core.versions import version_key
from traintriage.detect.config import DetectionConfig
from traintriage.notify import formats
from traintriage.notify.config import Channel, NotifyConfig
from traintriage.notify.events import Notice, matches, notices_for
from traintriage.notify.policy import MAX_ATTEMPTS, backoff, digest_due, plan
from traintriage.remote import http, smtp
from traintriage.services.status import train_status
from traintriage.services.train import load_train
from traintriage.store import outbox
from traintriage.store.db import Store
from traintriage.triage.owners import OwnersFile

__all__ = ["DeliverReport", "ScanReport", "current_train", "deliver", "scan", "send_message", "send_test"]


@dataclass
class ScanReport:
    versions: list[str]
    notices: int = 0
    queued: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    verdicts: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "versions": self.versions,
            "notices": self.notices,
            "queued": self.queued,
            "kinds": dict(self.kinds),
            "verdicts": self.verdicts,
        }


@dataclass
class DeliverReport:
    messages: int = 0
    items: int = 0
    failed: int = 0
    dead: int = 0
    postponed: int = 0
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "items": self.items,
            "failed": self.failed,
            "dead": self.dead,
            "postponed": self.postponed,
            "errors": self.errors,
        }


def current_train(store: Store, now: float) -> str | None:
    """The newest version running on some group at `now`: the train notices are about."""
    live = load_train(store).timeline.live_versions(now)
    return max(live, key=version_key) if live else None


def scan(
    store: Store,
    config: NotifyConfig,
    *,
    now: float | None = None,
    owners: OwnersFile | None = None,
    versions: Sequence[str] | None = None,
    detection: DetectionConfig | None = None,
) -> ScanReport:
    """Queue every new notice about `versions` (default: the current train) for its subscribers."""
    now = time.time() if now is None else now
    context = load_train(store)
    if versions is None:
        live = context.timeline.live_versions(now)
        versions = [max(live, key=version_key)] if live else []
    report = ScanReport(list(versions))
    for version in versions:
        decision = train_status(store, version, now, detection, context=context, owners=owners)
        state_key = f"verdict:{version}:{decision.next_stage or 'done'}"
        notices = notices_for(
            decision, previous_verdict=outbox.get_state(store, state_key), schedule=config.schedule, now=now
        )
        rows = []
        for n in notices:
            report.kinds[n.kind] += 1
            for sub in config.subscriptions:
                if matches(n, sub.team, sub.kinds):
                    rows.append(
                        (
                            n.key,
                            sub.name,
                            sub.channel,
                            n.team,
                            n.kind,
                            n.to_dict(),
                            digest_due(now, sub.digest_minutes),
                        )
                    )
        report.notices += len(notices)
        report.queued += outbox.enqueue(store, rows, now=now)
        outbox.set_state(store, state_key, decision.verdict, at=now)
        report.verdicts[version] = decision.verdict
    return report


# --------------------------------------------------------------------------- #
# Sending
# --------------------------------------------------------------------------- #


def _env(name: str | None, what: str) -> str | None:
    if not name:
        return None
    value = os.environ.get(name)
    if not value:
        raise http.DeliveryError(f"{what}: environment variable {name} is not set", retryable=True)
    return value


def send_message(
    channel: Channel, notices: Sequence[Notice], *, base_url: str | None, delivery: str, timeout: float = 10.0
) -> None:
    """Deliver one message (one notice or a digest) through `channel`; raises DeliveryError."""
    headers = {"X-Traintriage-Delivery": delivery}
    if channel.type == "webhook":
        assert channel.url
        payload = formats.webhook_payload(notices, base_url, delivery)
        secret = _env(channel.secret_env, f"channel {channel.name}")
        http.post_json(channel.url, payload, secret=secret, headers=headers, timeout=timeout)
    elif channel.type == "slack":
        assert channel.url
        http.post_json(
            channel.url, formats.slack_payload(notices, base_url), headers=headers, timeout=timeout
        )
    elif channel.type == "irc":
        assert channel.url
        http.post_text(
            channel.url, "\n".join(formats.irc_lines(notices, base_url)), headers=headers, timeout=timeout
        )
    elif channel.type == "matrix":
        assert channel.homeserver and channel.room
        token = _env(channel.token_env, f"channel {channel.name}")
        url = (
            f"{channel.homeserver.rstrip('/')}/_matrix/client/v3/rooms/{quote(channel.room, safe='')}"
            f"/send/m.room.message/{quote(delivery, safe='')}"
        )
        auth = {"Authorization": f"Bearer {token}", **headers}
        http.post_json(
            url, formats.matrix_content(notices, base_url), headers=auth, method="PUT", timeout=timeout
        )
    elif channel.type == "email":
        assert channel.smtp_host and channel.sender
        server = smtp.SmtpServer(
            channel.smtp_host,
            channel.smtp_port,
            channel.starttls,
            _env(channel.username_env, f"channel {channel.name}"),
            _env(channel.password_env, f"channel {channel.name}"),
            timeout,
        )
        msg = formats.email_message(notices, sender=channel.sender, to=channel.to, base_url=base_url)
        msg["X-Traintriage-Delivery"] = delivery
        smtp.send(server, msg)
    else:  # pragma: no cover - config validation makes this unreachable
        raise http.DeliveryError(f"unknown channel type {channel.type!r}", retryable=False)


def _delivery_id(subscription: str, ids: Sequence[int]) -> str:
    """Stable across retries of the same message: receivers (and Matrix) drop repeats by it."""
    digest = hashlib.sha256(f"{subscription}|{','.join(map(str, sorted(ids)))}".encode()).hexdigest()[:20]
    return f"tt-{digest}"


Sender = Callable[..., None]


def deliver(
    store: Store, config: NotifyConfig, *, now: float | None = None, sender: Sender = send_message
) -> DeliverReport:
    """Send what is due: per subscription, digests and rate limits applied; failures retried later."""
    now = time.time() if now is None else now
    report = DeliverReport()
    rows = outbox.claim_due(store, now=now)
    by_sub: dict[str, list[outbox.OutboxRow]] = defaultdict(list)
    for row in rows:
        by_sub[row.subscription].append(row)
    for name, items in by_sub.items():
        sub = config.subscription(name)
        channel = config.channels.get(items[0].channel) if sub else None
        ids = [r.id for r in items]
        if sub is None or channel is None or sub.channel != items[0].channel:
            outbox.mark_failed(
                store, ids, error=f"subscription {name!r} is no longer configured", retry_at=None
            )
            report.dead += len(ids)
            continue
        p = plan(
            ids,
            outbox.recent_sends(store, name, now - 3600),
            digest=sub.digest_minutes > 0,
            max_per_hour=sub.max_per_hour,
            now=now,
        )
        if p.postponed and p.wait_until is not None:
            outbox.postpone(store, p.postponed, p.wait_until)
            report.postponed += len(p.postponed)
        by_id = {r.id: r for r in items}
        for message in p.messages:
            batch = [by_id[i] for i in message]
            notices = [Notice.from_dict(r.notice) for r in batch]
            delivery = _delivery_id(name, message)
            try:
                sender(channel, notices, base_url=config.base_url, delivery=delivery)
            except http.DeliveryError as err:
                outbox.record_delivery(
                    store, name, channel.name, at=now, items=len(batch), ok=False, error=str(err)
                )
                attempts = max(r.attempts for r in batch) + 1
                retry = now + backoff(attempts) if err.retryable and attempts < MAX_ATTEMPTS else None
                outbox.mark_failed(store, list(message), error=str(err), retry_at=retry)
                report.failed += len(batch)
                report.dead += len(batch) if retry is None else 0
                report.errors.append(f"{name}: {err}")
                continue
            delivery_row = outbox.record_delivery(
                store, name, channel.name, at=now, items=len(batch), ok=True, error=None
            )
            outbox.mark_sent(store, list(message), at=now, delivery=delivery_row)
            report.messages += 1
            report.items += len(batch)
    return report


def send_test(config: NotifyConfig, channel_name: str, *, now: float | None = None) -> None:
    """Send one test notice straight to a channel (not through the outbox)."""
    now = time.time() if now is None else now
    channel = config.channels.get(channel_name)
    if channel is None:
        from traintriage.core.errors import NotFound

        raise NotFound(f"no channel {channel_name!r} in {config.source}")
    notice = Notice(
        "test", f"test:{int(now)}", "*", "-", now, f"traintriage test message for channel {channel_name}"
    )
    send_message(channel, [notice], base_url=config.base_url, delivery=f"tt-test-{int(now)}")
