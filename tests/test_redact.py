"""Personal data never reaches stored samples."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import mw_line
from traintriage.ingest.pipeline import ingest
from traintriage.ingest.redact import redact_query, redact_text, redact_trace, redact_url
from traintriage.store.db import Store
from traintriage.store.reads import signature_detail, top_signatures


def test_query_values_redacted_except_action() -> None:
    assert (
        redact_query("/w/index.php?title=Secret&action=edit&target=127.0.0.1")
        == "/w/index.php?title=*&action=edit&target=*"
    )
    assert redact_query("/wiki/Main_Page") == "/wiki/Main_Page"


def test_ips_emails_users() -> None:
    text = "login from 10.64.32.229 and 2001:db8::1 by jane@example.org on User:JaneDoe/sandbox"
    out = redact_text(text)
    assert "10.64" not in out and "2001:db8" not in out and "jane@" not in out and "JaneDoe" not in out
    assert "<ip>" in out and "<email>" in out and "User:<user>" in out
    assert redact_url("/wiki/User%3AJaneDoe?x=1").count("JaneDoe") == 0


def test_trace_with_quoted_args_is_replaced() -> None:
    trace = "#0 /srv/a.php(1): Foo->bar(string)\n#1 /srv/b.php(2): login('hunter2')"
    assert redact_trace(trace).splitlines() == ["#0 /srv/a.php(1): Foo->bar(string)", "(REDACTED)"]


def test_stored_samples_are_redacted(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text(
        mw_line(
            url="/w/index.php?title=Special:Contributions/198.51.100.7&target=198.51.100.7&action=history",
            message="Failed for user 198.51.100.7",
        )
        + "\n"
    )
    with Store(str(tmp_path / "t.db")) as store:
        ingest(store, [str(log)])
        detail = signature_detail(store, top_signatures(store)[0].id)
    sample = detail.samples[0]
    blob = repr(sample)
    assert "198.51.100.7" not in blob
    assert sample["url"].endswith("&target=*&action=history")
