"""Start a throwaway PostgreSQL cluster on 127.0.0.1 (used by the tests and the benchmarks).

Debian's binaries refuse to run as root, so when we are root they run as the
`postgres` user via runuser, in a temp dir chowned to it (style.md §4).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


class PgUnavailable(RuntimeError):
    """No PostgreSQL binaries, or the cluster would not start."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_bindir() -> str | None:
    if os.environ.get("PG_BINDIR"):
        return os.environ["PG_BINDIR"]
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if found:
        return os.path.dirname(found[-1])
    which = shutil.which("pg_ctl")
    return os.path.dirname(which) if which else None


@contextmanager
def pg_cluster() -> Iterator[str]:
    """Yield the DSN of a fresh cluster (database `postgres`); stop and delete it afterwards."""
    bindir = pg_bindir()
    if not bindir:
        raise PgUnavailable("PostgreSQL binaries not found (apt-get install postgresql)")
    root = tempfile.mkdtemp(prefix="traintriage-pg-")
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = os.path.join(root, "data"), free_port()
    try:
        subprocess.run(
            prefix
            + [
                f"{bindir}/initdb",
                "-D",
                data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )
        opts = (
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        subprocess.run(
            prefix
            + [
                f"{bindir}/pg_ctl",
                "-D",
                data,
                "-l",
                f"{root}/server.log",
                "-w",
                "-t",
                "30",
                "-o",
                opts,
                "start",
            ],
            check=True,
            capture_output=True,
        )
    except subprocess.CalledProcessError as err:
        shutil.rmtree(root, ignore_errors=True)
        raise PgUnavailable(
            f"could not start PostgreSQL: {err.stderr.decode(errors='replace')[-500:]}"
        ) from None
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            prefix + [f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)
