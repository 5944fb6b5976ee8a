"""A learning cycle's training set: its feedback, replay of the alias's earlier training data, and search results.

Three sources, each row marked in `SOURCE_FIELD` (the training reader reads only the canonical record fields of
clara_ray/records.py and ignores it):

feedback  the cycle's claimed samples as {"prompt", "response"} (the correction when there is one).
replay    round(learning.replay_fraction x feedback count) records drawn from the data the alias's active version
          and its ancestors were trained on (their data paths or registered datasets, found as the evaluation
          finds them; clara_ray/learning/evaluate.py). Never their validation split, the regression set or the
          cycle's own feedback. The draw is seeded by the active version and the batch's content (not the cycle
          id) and taken from the pool in content-hash order, so the same feedback on the same version always gets
          the same records: a cycle can be reproduced, and its gate decision does not hang on a random draw.
search    with learning.augment_with_search: hybrid-search results (vector + graph + keyword, the configured
          weights) for the batch's most distinctive terms (legal references, statutes, frequent nouns;
          clara_ray/datasets/entities.py), within the alias's domain when it has one, at most
          learning.augment_max_records. Search returns corpus chunks,
          not questions and answers, so each becomes a plain-text record "<title>\n\n<chunk>" -- the shape of a
          dataset registered from the corpus -- which trains on every token (continued pre-training on the
          domain text the feedback is about). A failing search never fails the cycle: it is reported in the
          counts (`search_error`) and the cycle trains without it.

Replay and search rows never repeat a feedback row or each other (content hash, clara_ray/records.py); the
buffer already refuses duplicate feedback. The counts per source are stored with the cycle (see cycle.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import re
from collections import Counter
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Protocol, Sequence

import fsspec
from pydantic import BaseModel

from clara_ray.adapters.registry import AdapterRegistry
from clara_ray.config import ClaraSettings
from clara_ray.datasets.entities import extract
from clara_ray.datasets.text import STOPWORDS
from clara_ray.learning.evaluate import _exists, _records, _training_paths, regression_records
from clara_ray.records import RecordError, content_hash, content_of, is_validation, normalise

log = logging.getLogger("clara.learning")

SOURCE_FIELD = "clara_source"
"""Row field naming where a training row came from (not a canonical record field: training ignores it)."""
MAX_REPLAY_POOL = 20_000
"""Most earlier records read into the replay pool (the draw is from these)."""
MAX_QUERY_TERMS = 12
"""Most terms in the search query built from a feedback batch."""
OVERFETCH = 2
"""Search asks for this many times augment_max_records, so deduplication still leaves enough."""


class RecordSource(str, Enum):
    """Where a row of a cycle's training data came from."""

    FEEDBACK = "feedback"
    REPLAY = "replay"
    SEARCH = "search"


class FeedbackRow(Protocol):
    """What a claimed feedback sample must offer (clara_ray.db.tables.Feedback has it)."""

    prompt: str
    response: str
    correction: str | None


@dataclass(frozen=True)
class SearchChunk:
    """One search result used as augmentation: a corpus chunk (or whole document) and where it is from."""

    doc_id: str
    text: str
    title: str = ""
    chunk_id: str | None = None
    score: float = 0.0


class Search(Protocol):
    """Hybrid search for augmentation: the best chunks for a query, best first, within `domain` when given
    (blocking; the builder runs it in a thread). clara_ray/learning/search_augment.py has the library's."""

    def __call__(self, query: str, top_k: int, domain: str | None = None) -> list[SearchChunk]: ...


class TrainingSetCounts(BaseModel):
    """What a cycle trained on, per source (stored with the cycle, shown as its `training_data`)."""

    feedback: int = 0
    """Feedback samples (the cycle's claimed batch)."""
    replay: int = 0
    """Records replayed from the alias's earlier training data."""
    search: int = 0
    """Plain-text records from hybrid search on the batch's terms."""
    replay_pool: int = 0
    """Earlier records eligible for replay (after excluding validation, regression and the feedback)."""
    search_query: str | None = None
    """The query built from the batch (None: augmentation off or no terms found)."""
    search_error: str | None = None
    """Why search augmentation contributed nothing although it was on (the cycle trained without it)."""


@dataclass
class TrainingSet:
    """The rows of a cycle's training file (canonical record fields + SOURCE_FIELD) and their counts."""

    rows: list[dict]
    counts: TrainingSetCounts

    def write(self, uri: str | Path, options: dict | None = None) -> None:
        """JSONL, one row a line (the CONTINUOUS job's data path): a local file, or any fsspec URI (`options`: the
        object store's, for remote ones)."""
        uri = str(uri)
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in self.rows)
        if "://" not in uri:
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
            Path(uri).write_text(text, encoding="utf-8")
            return
        with fsspec.open(uri, "w", encoding="utf-8", **(options or {})) as f:
            f.write(text)


def _hash(item: list[dict] | str) -> str:
    return content_hash(content_of(item))


def _row(item: list[dict] | str, source: RecordSource) -> dict:
    """A normalised record as a training row: plain text or chat messages."""
    body = {"text": item} if isinstance(item, str) else {"messages": item}
    return {**body, SOURCE_FIELD: source.value}


def feedback_rows(samples: Sequence[FeedbackRow]) -> list[dict]:
    """The claimed samples as prompt/response rows: the correction replaces the answer when there is one."""
    return [{"prompt": s.prompt, "response": s.correction or s.response, SOURCE_FIELD: RecordSource.FEEDBACK.value}
            for s in samples]


def _row_hash(row: dict) -> str | None:
    try:
        return _hash(normalise({k: v for k, v in row.items() if k != SOURCE_FIELD}))
    except RecordError:
        return None


def replay_pool(registry: AdapterRegistry, version_id: str, *, val_fraction: float, exclude: set[str],
                limit: int = MAX_REPLAY_POOL) -> dict[str, list[dict] | str]:
    """Earlier training records of a version and its ancestors, by content hash, in hash order.

    Leaves out the validation split (the same content split training and the gate use), every hash in
    `exclude` (the regression set, the feedback) and records that do not parse; missing files are skipped."""
    pool: dict[str, list[dict] | str] = {}
    seen_versions: set[str] = set()
    v = registry.get_version(version_id)
    while v is not None and v.id not in seen_versions and len(pool) < limit:
        seen_versions.add(v.id)
        ds = v.dataset or {}
        for path in _training_paths(registry, ds):
            if not _exists(path):
                continue
            for r in _records(path, ds.get("filter")):
                try:
                    item = normalise({k: x for k, x in r.items() if k != SOURCE_FIELD}, columns=ds.get("columns"))
                except (RecordError, ValueError):
                    continue
                h = _hash(item)
                if h in exclude or h in pool or is_validation(h, val_fraction):
                    continue
                pool[h] = item
                if len(pool) >= limit:
                    break
        v = registry.get_version(v.parent_id) if v.parent_id else None
    return dict(sorted(pool.items()))


def replay_count(n_feedback: int, fraction: float) -> int:
    """Records to replay for a batch: fraction x feedback count, rounded half up."""
    return int(fraction * n_feedback + 0.5)


def replay_seed(version_id: str, batch_hashes: set[str]) -> str:
    """The replay draw's seed: the version trained from and the batch's content hashes (order-free)."""
    digest = hashlib.sha256("\n".join(sorted(batch_hashes)).encode()).hexdigest()[:16]
    return f"{version_id}:{digest}"


def draw_replay(pool: dict[str, list[dict] | str], k: int, seed: str) -> list[dict]:
    """k records of the pool (all when it is smaller), the same ones for the same seed and pool."""
    keys = sorted(pool)
    chosen = random.Random(seed).sample(keys, min(k, len(keys)))
    return [_row(pool[h], RecordSource.REPLAY) for h in chosen]


def batch_query(texts: Sequence[str], max_terms: int = MAX_QUERY_TERMS) -> str | None:
    """The batch's most distinctive terms as one search query: legal references and statutes first (most
    mentioned first), then the most frequent capitalised nouns, then frequent plain words if that is all there is."""
    joined = "\n".join(texts)
    ex = extract(joined, keywords=max_terms)
    ranked = sorted(ex.entities.values(),
                    key=lambda e: ({"provision": 0, "statute": 1}.get(e["kind"], 2), -e["count"], e["name"]))
    terms = list(dict.fromkeys(e["name"] for e in ranked if e["kind"] != "statute" or e["count"] > 0))
    if not terms:
        words = Counter(w for w in re.findall(r"[^\W\d_]{4,}", joined) if w.lower() not in STOPWORDS)
        terms = [w for w, _ in words.most_common(max_terms)]
    return " ".join(terms[:max_terms])[:2000] or None


def search_rows(chunks: Sequence[SearchChunk], limit: int, exclude: set[str]) -> list[dict]:
    """Search results as plain-text rows "<title>\\n\\n<chunk>", unique by content and not in `exclude`."""
    out: list[dict] = []
    for c in chunks:
        text = f"{c.title}\n\n{c.text}" if c.title else c.text
        if not text.strip():
            continue
        h = _hash(text)
        if h in exclude:
            continue
        exclude.add(h)
        out.append({"text": text, SOURCE_FIELD: RecordSource.SEARCH.value, "doc_id": c.doc_id,
                    "chunk_id": c.chunk_id})
        if len(out) >= limit:
            break
    return out


class TrainingSetBuilder:
    """Builds a cycle's training set from its feedback; `search` is injected (None: augmentation unavailable)."""

    def __init__(self, settings: ClaraSettings, registry: AdapterRegistry, search: Search | None = None):
        self.settings, self.registry, self.search = settings, registry, search

    def build_sync(self, cycle_id: str, version_id: str, samples: Sequence[FeedbackRow]) -> TrainingSet:
        cfg = self.settings.learning
        rows = feedback_rows(samples)
        seen = {h for h in map(_row_hash, rows) if h}
        counts = TrainingSetCounts(feedback=len(rows))
        k = replay_count(len(rows), cfg.replay_fraction)
        if k:
            regression = {_hash(r) for r in regression_records(cfg.regression_path)}
            pool = replay_pool(self.registry, version_id, val_fraction=self.settings.training.val_fraction,
                               exclude=seen | regression)
            replayed = draw_replay(pool, k, seed=replay_seed(version_id, seen))
            rows += replayed
            seen |= {h for h in map(_row_hash, replayed) if h}
            counts.replay, counts.replay_pool = len(replayed), len(pool)
        if cfg.augment_with_search:
            domain = self.registry.get_version(version_id).domain
            found = self._search(samples, counts, cfg.augment_max_records, seen, domain)
            rows += found
            counts.search = len(found)
        return TrainingSet(rows, counts)

    def _search(self, samples: Sequence[FeedbackRow], counts: TrainingSetCounts, limit: int,
                seen: set[str], domain: str | None) -> list[dict]:
        if self.search is None:
            counts.search_error = "no search service was given to the learning loop"
            return []
        query = batch_query([t for s in samples for t in (s.prompt, s.correction or s.response)])
        counts.search_query = query
        if query is None:
            counts.search_error = "the batch has no terms to search for"
            return []
        try:
            chunks = self.search(query, limit * OVERFETCH, domain)
        except Exception as e:  # noqa: BLE001 - augmentation is an extra: the cycle trains without it
            log.warning("search augmentation failed: %s", e)
            counts.search_error = f"search failed: {type(e).__name__}: {e}"[:500]
            return []
        return search_rows(chunks, limit, seen)

    async def build(self, cycle_id: str, version_id: str, samples: Sequence[FeedbackRow]) -> TrainingSet:
        """build_sync in a thread: reading earlier data and searching block."""
        return await asyncio.to_thread(self.build_sync, cycle_id, version_id, samples)
