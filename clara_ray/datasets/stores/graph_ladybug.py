"""Embedded graph store: ladybug (maintained Kùzu fork) in a local folder; one connection, serialised by a lock."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa

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
    """`postings=False` makes a database-only store (aggregate queries, CO_OCCURS edges written), to compare with in
    tests and benchmarks; a database written with postings holds no CO_OCCURS edges for it."""

    def __init__(self, path: str | Path, postings: bool = True):
        import ladybug

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = ladybug.Database(str(path))
        self.conn = ladybug.Connection(self.db)
        # Search queries are small: one thread each leaves the other cores to the embedding and keyword search.
        self.conn.set_max_threads_for_exec(1)
        self._lock = threading.RLock()
        for stmt in SCHEMA:
            self.conn.execute(stmt)
        # This process alone opens the database, so every write passes the postings: see that module.
        self.postings = EntityPostings(self._posting_rows) if postings else None

    # MENTIONS edges by COPY ... FROM an Arrow table: it finds both ends by primary key in bulk, where UNWIND ...
    # MATCH (d), (e) ... CREATE costs time per edge that grows with the tables (bench/bench_graph_writes.py).
    # COPY fails whole if an end is missing; upsert_documents has merged every end before.
    def _create_mentions(self, mentions: list[dict]) -> None:
        self._run("COPY MENTIONS FROM $t", {"t": pa.table({
            "from": [m["doc"] for m in mentions], "to": [m["key"] for m in mentions],
            "count": pa.array([m["count"] for m in mentions], pa.int64()),
            "tf": pa.array([m["tf"] for m in mentions], pa.float64())})})

    def _run(self, query: str, params: dict | None = None) -> list[list]:
        with self._lock:
            res = self.conn.execute(query, params or {})
            return res.get_all()

    def close(self) -> None:
        with self._lock:
            self.conn.close()
            self.db.close()
