"""Issue 8, "proving it": concurrent review POSTs and train-page GETs against a real `traintriage
serve` on 127.0.0.1 answer without a single error, and every review answered 201 is stored.
A bounded run of bench/bench_web_load.py (8 clients, 6 seconds, 1,000 stored reviews); the
full run (20 clients, 30 s, 10,000 reviews) is the benchmark, with its figures in the README."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_web_load.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_web_load", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_web_load"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_reviews_and_train_pages_under_concurrent_load_have_no_errors(tmp_path: Path) -> None:
    bench = _bench()
    setup = bench.build_store(tmp_path, events=4000)
    bench.add_reviews(setup, 1000)
    before = bench.stored_reviews(setup.db)
    with bench.Server(setup.db, setup.at) as server:
        result = bench.run_load(server.base, setup, clients=8, seconds=6)
    assert result.total_errors == 0, result.samples
    assert result.count("review") >= 8 and result.count("train") >= 4
    assert bench.stored_reviews(setup.db) - before == result.count("review")  # every 201 is stored
