"""Taking adapters out: .tar.gz archive round trip, merge into the base (greedy parity with peft), path checks."""

from __future__ import annotations

import glob
import io
import tarfile
import tempfile
import uuid

import pytest
import torch
from fastapi.testclient import TestClient

from clara_ray.adapters.export import (
    ExportExists,
    InvalidExportPath,
    build_archive,
    remove_archive,
    resolve_export_dir,
)
from clara_ray.adapters.store import AdapterStore

pytestmark = [pytest.mark.timeout(180), pytest.mark.filterwarnings("ignore::FutureWarning")]

PROMPTS = ["Der Hund", "Heute ist das Wetter schön und die Sonne"]


class _NoBackend:
    async def stats(self) -> dict:
        return {}


@pytest.fixture
def world(settings, tiny_base, adapters):
    from clara_ray.adapters.registry import AdapterRegistry
    from clara_ray.api.app import build_app
    from clara_ray.db.engine import Database
    from clara_ray.serving.service import ServingService
    from clara_ray.training.pipeline import base_model_id

    s = settings.model_copy(update={"router": settings.router.model_copy(update={"use_embeddings": False})})
    db = Database(s.storage.database_url)
    store = AdapterStore(s.storage.adapter_store_uri)
    AdapterRegistry(db).register(name="baurecht", uri=store.put(adapters["a8"], "baurecht", "v1id"), version_id="v1id",
                                 base_model=base_model_id(str(tiny_base)), trainer_type="LORA", rank=8)
    svc = ServingService(s, db, _NoBackend(), base_model_path=str(tiny_base))
    with TestClient(build_app(s, serving=svc)) as client:
        yield client, svc
    db.dispose()


def _greedy(model, tok, prompt: str, n: int = 12) -> list[int]:
    enc = tok(prompt, return_tensors="pt")
    with torch.inference_mode():
        return model.generate(**enc, do_sample=False, max_new_tokens=n)[0, enc["input_ids"].shape[1]:].tolist()


def _peft(base, adapter_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    return PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), str(adapter_dir)).eval()


def test_archive_round_trip_loads_in_peft(world, tiny_base, adapters, tmp_path, reference):
    client, _ = world
    before = set(glob.glob(f"{tempfile.gettempdir()}/clara-archive-*"))
    r = client.get("/api/serving/adapters/baurecht@v1/archive")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/gzip"
    assert 'filename="baurecht-v1.tar.gz"' in r.headers["content-disposition"]
    with tarfile.open(fileobj=io.BytesIO(r.content), mode="r:gz") as tar:
        names = tar.getnames()
        tar.extractall(tmp_path, filter="data")
    assert {"baurecht-v1/adapter_config.json", "baurecht-v1/adapter_model.safetensors"} <= set(names)
    assert set(glob.glob(f"{tempfile.gettempdir()}/clara-archive-*")) == before  # temp archive removed
    folder = tmp_path / "baurecht-v1"
    assert (folder / "adapter_model.safetensors").read_bytes() == (adapters["a8"] / "adapter_model.safetensors").read_bytes()
    model = _peft(tiny_base, folder)
    assert _greedy(model, reference.tok, PROMPTS[0]) == _greedy(reference.model("a8"), reference.tok, PROMPTS[0])
    # alias resolves too; unknown and malformed references
    assert client.get("/api/serving/adapters/baurecht/archive").status_code == 404  # no alias activated yet
    r = client.get("/api/serving/adapters/nope@v1/archive")
    assert r.status_code == 404 and "nope@v1" in r.json()["detail"]
    assert client.get("/api/serving/adapters/Bad..Ref/archive").status_code == 422


def test_archive_from_an_fsspec_store(adapters):
    store = AdapterStore(f"memory://clara-test-{uuid.uuid4().hex[:8]}/adapters")
    uri = store.put(adapters["b16"], "steuer", "vid")
    path = build_archive(store, uri, "steuer-v2.tar.gz")
    try:
        with tarfile.open(path) as tar:
            assert {"steuer-v2/adapter_config.json", "steuer-v2/adapter_model.safetensors"} <= set(tar.getnames())
    finally:
        remove_archive(path)
    assert not path.parent.exists()


def test_merge_matches_peft_greedy(world, tiny_base, adapters, reference):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    client, svc = world
    r = client.post("/api/serving/adapters/baurecht@v1/merge", json={"output_dir": "merged/baurecht-v1"})
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["output_dir"] == "merged/baurecht-v1" and out["adapter"] == "baurecht@v1"
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(out["files"])
    folder = svc.settings.storage.data_dir / "exports" / "merged" / "baurecht-v1"
    merged = AutoModelForCausalLM.from_pretrained(folder).eval()
    tok = AutoTokenizer.from_pretrained(folder)
    assert not any("lora" in n for n, _ in merged.named_parameters())
    assert tok.chat_template  # saved with the chat template in force (model.chat_template / default)
    for p in PROMPTS:
        assert _greedy(merged, tok, p) == _greedy(reference.model("a8"), reference.tok, p), p
    assert _greedy(merged, tok, PROMPTS[1]) != _greedy(reference.model(None), reference.tok, PROMPTS[1])
    r = client.post("/api/serving/adapters/baurecht@v1/merge", json={"output_dir": "merged/baurecht-v1"})
    assert r.status_code == 409 and "already exists" in r.json()["detail"]


@pytest.mark.parametrize("bad", ["/tmp/x", "../x", "a/../../b", "a\nb", "~/x", "C:/x", "a\\b", ".hidden", ""])
def test_merge_rejects_unsafe_output_dirs(world, bad):
    client, svc = world
    r = client.post("/api/serving/adapters/baurecht@v1/merge", json={"output_dir": bad})
    assert r.status_code == 422, (bad, r.text)
    assert r.json()["detail"][0]["field"] == "output_dir"
    assert not (svc.settings.storage.data_dir / "exports").exists()


def test_resolve_export_dir_stays_inside_the_root(tmp_path):
    root = tmp_path / "exports"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside)
    assert resolve_export_dir(root, "a/b-1.0") == (root / "a" / "b-1.0").resolve()
    with pytest.raises(InvalidExportPath, match="leaves"):
        resolve_export_dir(root, "link/x")
    for bad in ("/abs", "..", "x/../..", "x\ny"):
        with pytest.raises(InvalidExportPath, match="output_dir"):
            resolve_export_dir(root, bad)
    (root / "taken").mkdir()
    with pytest.raises(ExportExists):
        resolve_export_dir(root, "taken")
