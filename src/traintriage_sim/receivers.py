"""Local stand-ins for the outside world: a Phabricator speaking Conduit, a webhook receiver
and an SMTP server, all on 127.0.0.1, standard library only.

The tests file tasks, follow blocker tasks and deliver notifications against these real
servers (real sockets, real protocols), and a new user can run them next to `make demo`:

    python -m traintriage_sim.receivers --phabricator 8091 --webhook 8092 --smtp 8025

Like the rest of the simulator they import nothing from traintriage: an independent party.
The Conduit subset: `maniphest.search` (constraints ids, phids, query, statuses, subtypes,
parentIDs; cursor paging), `maniphest.edit` (create or edit: title, description, status,
subtype, priority, projects.add, parents.add, custom fields), `maniphest.info` and
`project.search` (slugs), answering `{"result", "error_code", "error_info"}`.
"""

from __future__ import annotations

import argparse
import json
import re
import socketserver
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

OPEN = ("open", "progress", "stalled")


# --------------------------------------------------------------------------- #
# Phabricator (Conduit)
# --------------------------------------------------------------------------- #


@dataclass
class FakeTask:
    id: int
    phid: str
    title: str
    description: str = ""
    status: str = "open"
    subtype: str = "default"
    priority: str = "triage"
    projects: list[str] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    modified: float = field(default_factory=time.time)
    closed: float | None = None

    def doc(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "TASK",
            "phid": self.phid,
            "fields": {
                "name": self.title,
                "description": {"raw": self.description},
                "status": {"value": self.status, "name": self.status.title(), "color": None},
                "priority": {"value": self.priority},
                "subtype": self.subtype,
                "ownerPHID": self.fields.get("ownerPHID"),
                "dateCreated": int(self.created),
                "dateModified": int(self.modified),
                "dateClosed": int(self.closed) if self.closed else None,
                **{k: v for k, v in self.fields.items() if k.startswith("custom.")},
            },
            "attachments": {},
        }


class FakePhabricator:
    """In-memory Maniphest behind a Conduit endpoint. `calls` records (method, params)."""

    def __init__(self, token: str | None = "api-test-token", projects: tuple[str, ...] = ()) -> None:
        self.token = token
        self.tasks: dict[int, FakeTask] = {}
        self.projects: dict[str, str] = {}  # phid -> slug
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail_next: list[tuple[int, str]] = []  # (HTTP status, body) answered before real calls
        self._next = 270000
        self._lock = threading.Lock()
        for slug in ("wikimedia-production-error", *projects):
            self.add_project(slug)

    # --- state helpers for tests and demos ----------------------------------------

    def add_project(self, slug: str) -> str:
        phid = f"PHID-PROJ-{len(self.projects) + 1:020d}"
        self.projects[phid] = slug.lower()
        return phid

    def add_task(self, title: str, *, status: str = "open", parent: int | None = None, **fields: Any) -> int:
        with self._lock:
            number = self._next
            self._next += 1
            task = FakeTask(number, f"PHID-TASK-{number:020d}", title, status=status)
            task.fields.update(fields)
            if parent is not None:
                task.parents.append(parent)
            if status not in OPEN:
                task.closed = time.time()
            self.tasks[number] = task
            return number

    def set_status(self, number: int, status: str) -> None:
        task = self.tasks[number]
        task.status = status
        task.modified = time.time()
        task.closed = None if status in OPEN else time.time()

    # --- Conduit ------------------------------------------------------------------

    def handle(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        token = (params.pop("__conduit__", None) or {}).get("token") if isinstance(params, dict) else None
        self.calls.append((method, params))
        if self.token and token != self.token:
            return _error("ERR-INVALID-AUTH", "API token is invalid.")
        handler = {
            "maniphest.search": self._search,
            "maniphest.edit": self._edit,
            "maniphest.info": self._info,
            "project.search": self._projects,
            "conduit.ping": lambda p: "fake-phabricator",
        }.get(method)
        if handler is None:
            return _error("ERR-CONDUIT-CALL", f"Conduit method '{method}' does not exist.")
        try:
            with self._lock:
                return {"result": handler(params), "error_code": None, "error_info": None}
        except (KeyError, ValueError, TypeError) as err:
            return _error("ERR-CONDUIT-CORE", f"invalid parameters: {err}")

    def _search(self, params: dict[str, Any]) -> dict[str, Any]:
        c = params.get("constraints") or {}
        found = sorted(self.tasks.values(), key=lambda t: -t.id)
        if "ids" in c:
            ids = {int(i) for i in c["ids"]}
            found = [t for t in found if t.id in ids]
        if "phids" in c:
            found = [t for t in found if t.phid in set(c["phids"])]
        if "statuses" in c:
            found = [t for t in found if t.status in set(c["statuses"])]
        if "subtypes" in c:
            found = [t for t in found if t.subtype in set(c["subtypes"])]
        if "parentIDs" in c:
            parents = {int(i) for i in c["parentIDs"]}
            found = [t for t in found if parents & set(t.parents)]
        if c.get("query"):
            pairs = re.findall(r'"([^"]+)"|(\S+)', c["query"])
            words = [(quoted or bare).lower() for quoted, bare in pairs]
            found = [t for t in found if all(w in t.title.lower() for w in words)]
        limit = int(params.get("limit") or 100)
        start = int(params.get("after") or 0)
        page = found[start : start + limit]
        after = str(start + limit) if start + limit < len(found) else None
        return {"data": [t.doc() for t in page], "cursor": {"limit": limit, "after": after, "before": None}}

    def _edit(self, params: dict[str, Any]) -> dict[str, Any]:
        ident = params.get("objectIdentifier")
        if ident:
            task = self.tasks[int(str(ident).lstrip("T"))]
        else:
            number = self._next
            self._next += 1
            task = FakeTask(number, f"PHID-TASK-{number:020d}", "")
        by_phid = {t.phid: t for t in self.tasks.values()}
        for txn in params.get("transactions") or []:
            kind, value = txn["type"], txn["value"]
            if kind == "title":
                task.title = str(value)
            elif kind == "description":
                task.description = str(value)
            elif kind == "status":
                task.status = str(value)
                task.closed = None if task.status in OPEN else time.time()
            elif kind in ("subtype", "priority"):
                setattr(task, kind, str(value))
            elif kind == "projects.add":
                unknown = [p for p in value if p not in self.projects]
                if unknown:
                    raise ValueError(f"unknown projects {unknown}")
                task.projects += [p for p in value if p not in task.projects]
            elif kind == "parents.add":
                task.parents += [by_phid[p].id for p in value]
            elif kind.startswith("custom."):
                task.fields[kind] = value
            else:
                raise ValueError(f"unknown transaction type {kind!r}")
        if not task.title:
            raise ValueError("a task needs a title")
        task.modified = time.time()
        self.tasks[task.id] = task
        return {"object": {"id": task.id, "phid": task.phid}, "transactions": []}

    def _info(self, params: dict[str, Any]) -> dict[str, Any]:
        t = self.tasks[int(params["task_id"])]
        return {
            "id": str(t.id),
            "phid": t.phid,
            "objectName": f"T{t.id}",
            "title": t.title,
            "status": t.status,
            "isClosed": t.status not in OPEN,
        }

    def _projects(self, params: dict[str, Any]) -> dict[str, Any]:
        slugs = {s.lower() for s in (params.get("constraints") or {}).get("slugs") or []}
        data = [
            {"id": i, "phid": phid, "fields": {"name": slug, "slug": slug}}
            for i, (phid, slug) in enumerate(self.projects.items(), 1)
            if not slugs or slug in slugs
        ]
        return {"data": data, "cursor": {"after": None}}


def _error(code: str, info: str) -> dict[str, Any]:
    return {"result": None, "error_code": code, "error_info": info}


def _php_form(fields: dict[str, list[str]]) -> dict[str, Any]:
    """`constraints[ids][0]=1` style form fields to nested dicts/lists."""
    out: dict[str, Any] = {}
    for key, values in fields.items():
        parts = re.findall(r"[^\[\]]+", key)
        node: Any = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if last:
                node[part] = values[-1]
            else:
                node = node.setdefault(part, {})
    return _listify(out)


def _listify(node: Any) -> Any:
    if isinstance(node, dict):
        if node and all(k.isdigit() for k in node):
            return [_listify(node[k]) for k in sorted(node, key=int)]
        return {k: _listify(v) for k, v in node.items()}
    return node


# --------------------------------------------------------------------------- #
# HTTP plumbing: one server class, pluggable handlers
# --------------------------------------------------------------------------- #


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


class WebhookReceiver:
    """Records every request; answers `responses` in order (default 200 `{"ok": true}`)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.responses: list[tuple[int, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def answer(self, req: Received) -> tuple[int, bytes]:
        with self.lock:
            self.received.append(req)
            status, body = self.responses.pop(0) if self.responses else (200, {"ok": True})
        return status, json.dumps(body).encode()


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        if getattr(self.server, "verbose", False):
            sys.stderr.write(f"{self.address_string()} - {format % args}\n")

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, 16 * 1024 * 1024))

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        req = Received(method, self.path, {k.lower(): v for k, v in self.headers.items()}, self._body())
        target = self.server.target
        if isinstance(target, FakePhabricator):
            self._conduit(target, req)
        else:
            status, body = target.answer(req)
            self._send(status, body)
        if getattr(self.server, "verbose", False):
            sys.stderr.write(f"{method} {self.path}\n{req.body.decode('utf-8', 'replace')[:2000]}\n\n")

    def _conduit(self, phab: FakePhabricator, req: Received) -> None:
        if phab.fail_next:
            status, text = phab.fail_next.pop(0)
            self._send(status, text.encode(), "text/plain")
            return
        if not req.path.startswith("/api/"):
            self._send(404, b'{"error": "not found"}')
            return
        form = parse_qs(req.body.decode("utf-8"), keep_blank_values=True)
        if "params" in form:
            params = json.loads(form["params"][-1])
        else:
            params = _php_form({k: v for k, v in form.items() if k not in ("output", "__conduit__")})
            if "api.token" in params:
                params["__conduit__"] = {"token": params.pop("api.token")}
        if "api.token" in form and "__conduit__" not in params:
            params["__conduit__"] = {"token": form["api.token"][-1]}
        answer = phab.handle(req.path[len("/api/") :], params)
        self._send(200, json.dumps(answer).encode())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextmanager
def serve_http(
    target: FakePhabricator | WebhookReceiver, port: int = 0, verbose: bool = False
) -> Iterator[str]:
    """Serve `target` on 127.0.0.1 in a thread; yields the base URL."""
    server = _Server(("127.0.0.1", port), _Handler)
    server.target = target  # type: ignore[attr-defined]
    server.verbose = verbose  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --------------------------------------------------------------------------- #
# SMTP
# --------------------------------------------------------------------------- #


@dataclass
class Mail:
    mail_from: str
    rcpt_to: list[str]
    data: bytes

    def message(self) -> Any:
        from email import message_from_bytes, policy

        return message_from_bytes(self.data, policy=policy.default)


class SmtpReceiver:
    """Accepts mail (RFC 5321 subset: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT).

    `temporary_failures` answers 451 to that many DATA commands first (to test retries).
    """

    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self.temporary_failures = 0
        self.lock = threading.Lock()


class _SmtpHandler(socketserver.StreamRequestHandler):
    server: Any

    def _reply(self, text: str) -> None:
        self.wfile.write((text + "\r\n").encode("ascii"))
        self.wfile.flush()

    def handle(self) -> None:
        box: SmtpReceiver = self.server.target
        self._reply("220 127.0.0.1 traintriage-sim ESMTP")
        mail_from, rcpts = "", list[str]()
        while True:
            line = self.rfile.readline(65536)
            if not line:
                return
            cmd = line.decode("utf-8", "replace").strip()
            verb = cmd[:4].upper()
            if verb in ("EHLO", "HELO"):
                self._reply("250 127.0.0.1" if verb == "HELO" else "250-127.0.0.1\r\n250 8BITMIME")
            elif verb == "MAIL":
                mail_from, rcpts = _address(cmd), []
                self._reply("250 OK")
            elif verb == "RCPT":
                rcpts.append(_address(cmd))
                self._reply("250 OK")
            elif verb == "DATA":
                if not rcpts:
                    self._reply("503 need RCPT")
                    continue
                self._reply("354 end with <CRLF>.<CRLF>")
                data = bytearray()
                while True:
                    chunk = self.rfile.readline(1 << 20)
                    if not chunk or chunk in (b".\r\n", b".\n"):
                        break
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                with box.lock:
                    if box.temporary_failures > 0:
                        box.temporary_failures -= 1
                        self._reply("451 try again later")
                        continue
                    box.mails.append(Mail(mail_from, list(rcpts), bytes(data)))
                if getattr(self.server, "verbose", False):
                    sys.stderr.write(
                        f"MAIL {mail_from} -> {rcpts}\n{bytes(data).decode('utf-8', 'replace')}\n"
                    )
                self._reply("250 OK queued")
            elif verb == "RSET":
                mail_from, rcpts = "", []
                self._reply("250 OK")
            elif verb == "NOOP":
                self._reply("250 OK")
            elif verb == "QUIT":
                self._reply("221 bye")
                return
            else:
                self._reply("502 command not implemented")


def _address(cmd: str) -> str:
    m = re.search(r"<([^>]*)>", cmd)
    return m.group(1) if m else cmd.split(":", 1)[-1].strip()


class _SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextmanager
def serve_smtp(box: SmtpReceiver, port: int = 0, verbose: bool = False) -> Iterator[tuple[str, int]]:
    server = _SmtpServer(("127.0.0.1", port), _SmtpHandler)
    server.target = box  # type: ignore[attr-defined]
    server.verbose = verbose  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --------------------------------------------------------------------------- #
# Demo entry point
# --------------------------------------------------------------------------- #


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Phabricator (Conduit), webhook and SMTP receivers.")
    parser.add_argument("--phabricator", type=int, default=8091, help="Conduit port (0: off)")
    parser.add_argument("--webhook", type=int, default=8092, help="webhook receiver port (0: off)")
    parser.add_argument("--smtp", type=int, default=8025, help="SMTP port (0: off)")
    parser.add_argument("--token", default="api-demo-token", help="Conduit API token to accept")
    parser.add_argument("--blocker", action="append", default=[], help="VERSION: create its blocker task")
    args = parser.parse_args(argv)
    phab = FakePhabricator(args.token, projects=("notifications", "mediawiki-core", "growth-team"))
    for version in args.blocker:
        phab.add_task(
            f"{version} deployment blockers", subtype="release", **{"custom.release.version": version}
        )
    hook, box = WebhookReceiver(), SmtpReceiver()
    from contextlib import ExitStack

    with ExitStack() as stack:
        if args.phabricator:
            url = stack.enter_context(serve_http(phab, args.phabricator, verbose=True))
            print(f"Phabricator (Conduit) at {url}  token {args.token}", flush=True)
        if args.webhook:
            url = stack.enter_context(serve_http(hook, args.webhook, verbose=True))
            print(f"webhook receiver at {url}/hook", flush=True)
        if args.smtp:
            host, port = stack.enter_context(serve_smtp(box, args.smtp, verbose=True))
            print(f"SMTP server at {host}:{port}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":  # pragma: no cover
    main()
