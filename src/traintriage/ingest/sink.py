"""Where ingest writes: a small protocol, so ingest never imports the store.

The store (store/db.py `Store`) satisfies it; so could a test double or a remote
writer. Modelled on Drain3's `PersistenceHandler`: load state at start, save it with
each batch. Counts, template-miner state and read positions go in one `apply_batch`
call, which must commit them together (that is what makes ingest exactly-once).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from traintriage.ingest.batch import Batch, Checkpoint


class BatchSink(Protocol):
    def load_miners(self) -> tuple[dict[str, str], dict[str, int], dict[tuple[str, int], str]]:
        """Saved so far: miner state JSON per scope, its generation (compare-and-set by
        `apply_batch`), and the signature id per (scope, cluster id)."""
        ...

    def load_checkpoint(self, source: str) -> Checkpoint | None:
        """The committed read position of one source, if any."""
        ...

    def apply_batch(self, batch: Batch) -> None:
        """Write counts, samples, templates, miner states and checkpoints in one transaction.

        Raises `core.errors.Conflict`, writing nothing, when a checkpoint or miner state
        with a base in `batch.checkpoint_base`/`miner_base` no longer has that base.
        """
        ...

    def grouping_algorithms(self) -> set[str]:
        """The grouping algorithms of the stored signatures (empty for a new store)."""
        ...

    def existing_signatures(self, ids: Sequence[str]) -> set[str]:
        """Which of `ids` are already stored (to report new signatures)."""
        ...
