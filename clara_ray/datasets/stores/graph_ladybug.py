"""Embedded graph store: ladybug (maintained Kùzu fork) in a local folder; one connection, serialised by a lock."""

from __future__ import annotations

import threading
from pathlib import Path

from clara_ray.datasets.stores.graph_cypher import CypherGraphStore
from clara_ray.datasets.stores.graph_postings import EntityPostings

SCHEMA = [
    "CREATE NODE TABLE IF NOT EXISTS Document(id STRING PRIMARY KEY, title STRING, document_type STRING, "
    "domain STRING, date_int INT64, quality_score DOUBLE)",
    "CREATE NODE TABLE IF NOT EXISTS Entity(key STRING PRIMARY KEY, name STRING, kind STRING)",
    "CREATE REL TABLE IF NOT EXISTS MENTIONS(FROM Document TO Entity, count INT64, tf DOUBLE)",
    "CREATE REL TABLE IF NOT EXISTS PART_OF(FROM Entity TO Entity)",
    "CREATE REL TABLE IF NOT EXISTS CO_OCCURS(FROM Entity TO Entity, weight INT64)",
]


class LadybugGraphStore(CypherGraphStore):
    def __init__(self, path: str | Path):
        import ladybug

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = ladybug.Database(str(path))
        self.conn = ladybug.Connection(self.db)
        # Search queries are small: one thread each leaves the other cores to the embedding and keyword search.
        self.conn.set_max_threads_for_exec(1)
        self._lock = threading.RLock()
        for stmt in SCHEMA:
            self.conn.execute(stmt)
        self.postings = EntityPostings(self._posting_rows)  # this process alone opens the database: see that module

    def _run(self, query: str, params: dict | None = None) -> list[list]:
        with self._lock:
            res = self.conn.execute(query, params or {})
            return res.get_all()

    def close(self) -> None:
        with self._lock:
            self.conn.close()
            self.db.close()
