"""POST /api/serving/load_adapter with hostile names (422 naming `name`, no folder in the adapter store) and with
paths outside `serving.adapter_import_roots` (403 naming `path`, no server path in the answer)."""

from __future__ import annotations

import shutil

import pytest
from fastapi.testclient import TestClient

from tests.hostile_inputs import HOSTILE_NAMES, OUTSIDE_PATHS


class NoBackend:
    """Importing never generates; a call here would be a test failure."""

    def __getattr__(self, name):
        raise AssertionError(f"the LLM backend was called: {name}")


@pytest.fixture
def world(settings, tiny_base, adapters, tmp_path):
    from clara_ray.api.app import build_app
    from clara_ray.db.engine import Database
    from clara_ray.serving.service import ServingService

    good = shutil.copytree(adapters["a8"], tmp_path / "imports" / "a8")  # under the test's import root (tmp_path)
    db = Database(settings.storage.database_url)
    svc = ServingService(settings, db, NoBackend(), base_model_path=str(tiny_base))
    with TestClient(build_app(settings, serving=svc)) as client:
        yield client, settings, good
    db.dispose()


def _store_is_empty(settings) -> bool:
    store = settings.storage.data_dir / "adapters"
    return not store.exists() or list(store.iterdir()) == []


@pytest.mark.parametrize("label", list(HOSTILE_NAMES))
def test_hostile_adapter_names_get_422_and_no_folder(world, label):
    client, settings, good = world
    r = client.post("/api/serving/load_adapter", json={"name": HOSTILE_NAMES[label], "path": str(good)})
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["detail"]] == ["name"], r.text
    assert _store_is_empty(settings)
    assert client.get("/api/serving/adapters/list").json()["versions"] == []


def _refused(client, path: str) -> dict:
    r = client.post("/api/serving/load_adapter", json={"name": "imported", "path": path})
    assert r.status_code == 403, r.text
    body = r.json()
    assert body["error"] == "PathOutsideRoots" and body["detail"].startswith("path: outside")
    assert "serving.adapter_import_roots" in body["detail"]
    return body


@pytest.mark.parametrize("label", list(OUTSIDE_PATHS))
def test_paths_outside_the_import_roots_get_403_naming_the_field(world, label):
    client, settings, _ = world
    body = _refused(client, OUTSIDE_PATHS[label])
    assert "/etc" not in body["detail"] and "/proc" not in body["detail"]
    assert _store_is_empty(settings)


def test_symlinks_and_other_folders_cannot_escape(world, tmp_path_factory):
    client, settings, good = world
    elsewhere = shutil.copytree(good, tmp_path_factory.mktemp("elsewhere") / "a8")  # a real adapter, wrong folder
    body = _refused(client, str(elsewhere))
    assert str(elsewhere.parent) not in body["detail"]
    link = good.parent / "link-out"
    link.symlink_to(elsewhere, target_is_directory=True)
    _refused(client, str(link))  # the link lies inside the root, its target does not
    inner = good.parent / "leaky"
    shutil.copytree(good, inner)
    (inner / "adapter_model.safetensors").unlink()
    (inner / "adapter_model.safetensors").symlink_to(elsewhere / "adapter_model.safetensors")
    _refused(client, str(inner))  # a weights file linked to a file outside would be copied into the store
    assert _store_is_empty(settings)


def test_an_adapter_under_the_root_is_imported(world):
    client, settings, good = world
    r = client.post("/api/serving/load_adapter", json={"name": "imported", "path": str(good)})
    assert r.status_code == 201, r.text
    assert r.json()["ref"] == "imported@v1"
    assert [p.name for p in (settings.storage.data_dir / "adapters").iterdir()] == ["imported"]
    r = client.post("/api/serving/load_adapter", json={"name": "imported", "path": str(good.parent)})
    assert r.status_code == 409 and r.json()["detail"].startswith("path: not a PEFT adapter folder")
    assert str(good.parent) not in r.text
