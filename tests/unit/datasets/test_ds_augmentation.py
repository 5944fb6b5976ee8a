"""Search augmentation of a learning cycle through the real datasets library: the cycle's data holds search results."""

from __future__ import annotations

import pytest

from clara_ray.adapters.registry import AdapterRegistry
from clara_ray.datasets.recordio import read_rows
from clara_ray.datasets.schemas import IngestRequest
from clara_ray.datasets.service import DatasetService
from clara_ray.learning.feedback import FeedbackIn
from clara_ray.learning.loop import LearningLoop
from clara_ray.learning.search_augment import LibrarySearch, service_search
from clara_ray.learning.training_set import SOURCE_FIELD
from clara_ray.resources import documents_path, load_jsonl


def corpus_docs() -> list[dict]:
    """Baurecht documents about § 35 BauGB (the feedback's subject) and a few of other domains."""
    docs = load_jsonl(documents_path())
    bau = [d for d in docs if d["domain"] == "baurecht" and "35 BauGB" in d["text"]][:4]
    other = [d for d in docs if d["domain"] == "steuerrecht"][:3]
    return bau + other


def feedback(i: int) -> FeedbackIn:
    return FeedbackIn(prompt=f"Fall {i}: Ist mein Gartenhaus im Außenbereich nach § 35 BauGB genehmigungsfähig?",
                      response="Das hängt davon ab, ob öffentliche Belange nach § 35 Abs. 3 BauGB beeinträchtigt sind.",
                      rating=1.0, adapter="bau")


class StopAfterData:
    """Job manager stand-in: takes the cycle's job request, then fails it (the data file is what is tested)."""

    def __init__(self):
        self.requests = []

    async def create(self, request, created_by=None):
        self.requests.append(request)
        return {"job_id": f"job{len(self.requests)}"}

    async def wait_finished(self, job_id, timeout):
        return {"job_id": job_id, "status": "FAILED", "error": "stopped by the test after the data was written"}


async def not_called(uri, records):  # the cycle stops before evaluation
    raise AssertionError("evaluation must not run")


@pytest.fixture
def ingested(settings, db, embedder):
    svc = DatasetService(settings, db, embedder=embedder)
    report = svc.ingest(IngestRequest(documents=corpus_docs(), use_ray=False))
    assert report["rejected"] == 0
    yield svc
    svc.close()


@pytest.mark.timeout(120)
async def test_cycle_data_includes_search_results_when_enabled(settings, db, ingested):
    cfg = settings.model_copy(update={"learning": settings.learning.model_copy(update={
        "augment_with_search": True, "augment_max_records": 4, "min_batch_size": 1000,
        "check_interval_seconds": 0.05, "train_interval_seconds": 3600})})
    reg = AdapterRegistry(db)
    reg.activate(reg.register(name="bau", uri="/active", base_model="tiny-x", trainer_type="LORA", rank=8,
                              domain="baurecht").id)
    jobs = StopAfterData()
    loop = LearningLoop(cfg, db, jobs, not_called, search=service_search(ingested))
    await loop.start()
    try:
        await loop.add([feedback(i) for i in range(5)])
        seq = loop.events.last_seq
        await loop.trigger("bau")
        while True:  # the loop's own event, not a poll: cycle_started, then cycle_finished
            events = await loop.events.wait(seq, 60)
            assert events, "the cycle did not finish within 60 s"
            if any(e["type"] == "cycle_finished" for e in events):
                break
            seq = events[-1]["seq"]
    finally:
        await loop.close()
    cycle = loop.cycles()[0]
    rows = read_rows(jobs.requests[0].data_paths[0])
    found = [r for r in rows if r[SOURCE_FIELD] == "search"]
    bau_ids = {d["id"] for d in corpus_docs() if d["domain"] == "baurecht"}
    assert found and {r["doc_id"] for r in found} <= bau_ids  # search results, from the alias's domain only
    assert all(r["text"].strip() and "prompt" not in r for r in found)  # plain-text records
    assert sum(r[SOURCE_FIELD] == "feedback" for r in rows) == cycle["samples"] == cycle["training_data"]["feedback"] > 0
    assert cycle["training_data"]["search"] == len(found)
    assert "§ 35 BauGB" in cycle["training_data"]["search_query"]


@pytest.mark.timeout(120)
def test_library_search_opens_the_stores_itself(settings, db, ingested):
    """The actor's search: its own view of the stores another service holds open (the graph read-only)."""
    chunks = LibrarySearch(settings, db)("§ 35 BauGB Außenbereich", 5, "baurecht")
    bau_ids = {d["id"] for d in corpus_docs() if d["domain"] == "baurecht"}
    assert chunks and {c.doc_id for c in chunks} <= bau_ids
    assert all(c.text and c.chunk_id for c in chunks[:1])
