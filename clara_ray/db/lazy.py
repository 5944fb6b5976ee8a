"""A database opened (and migrated) on first use: for per-app helpers built before anyone knows they will be needed."""

from __future__ import annotations

import threading

from clara_ray.db.engine import Database


class LazyDatabase:
    """`get()` opens the database once, thread-safely; `dispose()` closes it if it was ever opened."""

    def __init__(self, url: str):
        self.url = url
        self._db: Database | None = None
        self._lock = threading.Lock()

    def get(self) -> Database:
        with self._lock:
            if self._db is None:
                self._db = Database(self.url)
            return self._db

    def dispose(self) -> None:
        if self._db is not None:
            self._db.dispose()
