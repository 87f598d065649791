"""Protocol clients (remote/) against real local servers: Conduit, webhooks, SMTP on 127.0.0.1."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from traintriage.remote import http, smtp
from traintriage.remote.conduit import ConduitClient, ConduitError
from traintriage_sim.receivers import (
    FakePhabricator,
    SmtpReceiver,
    WebhookReceiver,
    serve_http,
    serve_smtp,
)

pytestmark = pytest.mark.slow

TOKEN = "api-test-token"


@pytest.fixture
def phab() -> Iterator[tuple[FakePhabricator, ConduitClient]]:
    fake = FakePhabricator(TOKEN, projects=("notifications",))
    with serve_http(fake) as url:
        yield fake, ConduitClient(url, TOKEN, timeout=5)


def test_find_blocker_task_and_its_subtasks(phab: tuple[FakePhabricator, ConduitClient]) -> None:
    fake, client = phab
    fake.add_task("1.36.0-wmf.27 deployment blockers", subtype="release")
    blocker = fake.add_task("1.36.0-wmf.28 deployment blockers", subtype="release")
    fake.add_task("Echo fatal", parent=blocker)
    fake.add_task("Fixed already", parent=blocker, status="resolved")
    found = client.find_blocker_task("1.36.0-wmf.28")
    assert found is not None and found.id == f"T{blocker}" and found.open
    assert found.url == f"{client.base}/T{blocker}"
    subs = {t.title: t for t in client.subtasks(found.id)}
    assert subs["Echo fatal"].open and not subs["Fixed already"].open
    assert subs["Fixed already"].closed_at is not None
    assert client.find_blocker_task("1.36.0-wmf.99") is None
    method, params = fake.calls[0]
    assert method == "maniphest.search" and params["constraints"]["query"].startswith('"1.36.0-wmf.28"')


def test_blocker_task_found_by_release_version_field(phab: tuple[FakePhabricator, ConduitClient]) -> None:
    fake, client = phab
    n = fake.add_task(
        "Train blockers for 1.36.0-wmf.30 deployment (blockers)",
        **{"custom.release.version": "1.36.0-wmf.30"},
    )
    found = client.find_blocker_task("1.36.0-wmf.30")
    assert found is not None and found.id == f"T{n}"


def test_search_pages_through_the_cursor(phab: tuple[FakePhabricator, ConduitClient]) -> None:
    fake, client = phab
    parent = fake.add_task("x deployment blockers")
    for i in range(250):
        fake.add_task(f"sub {i}", parent=parent)
    assert len(client.subtasks(f"T{parent}")) == 250
    assert sum(1 for m, _ in fake.calls if m == "maniphest.search") == 3


def test_create_task_as_subtask_with_projects(phab: tuple[FakePhabricator, ConduitClient]) -> None:
    fake, client = phab
    parent = fake.add_task("1.36.0-wmf.28 deployment blockers")
    filed = client.create_task(
        "Error: boom",
        "==== Error ====\n* mwversion: `1.36.0-wmf.28`",
        projects=["wikimedia-production-error", "Notifications", "no-such-project"],
        parent=f"T{parent}",
        fields={"custom.error.url": "https://example.org/w/index.php?title=*"},
    )
    task = fake.tasks[int(filed.id[1:])]
    assert task.title == "Error: boom" and task.subtype == "error" and task.parents == [parent]
    assert sorted(fake.projects[p] for p in task.projects) == ["notifications", "wikimedia-production-error"]
    assert task.fields["custom.error.url"].endswith("title=*")
    assert filed.url == f"{client.base}/{filed.id}"
    assert [t.id for t in client.subtasks(f"T{parent}")] == [filed.id]


def test_search_open_finds_open_tasks_only(phab: tuple[FakePhabricator, ConduitClient]) -> None:
    fake, client = phab
    fake.add_task("Error: Call to a member function getId() on null")
    fake.add_task("Error: Call to a member function getId() on null (old)", status="resolved")
    found = client.search_open('"Call" "member" "getId()"')
    assert [t.title for t in found] == ["Error: Call to a member function getId() on null"]


def test_conduit_errors_are_reported_not_swallowed(phab: tuple[FakePhabricator, ConduitClient]) -> None:
    fake, client = phab
    bad = ConduitClient(client.base, "wrong-token")
    with pytest.raises(ConduitError, match="ERR-INVALID-AUTH") as err:
        bad.find_blocker_task("1.36.0-wmf.28")
    assert not err.value.retryable
    fake.fail_next.append((503, "maintenance"))
    with pytest.raises(http.DeliveryError, match="HTTP 503") as err2:
        client.subtasks("T1")
    assert err2.value.retryable
    with pytest.raises(ConduitError, match="parent task T999 not found"):
        client.create_task("t", "d", parent="T999")


def test_unreachable_server_is_a_retryable_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(http.DeliveryError) as err:
        ConduitClient(f"http://127.0.0.1:{port}", TOKEN, timeout=2).subtasks("T1")
    assert err.value.retryable
    with pytest.raises(ValueError):
        ConduitClient("file:///etc/passwd", TOKEN)


def test_php_style_form_fields_are_understood_by_the_fake() -> None:
    """The fake accepts the curl form of the Conduit docs too (api.token, constraints[ids][0])."""
    fake = FakePhabricator(TOKEN)
    n = fake.add_task("hello")
    with serve_http(fake) as url:
        body = f"api.token={TOKEN}&constraints[ids][0]={n}".encode()
        resp = http.request(
            "POST", f"{url}/api/maniphest.search", body, {"Content-Type": "application/x-www-form-urlencoded"}
        )
    assert [d["id"] for d in resp.json()["result"]["data"]] == [n]


def test_webhook_post_is_signed_and_redirects_are_refused() -> None:
    hook = WebhookReceiver()
    with serve_http(hook) as url:
        http.post_json(f"{url}/hook", {"a": 1}, secret="s3cret")
        hook.responses.append((302, {}))
        with pytest.raises(http.DeliveryError, match="redirect") as err:
            http.post_json(f"{url}/hook", {"a": 2})
        hook.responses.append((429, {"slow": "down"}))
        with pytest.raises(http.DeliveryError) as err429:
            http.post_json(f"{url}/hook", {"a": 3})
        hook.responses.append((400, {"bad": "request"}))
        with pytest.raises(http.DeliveryError) as err400:
            http.post_json(f"{url}/hook", {"a": 4})
    first = hook.received[0]
    assert first.json() == {"a": 1}
    assert first.headers["x-traintriage-signature"] == http.signature("s3cret", first.body)
    assert not err.value.retryable and err429.value.retryable and not err400.value.retryable
    assert json.loads(hook.received[3].body) == {"a": 4}


def test_smtp_delivery_and_temporary_failure() -> None:
    box = SmtpReceiver()
    box.temporary_failures = 1
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = (
        "tt@example.org",
        "growth@example.org",
        "Summary of 1.36.0-wmf.28",
    )
    msg.set_content("Conductor: Ahmon Dancy\n.leading dot line\n")
    with serve_smtp(box) as (host, port):
        server = smtp.SmtpServer(host, port, timeout=5)
        with pytest.raises(http.DeliveryError, match="451") as err:
            smtp.send(server, msg)
        assert err.value.retryable
        smtp.send(server, msg)
    assert len(box.mails) == 1
    got = box.mails[0].message()
    assert got["Subject"] == "Summary of 1.36.0-wmf.28" and box.mails[0].rcpt_to == ["growth@example.org"]
    assert ".leading dot line" in got.get_content()
