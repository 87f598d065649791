"""Phabricator's Conduit API: find the blocker task, read subtasks, search and file tasks.

Calls are `POST {base}/api/{method}` with the form fields `params` (JSON, the token in
`__conduit__`), `output=json` and `__conduit__=1`; answers are
`{"result": ..., "error_code": ..., "error_info": ...}`. Methods used:
`maniphest.search` (constraints `ids`, `query`, `statuses`, `parentIDs`), `maniphest.edit`
(transactions `title`, `description`, `projects.add`, `parents.add`, `subtype`) and
`project.search` (constraint `slugs`). Tasks come back as `detect.blockers.TaskState`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from traintriage.detect.blockers import TaskState
from traintriage.remote.http import DeliveryError, check_url, request

__all__ = ["ConduitClient", "ConduitError", "FiledTask", "blocker_title"]

_TASK = re.compile(r"^T?([1-9]\d*)$")
_MAX_PAGES = 20


class ConduitError(DeliveryError):
    """Conduit answered with an error (bad token, unknown method, invalid transaction)."""


@dataclass(frozen=True)
class FiledTask:
    id: str  # T123
    phid: str
    url: str


def blocker_title(version: str) -> str:
    """The title every train's blocker task has."""
    return f"{version} deployment blockers"


def task_number(task: str) -> int:
    m = _TASK.match(task.strip())
    if not m:
        raise ValueError(f"{task!r} is not a task id like T123456")
    return int(m.group(1))


class ConduitClient:
    """A Conduit session for one Phabricator (`base` like https://phabricator.example.org)."""

    def __init__(self, base: str, token: str | None, *, timeout: float = 10.0) -> None:
        self.base = check_url(base).rstrip("/")
        self.token = token
        self.timeout = timeout

    # --- plumbing ---------------------------------------------------------------

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        body: dict[str, Any] = dict(params or {})
        if self.token:
            body["__conduit__"] = {"token": self.token}
        form = urlencode({"params": json.dumps(body), "output": "json", "__conduit__": "1"})
        resp = request(
            "POST",
            f"{self.base}/api/{method}",
            form.encode("ascii"),
            {"Content-Type": "application/x-www-form-urlencoded"},
            timeout=self.timeout,
        )
        data = resp.json()
        if not isinstance(data, dict):
            raise ConduitError(f"{method}: unexpected answer", retryable=False)
        if data.get("error_code"):
            code, info = data.get("error_code"), data.get("error_info") or ""
            retryable = str(code) in ("ERR-RATE-LIMIT", "ERR-CONDUIT-CORE") and "rate" in str(info).lower()
            raise ConduitError(f"{method}: {code}: {info}", retryable=retryable)
        return data.get("result")

    def url_of(self, task: str) -> str:
        return f"{self.base}/T{task_number(task)}"

    def _search(self, constraints: Mapping[str, Any], *, limit: int = 100) -> list[dict[str, Any]]:
        """Every result of maniphest.search, following the cursor (bounded)."""
        out: list[dict[str, Any]] = []
        after: Any = None
        for _ in range(_MAX_PAGES):
            params: dict[str, Any] = {"constraints": dict(constraints), "limit": limit}
            if after is not None:
                params["after"] = after
            result = self.call("maniphest.search", params) or {}
            out += [d for d in result.get("data") or [] if isinstance(d, dict)]
            after = (result.get("cursor") or {}).get("after")
            if after is None:
                break
        return out

    def _state(self, doc: Mapping[str, Any]) -> TaskState:
        fields = doc.get("fields") or {}
        status = fields.get("status") or {}
        value = status.get("value") if isinstance(status, dict) else status
        return TaskState(
            id=f"T{int(doc['id'])}",
            title=str(fields.get("name") or ""),
            status=str(value or "open"),
            url=f"{self.base}/T{int(doc['id'])}",
            subtype=fields.get("subtype"),
            owner=fields.get("ownerPHID"),
            closed_at=_float(fields.get("dateClosed")),
            modified_at=_float(fields.get("dateModified")),
        )

    # --- reads ------------------------------------------------------------------

    def tasks(self, ids: Iterable[str]) -> list[TaskState]:
        numbers = sorted({task_number(t) for t in ids})
        if not numbers:
            return []
        return [self._state(d) for d in self._search({"ids": numbers})]

    def find_blocker_task(self, version: str) -> TaskState | None:
        """The `<version> deployment blockers` task: by exact title or `custom.release.version`."""
        want = blocker_title(version).lower()
        for doc in self._search({"query": f'"{version}" "deployment" "blockers"'}):
            fields = doc.get("fields") or {}
            name = str(fields.get("name") or "").strip().lower()
            if name == want or fields.get("custom.release.version") == version:
                return self._state(doc)
        return None

    def subtasks(self, task: str) -> list[TaskState]:
        return [self._state(d) for d in self._search({"parentIDs": [task_number(task)]})]

    def search_open(self, query: str, *, limit: int = 20) -> list[TaskState]:
        """Open tasks matching a full-text query (likely duplicates before filing)."""
        if not query.strip():
            return []
        params = {
            "constraints": {"query": query, "statuses": ["open", "progress", "stalled"]},
            "limit": limit,
        }
        result = self.call("maniphest.search", params) or {}
        return [self._state(d) for d in result.get("data") or []]

    def project_phids(self, slugs: Sequence[str]) -> dict[str, str]:
        if not slugs:
            return {}
        result = self.call("project.search", {"constraints": {"slugs": list(slugs)}}) or {}
        out: dict[str, str] = {}
        for doc in result.get("data") or []:
            fields = doc.get("fields") or {}
            names = {str(fields.get("slug") or "").lower(), str(fields.get("name") or "").lower()}
            for slug in slugs:
                if slug.lower() in names or slug.lower().replace(" ", "_") in names:
                    out[slug] = str(doc["phid"])
        return out

    # --- writes -----------------------------------------------------------------

    def create_task(
        self,
        title: str,
        description: str,
        *,
        projects: Sequence[str] = (),
        parent: str | None = None,
        subtype: str | None = "error",
        fields: Mapping[str, Any] | None = None,
    ) -> FiledTask:
        """maniphest.edit without an objectIdentifier: a new task. Unknown project tags are skipped."""
        txns: list[dict[str, Any]] = [
            {"type": "title", "value": title},
            {"type": "description", "value": description},
        ]
        if subtype:
            txns.append({"type": "subtype", "value": subtype})
        phids = self.project_phids(list(projects))
        if phids:
            txns.append({"type": "projects.add", "value": sorted(set(phids.values()))})
        if parent:
            found = self._search({"ids": [task_number(parent)]})
            if not found:
                raise ConduitError(f"parent task {parent} not found", retryable=False)
            txns.append({"type": "parents.add", "value": [str(found[0]["phid"])]})
        for key, value in (fields or {}).items():
            if value is not None:
                txns.append({"type": key, "value": value})
        result = self.call("maniphest.edit", {"transactions": txns}) or {}
        obj = result.get("object") or {}
        if "id" not in obj:
            raise ConduitError("maniphest.edit answered without the new task", retryable=False)
        number = int(obj["id"])
        return FiledTask(f"T{number}", str(obj.get("phid") or ""), f"{self.base}/T{number}")


def _float(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
