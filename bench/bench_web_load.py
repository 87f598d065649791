"""The web app under load (issue 8): N clients for S seconds against a real `traintriage serve`
on 127.0.0.1, half posting reviews through the API, half reading the train page, on a store
with 10,000 reviews. Not a test (tests/test_web_load.py runs a small, bounded version of it).

Printed, all measured in this run:
* the floor: the same clients fetching a static file (the HTTP stack without the app's work);
* one client reading /train before the reviews were added and after (what review history costs);
* the mixed load: requests per second, p50/p95/p99 latency per kind, errors (any exception or
  status other than 201 for a review and 200 for a page), and that every 201 is a stored review.

Usage: python bench/bench_web_load.py [--clients 20] [--seconds 30] [--reviews 10000] [--events 20000]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from traintriage.core.timeparse import iso
from traintriage.services.train import load_train
from traintriage.store import accounts
from traintriage.store.db import Store
from traintriage.store.reviews import writing_triage
from traintriage.web import security
from traintriage_sim import simulate
from traintriage_sim.scoring import load_simulation

PASSWORD = "load test passphrase"
VERDICTS = ("needs-info", "not-blocker", "expected", "blocker")


@dataclass
class Setup:
    db: str
    at: float
    version: str
    signatures: list[str]
    token: str


def build_store(directory: Path, *, events: int, db: str | None = None) -> Setup:
    """A simulated two-week train, a developer `load` with a review token."""
    sim = directory / "sim"
    simulate(sim, events=events, weeks=2, seed=3)
    url = db or str(directory / "load.db")
    with Store(url) as store:
        load_simulation(store, sim)
        timeline = load_train(store).timeline
        version = timeline.versions()[0]
        last = max(p.at.timestamp() for p in timeline.promotions(version))
        sigs = [str(r[0]) for r in store.query("SELECT id FROM signatures ORDER BY events DESC")]
        accounts.create_user(store, "load", "developer", security.hash_password(PASSWORD))
        token, token_id, prefix, digest = security.new_token()
        accounts.create_token(
            store,
            token_id=token_id,
            user="load",
            digest=digest,
            prefix=prefix,
            scopes=("read", "review"),
            label="load",
        )
    return Setup(url, last + 3600, version, sigs, token)


def add_reviews(setup: Setup, count: int, seed: int = 5) -> float:
    """`count` reviews spread over the signatures and the week before `at`, written as the product
    writes them (validated, with audit entries), 500 per transaction. Returns seconds taken."""
    rng = random.Random(seed)
    began = time.perf_counter()
    done = 0
    with Store(setup.db) as store:
        while done < count:
            chunk = min(500, count - done)
            at = setup.at - 7 * 86400 + 7 * 86400 * done / max(1, count)
            with writing_triage(store, "seed-reviewer", at) as w:
                for i in range(chunk):
                    sig = setup.signatures[rng.randrange(min(len(setup.signatures), 400))]
                    w.review(sig, rng.choice(VERDICTS[:3]), note=f"seeded review {done + i}")
            done += chunk
    return time.perf_counter() - began


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`traintriage serve` in its own process (the clients' threads do not share its GIL)."""

    def __init__(self, db: str, at: float) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="serve-", suffix=".log", delete=False)  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "traintriage", "serve", "--db", db, "--port", str(self.port)]
            + ["--at", iso(at), "--refresh", "0"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TRAINTRIAGE_OWNERS": ""},
        )
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(Path(self.log.name).read_text())
            try:
                if httpx.get(self.base + "/login", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("traintriage serve did not start")
            time.sleep(0.1)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def login(base: str) -> httpx.Cookies:
    with httpx.Client(base_url=base, timeout=30) as c:
        page = c.get("/login").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert csrf
        r = c.post(
            "/login",
            data={"name": "load", "password": PASSWORD, "csrf_token": csrf.group(1), "next": "/train"},
        )
        assert r.status_code == 303, r.text
        return c.cookies


@dataclass
class Result:
    seconds: float
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)

    def add(self, kind: str, latency: float, ok: bool, what: str) -> None:
        self.latencies.setdefault(kind, []).append(latency)
        if not ok:
            self.errors[kind] = self.errors.get(kind, 0) + 1
            if len(self.samples) < 5:
                self.samples.append(f"{kind}: {what}")

    def count(self, kind: str) -> int:
        return len(self.latencies.get(kind, []))

    def rate(self, kind: str) -> float:
        return self.count(kind) / self.seconds

    def pct(self, kind: str, q: float) -> float:
        values = sorted(self.latencies.get(kind, [0.0]))
        return values[min(len(values) - 1, int(q * len(values)))] * 1000

    @property
    def total_errors(self) -> int:
        return sum(self.errors.values())


def run_load(
    base: str, setup: Setup, *, clients: int, seconds: float, kinds: tuple[str, ...] = ("review", "train")
) -> Result:
    """`clients` threads, each doing one kind of request in a loop (kinds alternate by client)."""
    cookies = login(base) if "train" in kinds else httpx.Cookies()
    result = Result(seconds)
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    flagged = setup.signatures[:200]

    def client(n: int) -> None:
        kind = kinds[n % len(kinds)]
        rng = random.Random(n)
        headers = {"authorization": f"Bearer {setup.token}"} if kind == "review" else {}
        with httpx.Client(base_url=base, timeout=60, headers=headers, cookies=cookies) as c:
            i = 0
            while time.monotonic() < stop:
                began = time.perf_counter()
                try:
                    if kind == "review":
                        body = {"verdict": rng.choice(VERDICTS[:3]), "note": f"load client {n} #{i}"}
                        r = c.post(f"/api/v1/signatures/{rng.choice(flagged)}/reviews", json=body)
                        ok, what = r.status_code == 201, f"{r.status_code} {r.text[:120]}"
                    elif kind == "train":
                        r = c.get(f"/train?version={setup.version}")
                        ok, what = r.status_code == 200 and "<html" in r.text, f"{r.status_code}"
                    else:
                        r = c.get("/static/app.css")
                        ok, what = r.status_code == 200, f"{r.status_code}"
                except httpx.HTTPError as err:
                    ok, what = False, repr(err)
                with lock:
                    result.add(kind, time.perf_counter() - began, ok, what)
                i += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return result


def single(base: str, setup: Setup, n: int = 15) -> float:
    """Median ms of one client reading /train (after one warm-up)."""
    cookies = login(base)
    with httpx.Client(base_url=base, timeout=60, cookies=cookies) as c:
        c.get(f"/train?version={setup.version}")
        times = []
        for _ in range(n):
            began = time.perf_counter()
            assert c.get(f"/train?version={setup.version}").status_code == 200
            times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def stored_reviews(db: str) -> int:
    with Store(db) as store:
        return int(store.query("SELECT COUNT(*) FROM reviews")[0][0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--reviews", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--db", help="a PostgreSQL URL of an empty database (default: a SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        began = time.perf_counter()
        setup = build_store(Path(tmp), events=args.events, db=args.db)
        print(
            f"store: {len(setup.signatures):,} signatures, train {setup.version} at {iso(setup.at)} "
            f"({time.perf_counter() - began:.1f} s)"
        )
        with Server(setup.db, setup.at) as server:
            bare = single(server.base, setup)
        took = add_reviews(setup, args.reviews)
        print(f"{args.reviews:,} reviews added in {took:.1f} s")
        before = stored_reviews(setup.db)
        with Server(setup.db, setup.at) as server:
            loaded = single(server.base, setup)
            floor = run_load(
                server.base, setup, clients=args.clients, seconds=min(10, args.seconds), kinds=("static",)
            )
            mixed = run_load(server.base, setup, clients=args.clients, seconds=args.seconds)
        stored = stored_reviews(setup.db) - before
    print()
    print(
        f"one client, GET /train: {bare:.0f} ms with no reviews, {loaded:.0f} ms with {args.reviews:,} "
        f"({loaded / bare:.2f}x)"
    )
    print()
    print(f"{args.clients} clients, {args.seconds:g} s, 127.0.0.1, serve in its own process:")
    print("| requests | count | per second | p50 ms | p95 ms | p99 ms | errors | ÷ floor (per s) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    rows = [("floor: GET /static/app.css", floor, "static")]
    rows += [("POST /api/v1/signatures/{id}/reviews", mixed, "review"), ("GET /train", mixed, "train")]
    for label, res, kind in rows:
        print(
            f"| {label} | {res.count(kind):,} | {res.rate(kind):.1f} | {res.pct(kind, 0.5):.0f} | "
            f"{res.pct(kind, 0.95):.0f} | {res.pct(kind, 0.99):.0f} | {res.errors.get(kind, 0)} | "
            f"{res.rate(kind) / floor.rate('static'):.3f} |"
        )
    print()
    print(
        f"reviews answered 201: {mixed.count('review') - mixed.errors.get('review', 0):,}; new rows stored: {stored:,}"
    )
    for sample in floor.samples + mixed.samples:
        print("error:", sample)
    return 1 if mixed.total_errors or floor.total_errors else 0


if __name__ == "__main__":
    sys.exit(main())
