"""Every command, in-process (click.testing.CliRunner), in text and in --json where it has one.

RECIPES holds, per command, the steps a user would type (run in order on a private copy of a
simulated train) and what each must print. `test_every_command_has_a_recipe` fails when a
command is added without one, or when a command with --json has no --json step: the rest of
the CLI tests go deeper per topic (test_cli_train.py, test_cli_review.py, ...).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import pytest

from tests.helpers import SimTrain, cli
from traintriage.cli import reference
from traintriage_sim.receivers import FakePhabricator, WebhookReceiver, serve_http

W27, W28 = "1.36.0-wmf.27", "1.36.0-wmf.28"
AT = "2021-01-21T19:58:00Z"  # wmf.27 on group1 with an unreviewed NEW exception: NO-GO
OWNERS = Path(__file__).resolve().parents[1] / "examples" / "OWNERS"
PHAB_TOKEN = "api-cli-test-token"


@dataclass
class Step:
    """One command line (placeholders: {db}, {sig}, {tmp}, {sim}, {log}, {owners}, {notify}, saved JSON)."""

    args: list[str]
    code: int = 0
    out: tuple[str, ...] = ()  # substrings of stdout
    err: tuple[str, ...] = ()  # substrings of stderr
    doc: Callable[[Any], bool] | None = None  # a check of the parsed JSON output
    input: str | None = None
    save: str | None = None  # keep the JSON output under this name for later steps


def s(*args: str, **kw: Any) -> Step:
    return Step(list(args), **kw)


RECIPES: dict[str, list[Step]] = {
    # --- ingest, fingerprint, signatures, show, regroup ---------------------------------------
    "ingest": [
        s("ingest", "{log}", "--db", "{tmp}/new.db", out=("ingested ", "new signatures")),
        s("ingest", "{log}", "--db", "{tmp}/new.db", "--json", doc=lambda d: d["sources"][0]["already_done"]),
    ],
    "fingerprint": [
        s("fingerprint", "{log}", out=('{{"line": 1, "signature": "',)),
    ],
    "signatures": [
        s("signatures", "--limit", "3", "--db", "{db}", out=("{sig}", "versions: ")),
        s("signatures", "--version", W28, "--db", "{db}", "--json", doc=lambda d: d and "versions" in d[0]),
    ],
    "show": [
        s("show", "{sig8}", "--db", "{db}", out=("signature {sig}", "why these events grouped together:")),
        s("show", "{sig}", "--db", "{db}", "--json", doc=lambda d: d["samples"] and d["explanation"]),
    ],
    "regroup": [
        s(
            "regroup",
            "--dry-run",
            "--db",
            "{db}",
            out=("nothing to regroup: every signature is already sig:v2",),
        ),
        s(
            "regroup",
            "--db",
            "{db}",
            "--json",
            doc=lambda d: d["signatures_before"] == 0 and d["dry_run"] is False,
        ),
    ],
    # --- the train ------------------------------------------------------------------------------
    "deploys import": [
        s("deploys", "import", "{sim}/deploys/wikiversions.log", "--db", "{db}", out=("(0 new)",)),
        s(
            "deploys",
            "import",
            "{sim}/deploys/wikiversions.log",
            "--db",
            "{db}",
            "--json",
            doc=lambda d: d[0]["new"] == 0,
        ),
    ],
    "deploys list": [
        s("deploys", "list", "--db", "{db}", out=(W27, W28, "landed: ")),
        s(
            "deploys",
            "list",
            "--db",
            "{db}",
            "--json",
            doc=lambda d: [t["version"] for t in d] == [W28, W27],  # newest first
        ),
    ],
    "deploys steps": [
        s("deploys", "steps", "--version", W28, "--db", "{db}", out=(f"testwikis wikis to {W28}",)),
        s(
            "deploys",
            "steps",
            "--db",
            "{db}",
            "--json",
            doc=lambda d: len(d[0]["id"]) == 12 and not d[0]["retracted"],
        ),
    ],
    "retract deploy-step": [
        s("deploys", "steps", "--version", W28, "--db", "{db}", "--json", save="steps"),
        s(
            "retract",
            "deploy-step",
            "{steps[0][id]}",
            "--reason",
            "recorded by mistake",
            "--as",
            "ops",
            "--db",
            "{db}",
            out=("retracted deploy step {steps[0][id]}: ",),
        ),
        s(
            "retract",
            "deploy-step",
            "{steps[1][id]}",
            "--reason",
            "x",
            "--as",
            "ops",
            "--db",
            "{db}",
            "--json",
            doc=lambda d: d["kind"] == "deploy-step" and d["actor"] == "ops",
        ),
        s(
            "retract",
            "deploy-step",
            "{steps[1][id]}",
            "--reason",
            "x",
            "--as",
            "ops",
            "--db",
            "{db}",
            code=65,
        ),
    ],
    "retract review": [
        s(
            "review",
            "{new}",
            "--verdict",
            "not-blocker",
            "--as",
            "ana",
            "--db",
            "{db}",
            "--json",
            save="made",
        ),
        s(
            "retract",
            "review",
            "{made[review][id]}",
            "--reason",
            "wrong signature",
            "--as",
            "ops",
            "--db",
            "{db}",
            out=("retracted review #{made[review][id]} (not-blocker on {new} by ana)",),
        ),
        s("review", "{new}", "--verdict", "expected", "--as", "ana", "--db", "{db}", "--json", save="again"),
        s(
            "retract",
            "review",
            "{again[review][id]}",
            "--reason",
            "x",
            "--as",
            "ops",
            "--db",
            "{db}",
            "--json",
            doc=lambda d: d["kind"] == "review" and d["what"]["verdict"] == "expected",
        ),
        s(
            "reviews",
            "{new}",
            "--db",
            "{db}",
            "--json",
            doc=lambda d: [v["reviews"] for v in d.values()] == [[]],
        ),
        s("retract", "review", "999999", "--reason", "x", "--as", "ops", "--db", "{db}", code=66),
    ],
    "deploy record": [
        s(
            "deploy",
            "record",
            "--version",
            W28,
            "--group",
            "group2",
            "--at",
            "2021-02-01T20:00:00Z",
            "--db",
            "{db}",
            out=("recorded 2021-02-01T20:00:00Z group2 wikis to 1.36.0-wmf.28",),
        ),
    ],  # fmt: skip
    "groups import": [s("groups", "import", "{sim}/dblists", "--db", "{db}", out=("wikis listed: group0 ",))],
    "groups show": [
        s("groups", "show", "--db", "{db}", out=("group0 ", " listed ")),
        s("groups", "show", "--db", "{db}", "--json", doc=lambda d: d["group1"]["listed"] > 0),
    ],
    "exposure import": [
        s("exposure", "import", "{sim}/exposure.csv", "--db", "{db}", out=("(0 unreadable lines)",))
    ],
    "train status": [
        s("train", "status", W27, "--at", AT, "--db", "{db}", out=("verdict: NO-GO",)),
        s(
            "train",
            "status",
            W27,
            "--at",
            AT,
            "--db",
            "{db}",
            "--json",
            doc=lambda d: d["verdict"] == "no-go",
        ),
    ],
    "gate": [
        s(
            "gate",
            "--version",
            W27,
            "--stage",
            "group2",
            "--at",
            AT,
            "--db",
            "{db}",
            code=1,
            out=("NO-GO (exit 1)",),
        ),
        s(
            "gate",
            "--version",
            W27,
            "--stage",
            "group2",
            "--at",
            AT,
            "--db",
            "{db}",
            "--json",
            code=1,
            doc=lambda d: d["exit_code"] == 1 and d["top_offenders"],
        ),
    ],  # fmt: skip
    "gate analyze": [
        s("gate", "analyze", "--db", "{db}", out=("suggested threshold: ",)),
        s("gate", "analyze", "--db", "{db}", "--json", doc=lambda d: d["threshold"] >= 1),
    ],
    # --- triage ---------------------------------------------------------------------------------
    "review": [
        s("review", "{new}", "--verdict", "not-blocker", "--as", "ana", "--db", "{db}", out=("review #1: ",)),
        s(
            "review",
            "{new}",
            "--task",
            "T1",
            "--as",
            "ana",
            "--db",
            "{db}",
            "--json",
            doc=lambda d: d["state"]["tasks"] == ["T1"],
        ),
    ],  # fmt: skip
    "reviews": [
        s("review", "{new}", "--verdict", "expected", "--as", "ana", "--db", "{db}"),
        s("reviews", "--db", "{db}", out=("expected", "by ana")),
        s("reviews", "{new}", "--db", "{db}", "--json", doc=lambda d: len(d) == 1),
    ],
    "audit": [
        s("review", "{new}", "--verdict", "expected", "--as", "ana", "--db", "{db}"),
        s("audit", "--db", "{db}", out=("review-added",)),
        s("audit", "--db", "{db}", "--json", doc=lambda d: d[0]["actor"] == "ana"),
    ],
    "coverage": [
        s("coverage", "--db", "{db}", out=("median to 1st review", W27)),
        s("coverage", W27, "--db", "{db}", "--json", doc=lambda d: d[0]["version"] == W27),
    ],
    # --- ownership ------------------------------------------------------------------------------
    "owners check": [
        s("owners", "check", "{owners}", "--db", "{db}", out=("routed ", "UNOWNED: ")),
        s(
            "owners",
            "check",
            "{owners}",
            "--db",
            "{db}",
            "--json",
            doc=lambda d: {"signature", "team"} <= set(d[0]),
        ),
    ],
    "owners show": [
        s("owners", "show", "{sig}", "--owners", "{owners}", "--db", "{db}", out=("candidates (throw site",)),
        s(
            "owners",
            "show",
            "{sig}",
            "--owners",
            "{owners}",
            "--db",
            "{db}",
            "--json",
            doc=lambda d: "candidates" in d,
        ),
    ],
    # --- accounts and the web app -----------------------------------------------------------------
    "user add": [
        s(
            "user",
            "add",
            "ana",
            "--role",
            "deployer",
            "--password-stdin",
            "--db",
            "{db}",
            input="a passphrase\n",
            out=("added deployer ana",),
        ),
    ],  # fmt: skip
    "user list": [
        s("user", "add", "ana", "--no-password", "--team", "@growth-team", "--db", "{db}"),
        s("user", "list", "--db", "{db}", out=("ana", "@growth-team", "no password")),
        s("user", "list", "--db", "{db}", "--json", doc=lambda d: d[0]["name"] == "ana"),
    ],
    "user set": [
        s("user", "add", "ana", "--no-password", "--db", "{db}"),
        s("user", "set", "ana", "--role", "admin", "--disable", "--db", "{db}", out=("updated ana",)),
        s("user", "list", "--db", "{db}", out=("admin", "disabled")),
        s("user", "set", "bo", "--role", "admin", "--db", "{db}", code=66, err=("no user 'bo'",)),
    ],
    "token create": [
        s("user", "add", "ana", "--role", "deployer", "--no-password", "--db", "{db}"),
        s("token", "create", "--user", "ana", "--db", "{db}", out=("tt_",), err=("store it now",)),
        s(
            "token",
            "create",
            "--user",
            "ana",
            "--scope",
            "review",
            "--db",
            "{db}",
            "--json",
            doc=lambda d: d["token"].startswith("tt_") and d["scopes"] == ["review"],
        ),
    ],  # fmt: skip
    "token list": [
        s("user", "add", "ana", "--no-password", "--db", "{db}"),
        s("token", "create", "--user", "ana", "--label", "ci", "--db", "{db}"),
        s("token", "list", "--db", "{db}", out=("ana", "ci", "never used")),
        s("token", "list", "--user", "ana", "--db", "{db}", "--json", doc=lambda d: "token" not in d[0]),
    ],
    "token revoke": [
        s("user", "add", "ana", "--no-password", "--db", "{db}"),
        s("token", "create", "--user", "ana", "--db", "{db}", "--json", save="made"),
        s("token", "revoke", "{made[id]}", "--db", "{db}", out=("revoked {made[id]}",)),
        s("token", "revoke", "{made[id]}", "--db", "{db}", code=66, err=("no live token",)),
    ],
    # Running the server is test_serve_answers_http (a real process); in-process, its checks:
    "serve": [
        s(
            "serve",
            "--source-url",
            "https://x.example/{{nope}}",
            "--db",
            "{db}",
            code=64,
            err=("bad source URL template: 'nope'",),
        ),
        s(
            "serve",
            "--trusted-proxy",
            "proxy.example",
            "--db",
            "{db}",
            code=64,
            err=("trusted proxy 'proxy.example' is not an IP address or network",),
        ),
        s("serve", "--max-body", "10", "--db", "{db}", code=64, err=("--max-body",)),
    ],
    "simulate": [
        s("simulate", "--out", "{tmp}/sim", "--events", "400", "--weeks", "2", out=("simulated train in",)),
        s("simulate", "--out", "{tmp}/sim2", "--start", "Tuesday", code=64, err=("is not a date",)),
        s("simulate", "--out", "{tmp}/sim3", "--weeks", "1", code=64, err=("1 is not in the range x>=2",)),
    ],
    # --- communication ----------------------------------------------------------------------------
    "task": [
        s("task", "{new}", "--no-search", "--db", "{db}", out=("title: ", "==== Error ====")),
        s(
            "task",
            "{new}",
            "--no-search",
            "--format",
            "json",
            "--db",
            "{db}",
            doc=lambda d: d["draft"]["signature"],
        ),
    ],
    "tasks blockers": [
        s(
            "tasks",
            "blockers",
            W27,
            "--db",
            "{db}",
            out=("no view of the blocker task of 1.36.0-wmf.27 yet",),
        ),
        s("tasks", "blockers", W27, "--db", "{db}", "--json", doc=lambda d: d is None),
    ],
    "tasks refresh": [
        s("tasks", "refresh", "--phabricator", "{phab}", "--db", "{db}", out=("refreshed 0 task(s)",))
    ],
    "agenda": [
        s("agenda", W27, "--at", AT, "--db", "{db}", out=("Train log triage: 1.36.0-wmf.27", "1 to decide")),
        s("agenda", W27, "--at", AT, "--db", "{db}", "--json", doc=lambda d: d["to_decide"] == 1),
    ],
    "summary": [
        s("summary", W27, "--at", AT, "--db", "{db}", out=("Summary of 1.36.0-wmf.27 train deployment",)),
        s("summary", W27, "--at", AT, "--db", "{db}", "--json", doc=lambda d: d["train"]["version"] == W27),
    ],
    "backlog": [
        s("backlog", "--at", AT, "--db", "{db}", out=("open errors: ",)),
        s("backlog", "--at", AT, "--db", "{db}", "--json", doc=lambda d: d["total"] > 0),
    ],
    "cycle": [
        s("cycle", "--db", "{db}", out=("2 versions",)),
        s("cycle", "--db", "{db}", "--json", doc=lambda d: d["trains"] == [W27, W28]),
    ],
    "trends": [
        s("trends", "--db", "{db}", out=(W27, W28)),
        s(
            "trends",
            "--format",
            "json",
            "--db",
            "{db}",
            doc=lambda d: [r["version"] for r in d] == [W27, W28],
        ),
    ],
    "backports import": [
        s(
            "backports",
            "import",
            "{tmp}/git.log",
            "--version",
            W28,
            "--db",
            "{db}",
            out=("2 backport(s), 1 with a Bug: footer, 2 new",),
        ),
        s(
            "backports",
            "import",
            "{tmp}/git.log",
            "--version",
            W28,
            "--db",
            "{db}",
            "--json",
            doc=lambda d: d["new"] == 0,
        ),
    ],  # fmt: skip
    "notify check": [
        s("notify", "check", "{notify}", out=("1 channel(s), 1 subscription(s)",)),
        s("notify", "check", "{notify}", "--json", doc=lambda d: list(d["channels"]) == ["hook"]),
    ],
    "notify run": [
        s(
            "notify",
            "run",
            "--notify",
            "{notify}",
            "--at",
            AT,
            "--db",
            "{db}",
            out=("scanned 1.36.0-wmf.27 NO-GO",),
        ),
        s(
            "notify",
            "run",
            "--notify",
            "{notify}",
            "--at",
            AT,
            "--no-send",
            "--db",
            "{db}",
            "--json",
            doc=lambda d: d["scan"]["verdicts"] == {W27: "no-go"},
        ),
    ],  # fmt: skip
    "notify status": [
        s("notify", "status", "--db", "{db}", out=("outbox: ",)),
        s("notify", "status", "--db", "{db}", "--json", doc=lambda d: d["pending"] == [] and d["dead"] == []),
    ],
    "notify retry": [s("notify", "retry", "--db", "{db}", out=("0 notice(s) queued again",))],
    "notify test": [
        s("notify", "test", "hook", "--notify", "{notify}", out=("sent a test message to hook",))
    ],
}


def test_every_command_has_a_recipe() -> None:
    commands = dict(reference.commands())
    assert sorted(set(commands) - set(RECIPES)) == [], "commands without a recipe in RECIPES"
    assert sorted(set(RECIPES) - set(commands)) == [], "recipes for commands that do not exist"
    for path, command in commands.items():
        with_json = any(p.name == "as_json" for p in command.params)
        json_format = any(
            isinstance(p.type, click.Choice) and "json" in p.type.choices for p in command.params
        )
        steps = [" ".join(step.args) for step in RECIPES[path]]
        if with_json:
            assert any("--json" in step.split() and step.startswith(path) for step in steps), (
                f"{path}: no --json step"
            )
        if json_format:
            assert any("json" in step.split() and step.startswith(path) for step in steps), (
                f"{path}: no JSON step"
            )


@dataclass
class Places:
    values: dict[str, Any] = field(default_factory=dict)

    def fill(self, text: str) -> str:
        return text.format_map(self.values) if "{" in text else text


@pytest.fixture(scope="module")
def receivers() -> Iterator[tuple[str, str]]:
    """A webhook receiver and a Phabricator (Conduit) on 127.0.0.1."""
    with serve_http(WebhookReceiver()) as hook, serve_http(FakePhabricator(PHAB_TOKEN)) as phab:
        yield hook, phab


@pytest.fixture(scope="module")
def ids(sim_train: SimTrain, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The most frequent signature, and the unreviewed NEW one that makes wmf.27 NO-GO at AT."""
    db = sim_train.copy(tmp_path_factory.mktemp("ids"))
    top = json.loads(cli("signatures", "--limit", "1", "--db", db, "--json").stdout)[0]["signature"]
    status = json.loads(cli("train", "status", W27, "--at", AT, "--db", db, "--json").stdout)
    return {"sig": top, "sig8": top[:8], "new": status["new"][0]["signature"]}


SLOW = {"simulate"}  # the simulator's set-up alone takes a second


@pytest.mark.parametrize(
    "path", [pytest.param(p, marks=pytest.mark.slow) if p in SLOW else p for p in sorted(RECIPES)]
)
def test_command(
    path: str,
    sim_train: SimTrain,
    train_db: str,
    tmp_path: Path,
    receivers: tuple[str, str],
    ids: dict[str, str],
) -> None:
    hook, phab = receivers
    from tests.test_report_pure import GIT_LOG

    (tmp_path / "git.log").write_text(GIT_LOG)
    notify = tmp_path / "notify.toml"
    notify.write_text(
        f'[channels.hook]\ntype = "webhook"\nurl = "{hook}/x"\n[[subscriptions]]\nteam = "*"\nchannel = "hook"\n'
    )
    places = Places(
        {
            **ids,
            "db": train_db,
            "tmp": str(tmp_path),
            "sim": str(sim_train.sim),
            "log": str(sorted((sim_train.sim / "logs").glob("*.log"))[0]),
            "owners": str(OWNERS),
            "notify": str(notify),
            "phab": phab,
        }
    )
    env = {"TRAINTRIAGE_PHABRICATOR_TOKEN": PHAB_TOKEN, "TRAINTRIAGE_OWNERS": "", "TRAINTRIAGE_CONFIG": ""}
    for step in RECIPES[path]:
        args = [places.fill(a) for a in step.args]
        result = cli(*args, input=step.input, env=env)
        shown = f"$ traintriage {' '.join(args)}\n{result.output}"
        assert result.exit_code == step.code, shown
        for text in step.out:
            assert places.fill(text) in result.stdout, shown
        for text in step.err:
            assert places.fill(text) in result.stderr, shown
        if step.doc is not None or step.save:
            doc = json.loads(result.stdout)
            assert step.doc is None or step.doc(doc), shown
            if step.save:
                places.values[step.save] = doc


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_serve_answers_http_and_stops_on_ctrl_c(train_db: str) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "traintriage", "serve", "--db", train_db, "--port", str(port), "--at", AT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline, body = time.monotonic() + 60, ""
        while time.monotonic() < deadline and not body:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/openapi.json", timeout=2) as r:
                    body = r.read().decode()
            except OSError:
                time.sleep(0.2)
        assert '"openapi"' in body
    finally:
        proc.send_signal(2)  # SIGINT: uvicorn shuts down cleanly
        _out, err = proc.communicate(timeout=30)
    assert f"traintriage web on http://127.0.0.1:{port}/" in err
    assert "no users yet: create one with `traintriage user add" in err
