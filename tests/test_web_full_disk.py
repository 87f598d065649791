"""Issue 8, full disk: token-authenticated reads keep answering, writes answer 507 with a clear
message. The disk is really full: `traintriage serve` runs on a store in a 16 MiB tmpfs mounted
in a private mount namespace (`unshare -rm`, as tests/test_hostile_store.py does), which the
test then fills; the server listens on 127.0.0.1 as usual."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.web_client import add_users
from tests.web_helpers import NEW, build_train
from traintriage.core.timeparse import iso


def _can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-rm", "true"], capture_output=True, check=False).returncode == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(predicate: object, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.skipif(not _can_unshare(), reason="needs user and mount namespaces (unshare -rm)")
def test_full_disk_reads_with_tokens_answer_and_writes_say_507(tmp_path: Path) -> None:
    """Bug: every token-authenticated request, the gate's GET included, answered 500 on a full
    disk, because token auth wrote `last_used` each time. Now reads answer as usual (the write is
    rate-limited and its failure ignored) and a write is 507 saying the disk is full."""
    train = build_train(tmp_path / "train")
    tokens = add_users(train.db)
    mnt, go, filled = tmp_path / "mnt", tmp_path / "go", tmp_path / "filled"
    mnt.mkdir()
    port = _free_port()
    log = tmp_path / "serve.log"
    script = f"""
        mount -t tmpfs -o size=16m tmpfs {mnt} || exit 99
        cp {train.db} {mnt}/t.db
        {sys.executable} -m traintriage serve --db {mnt}/t.db --port {port} --at {iso(train.at)} \\
            --owners {train.owners} > {log} 2>&1 &
        while [ ! -e {go} ]; do sleep 0.1; done
        dd if=/dev/zero of={mnt}/filler bs=64k > /dev/null 2>&1
        touch {filled}
        wait
    """
    proc = subprocess.Popen(["unshare", "-rm", "sh", "-c", script], start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            assert proc.poll() is None, log.read_text() if log.exists() else "unshare failed"
            try:
                return httpx.get(base + "/api/v1/openapi.json", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        _wait(up, "traintriage serve did not start")
        auth = {"authorization": f"Bearer {tokens['vera']}"}
        assert httpx.get(base + "/api/v1/me", headers=auth).status_code == 200  # last_used written now
        go.touch()
        _wait(filled.exists, "the tmpfs was not filled")

        for name in ("vera", "dora"):  # vera's touch is not due; dora's is, and fails quietly
            headers = {"authorization": f"Bearer {tokens[name]}"}
            gate = httpx.get(f"{base}/api/v1/gate?version={NEW}&stage=group1", headers=headers, timeout=30)
            assert gate.status_code in (200, 409, 503), gate.text
            assert gate.json()["verdict"] in ("go", "no-go", "hold", "rollback", "inconclusive")
        review = httpx.post(
            f"{base}/api/v1/signatures/{train.new_sig}/reviews",
            json={"verdict": "needs-info", "note": "n" * 3000},
            headers={"authorization": f"Bearer {tokens['dev']}"},
            timeout=30,
        )
        assert review.status_code == 507, review.text
        assert "the disk is full" in review.json()["detail"]
        assert "nothing of this write was stored" in review.json()["detail"]
        assert "Traceback" not in log.read_text()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
