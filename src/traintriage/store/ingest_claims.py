"""Compare-and-set of read positions and template-miner states: concurrent ingests of one store.

Two processes reading the same file would both start at the same committed position and
both count every line; two processes mining new templates in the same scope would each
save their own miner and split one template into two signatures for good (issue 8).
Every ingest commit therefore first claims, inside its transaction:

* each source's position: the row must still be the position this batch continued from
  (or still absent), else someone else committed lines of it meanwhile;
* each changed miner scope: its `generation` must still be the one the miner was loaded
  at (or the scope still absent); the write bumps it.

A failed claim raises `Conflict`; the transaction rolls back, nothing of the batch is
kept, and the ingester reloads the miners and re-reads from the committed positions.
Claims come first, in key order (sources, then scopes), so PostgreSQL writers lock rows
in one global order and cannot deadlock; SQLite's `BEGIN IMMEDIATE` serialises them.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from traintriage.core.errors import Conflict
from traintriage.ingest.batch import Batch

if TYPE_CHECKING:
    from traintriage.store.db import Store


def claim_batch(store: Store, cur: Any, batch: Batch) -> None:
    """Write the claimed checkpoints and miner states of `batch`, or raise Conflict."""
    now = time.time()
    for source in sorted(batch.checkpoint_base):
        cp = batch.checkpoints.get(source)
        if cp is None:
            continue
        base = batch.checkpoint_base[source]
        values = (cp.identity, cp.offset, cp.line, cp.events, cp.rejected, now)
        if base is None:
            cur.execute(
                store.sql(
                    "INSERT INTO sources (source, identity, read_offset, line, events, rejected, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source) DO NOTHING"
                ),
                (source, *values),
            )
        else:
            cur.execute(
                store.sql(
                    "UPDATE sources SET identity = ?, read_offset = ?, line = ?, events = ?, rejected = ?, "
                    "updated_at = ? WHERE source = ? AND identity = ? AND read_offset = ? AND line = ?"
                ),
                (*values, source, *base),
            )
        if cur.rowcount != 1:
            raise Conflict(f"{source}: another ingest committed lines of this source meanwhile")
    for scope in sorted(batch.miner_base):
        state = batch.miner_states.get(scope)
        if state is None:
            continue
        generation = batch.miner_base[scope]
        if generation is None:
            cur.execute(
                store.sql(
                    "INSERT INTO miner_state (scope, state, generation) VALUES (?, ?, 1) "
                    "ON CONFLICT (scope) DO NOTHING"
                ),
                (scope, state),
            )
        else:
            cur.execute(
                store.sql(
                    "UPDATE miner_state SET state = ?, generation = generation + 1 "
                    "WHERE scope = ? AND generation = ?"
                ),
                (state, scope, generation),
            )
        if cur.rowcount != 1:
            raise Conflict(f"template scope {scope}: another ingest changed its templates meanwhile")


def load_miner_states(store: Store) -> tuple[dict[str, str], dict[str, int], dict[tuple[str, int], str]]:
    """(state JSON, generation) per scope, then the (scope, cluster) -> signature map.

    States are read first: the map read after them is at least as new, and any cluster
    it holds beyond a loaded state came with a generation bump that fails the claim.
    """
    states: dict[str, str] = {}
    generations: dict[str, int] = {}
    for scope, state, generation in store.query("SELECT scope, state, generation FROM miner_state"):
        states[str(scope)] = str(state)
        generations[str(scope)] = int(generation)
    ids = {
        (str(s), int(c)): str(sig)
        for s, c, sig in store.query("SELECT scope, cluster, signature FROM templates")
    }
    return states, generations, ids
