"""Filing production-error tasks: draft from a stored signature, look for duplicates, file, link.

Backends: Phabricator through Conduit (`maniphest.edit`, optionally as a subtask of the
train's blocker task) and a generic webhook (POST of the draft as JSON, answered with the
new task's id and URL). Filing links the task to the signature in the review record.
Settings come from the command line or the environment:

* `TRAINTRIAGE_PHABRICATOR_URL`: the Phabricator (Conduit) base URL,
* `TRAINTRIAGE_PHABRICATOR_TOKEN`: its API token (never stored, never printed),
* `TRAINTRIAGE_TASK_WEBHOOK` (and `TRAINTRIAGE_TASK_WEBHOOK_SECRET`): the webhook backend,
* `TRAINTRIAGE_URL`: this traintriage's web address, for links back to the signature.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from traintriage.core.errors import InvalidInput, NotFound
from traintriage.core.versions import version_key
from traintriage.detect.blockers import TaskState
from traintriage.remote import http
from traintriage.remote.conduit import ConduitClient, FiledTask
from traintriage.services.blockers import blocker_evidence, cached_states, linked_tasks, refresh_blocker
from traintriage.services.ownership import owner_of_signature
from traintriage.store.db import Store
from traintriage.store.reads import SignatureDetail, signature_detail
from traintriage.store.tasks import record_filed_task, save_task_states
from traintriage.triage.owners import OwnersFile
from traintriage.triage.tasks import ErrorFacts, TaskDraft, TaskLinks, duplicate_candidates, render_task

__all__ = ["Duplicates", "TrackerSettings", "draft_task", "error_facts", "file_task", "find_duplicates"]


@dataclass(frozen=True)
class TrackerSettings:
    phabricator: str | None = None
    token: str | None = None
    webhook: str | None = None
    webhook_secret: str | None = None
    app_url: str | None = None
    subtype: str | None = "error"
    error_url_field: str | None = "custom.error.url"
    timeout: float = 10.0

    @classmethod
    def from_env(cls, **given: Any) -> TrackerSettings:
        env = os.environ
        values = {
            "phabricator": env.get("TRAINTRIAGE_PHABRICATOR_URL"),
            "token": env.get("TRAINTRIAGE_PHABRICATOR_TOKEN"),
            "webhook": env.get("TRAINTRIAGE_TASK_WEBHOOK"),
            "webhook_secret": env.get("TRAINTRIAGE_TASK_WEBHOOK_SECRET"),
            "app_url": env.get("TRAINTRIAGE_URL"),
        }
        values.update({k: v for k, v in given.items() if v is not None})
        for key in ("phabricator", "webhook", "app_url"):
            if values.get(key):
                try:
                    http.check_url(str(values[key]))
                except ValueError as err:
                    raise InvalidInput(f"{key}: {err}") from None
        return cls(**values)  # type: ignore[arg-type]

    def links(self) -> TaskLinks:
        base = TaskLinks(app=self.app_url)
        return replace(base, phabricator=self.phabricator) if self.phabricator else base

    def conduit(self) -> ConduitClient | None:
        if not self.phabricator:
            return None
        return ConduitClient(self.phabricator, self.token, timeout=self.timeout)


# --------------------------------------------------------------------------- #
# Draft
# --------------------------------------------------------------------------- #


_RICH = ("trace", "phpversion", "normalized_message", "url", "server", "reqId")


def _pick_sample(detail: SignatureDetail, version: str | None) -> dict[str, Any]:
    """The sample of `version` that says the most (a udp2log line lacks PHP version and trace), newest first."""
    samples: list[dict[str, Any]] = [dict(s) for s in detail.samples]
    mine = [s for s in samples if version is None or s.get("version") == version] or samples
    if not mine:
        return {}

    def richness(sample: dict[str, Any]) -> tuple[int, float]:
        return sum(1 for k in _RICH if sample.get(k)), float(sample.get("ts") or 0.0)

    best: dict[str, Any] = max(mine, key=richness)
    return best


def _newest_version(detail: SignatureDetail) -> str | None:
    versions = [v.version for v in detail.summary.versions if v.version]
    return max(versions, key=version_key) if versions else None


def error_facts(
    store: Store, signature: str, *, version: str | None = None, owners: OwnersFile | None = None
) -> ErrorFacts:
    """Everything a task about `signature` says, from the store (the newest sample of `version`)."""
    detail = signature_detail(store, signature)
    version = version or _newest_version(detail)
    counts = next((v for v in detail.summary.versions if v.version == version), None)
    older = [
        v
        for v in detail.summary.versions
        if v.version and version and version_key(v.version) < version_key(version)
    ]
    sample = _pick_sample(detail, version)
    wikis = {w for v, w, _e, _r in detail.wikis if v == version}
    team = project = None
    if owners is not None:
        routing = owner_of_signature(owners, detail)
        team, project = routing.team, routing.project
    exc = sample.get("exception_class") or detail.summary.exc_class
    return ErrorFacts(
        signature=signature,
        title=detail.summary.title,
        channel=detail.summary.channel,
        version=version,
        timestamp=sample.get("ts"),
        normalized_message=sample.get("normalized_message"),
        message=sample.get("message"),
        exc_class=exc,
        php_version=sample.get("phpversion"),
        req_id=sample.get("reqId"),
        url=sample.get("url"),
        server=sample.get("server"),
        trace=sample.get("trace"),
        events=counts.events if counts else detail.summary.events,
        requests=counts.requests if counts else 0,
        wikis=len(wikis),
        first_seen=counts.first_seen if counts else detail.summary.first_seen,
        labels=("new",) if counts and not older else (),
        team=team,
        project=project,
    )


def draft_task(
    store: Store,
    signature: str,
    settings: TrackerSettings,
    *,
    version: str | None = None,
    owners: OwnersFile | None = None,
    parent: str | None = None,
    under_blocker: bool = False,
) -> TaskDraft:
    """The task for `signature`; `under_blocker` makes it a subtask of the version's blocker task."""
    facts = error_facts(store, signature, version=version, owners=owners)
    if under_blocker and parent is None:
        ev = blocker_evidence(store, facts.version or "") if facts.version else None
        if ev is None or ev.task is None:
            raise NotFound(
                f"no blocker task known for {facts.version}: run `traintriage tasks blockers {facts.version} --refresh` "
                "or give --parent T123"
            )
        parent = ev.task.id
    try:
        return render_task(facts, settings.links(), parent=parent)
    except ValueError as err:
        raise InvalidInput(str(err)) from None


# --------------------------------------------------------------------------- #
# Duplicates
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Duplicates:
    """Tasks to look at before filing: already linked, linked to similar signatures, open in the tracker."""

    linked: tuple[TaskState, ...] = ()
    similar: tuple[tuple[str, str, float, str], ...] = ()  # (task, title, score, signature)
    remote: tuple[tuple[TaskState, float], ...] = ()
    remote_error: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def any(self) -> bool:
        return bool(self.linked or self.similar or self.remote)

    def to_dict(self) -> dict[str, Any]:
        return {
            "linked": [t.to_dict() for t in self.linked],
            "similar": [
                {"task": t, "title": ti, "score": s, "signature": sig} for t, ti, s, sig in self.similar
            ],
            "remote": [{**t.to_dict(), "score": s} for t, s in self.remote],
            "remote_error": self.remote_error,
        }


def find_duplicates(
    store: Store, draft: TaskDraft, client: ConduitClient | None = None, *, now: float | None = None
) -> Duplicates:
    """Search already-linked tasks, then open tasks in Phabricator, for likely duplicates."""
    links = linked_tasks(store)
    states = cached_states(store)
    mine = tuple(states.get(t) or TaskState(t, "", "unknown") for t in links.get(draft.signature, ()))
    titles = {
        str(sig): str(title)
        for sig, title in store.query_in(
            "SELECT id, title FROM signatures WHERE id {ids}",
            sorted(s for s in links if s != draft.signature),
        )
    }
    pairs: list[tuple[str, str]] = []
    owner: dict[tuple[str, str], str] = {}
    for sig, title in titles.items():
        for task in links.get(sig, ()):
            label = (states[task].title if task in states and states[task].title else "") or title
            pairs.append((task, label))
            owner[(task, label)] = sig
    similar = tuple(
        (task, title, score, owner[(task, title)])
        for task, title, score in duplicate_candidates(draft.title, pairs, threshold=0.35, limit=8)
    )
    remote: tuple[tuple[TaskState, float], ...] = ()
    error = None
    if client is not None and draft.search:
        try:
            found = client.search_open(draft.search)
        except http.DeliveryError as err:
            error = str(err)
        else:
            save_task_states(store, found, at=now)
            scores = {
                t: s
                for t, _title, s in duplicate_candidates(
                    draft.title, [(f.id, f.title) for f in found], threshold=0.0, limit=50
                )
            }
            remote = tuple(
                sorted(((f, scores.get(f.id, 0.0)) for f in found), key=lambda p: (-p[1], p[0].id))
            )
    return Duplicates(mine, similar, remote, error)


# --------------------------------------------------------------------------- #
# Filing
# --------------------------------------------------------------------------- #


def _file_webhook(settings: TrackerSettings, draft: TaskDraft) -> FiledTask:
    assert settings.webhook
    payload = {"type": "traintriage.task", **draft.to_dict()}
    resp = http.post_json(settings.webhook, payload, secret=settings.webhook_secret, timeout=settings.timeout)
    body = resp.json() if resp.body.strip() else {}
    if not isinstance(body, Mapping):
        raise http.DeliveryError("task webhook answered without a JSON object", retryable=False)
    task_id = str(body.get("id") or body.get("task") or "")
    url = body.get("url") or resp.headers.get("Location")
    if not task_id and not url:
        raise http.DeliveryError("task webhook answered without the new task's id or url", retryable=False)
    ident = task_id if task_id.startswith("T") and task_id[1:].isdigit() else str(url or task_id)
    return FiledTask(ident, "", str(url or ""))


def file_task(
    store: Store,
    draft: TaskDraft,
    settings: TrackerSettings,
    *,
    actor: str,
    backend: str | None = None,
    at: float | None = None,
) -> FiledTask:
    """File the draft with `backend` ('phabricator' or 'webhook'; default: whichever is configured)."""
    at = time.time() if at is None else at
    backend = backend or ("phabricator" if settings.phabricator else "webhook" if settings.webhook else None)
    if backend == "phabricator":
        client = settings.conduit()
        if client is None:
            raise InvalidInput(
                "no Phabricator configured (--phabricator URL or $TRAINTRIAGE_PHABRICATOR_URL)"
            )
        fields = (
            {settings.error_url_field: draft.error_url}
            if settings.error_url_field and draft.error_url
            else {}
        )
        filed = client.create_task(
            draft.title,
            draft.remarkup,
            projects=draft.projects,
            parent=draft.parent,
            subtype=settings.subtype,
            fields=fields,
        )
        save_task_states(store, [TaskState(filed.id, draft.title, "open", filed.url)], at=at)
        ev = blocker_evidence(store, draft.version) if draft.parent and draft.version else None
        if ev is not None and ev.task is not None and ev.task.id == draft.parent:
            refresh_blocker(
                store, client, draft.version or "", task=draft.parent, now=at
            )  # the new subtask blocks
    elif backend == "webhook":
        if not settings.webhook:
            raise InvalidInput("no task webhook configured (--webhook URL or $TRAINTRIAGE_TASK_WEBHOOK)")
        filed = _file_webhook(settings, draft)
    else:
        raise InvalidInput("no task tracker configured: give --phabricator URL or --webhook URL")
    task_ref = filed.id if filed.id.startswith("T") else filed.url
    record_filed_task(
        store,
        draft.signature,
        task_ref,
        actor=actor,
        backend=backend,
        url=filed.url or None,
        title=draft.title,
        parent=draft.parent,
        at=at,
    )
    return filed
