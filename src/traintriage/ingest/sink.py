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
    def load_templates(self) -> tuple[dict[str, str], dict[tuple[str, int], str]]:
        """(miner state JSON per scope, signature id per (scope, cluster id)) saved so far."""
        ...

    def load_checkpoint(self, source: str) -> Checkpoint | None:
        """The committed read position of one source, if any."""
        ...

    def apply_batch(self, batch: Batch) -> None:
        """Write counts, samples, templates, miner states and checkpoints in one transaction."""
        ...

    def grouping_algorithms(self) -> set[str]:
        """The grouping algorithms of the stored signatures (empty for a new store)."""
        ...

    def existing_signatures(self, ids: Sequence[str]) -> set[str]:
        """Which of `ids` are already stored (to report new signatures)."""
        ...
