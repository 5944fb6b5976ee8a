"""Hostile names: the one checker (clara_ray/names.py) and its use on the training and dataset routes (422 naming
the field, nothing stored, no folder made)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from clara_ray.names import InvalidName, NameKind, check_name, parse_adapter_ref
from clara_ray.training.spec import TrainingJobRequest
from tests.hostile_inputs import HOSTILE_NAMES

GOOD = {NameKind.ADAPTER: "baurecht-v2_b", NameKind.DATASET: "Bau.recht-2024_v1", NameKind.API_KEY: "ci-pipeline.2",
        NameKind.PATH_PART: "baurecht-v3"}


@pytest.mark.parametrize("kind", list(NameKind))
@pytest.mark.parametrize("label", list(HOSTILE_NAMES))
def test_every_kind_refuses_every_hostile_class_and_says_what_is_allowed(kind, label):
    with pytest.raises(InvalidName) as e:
        check_name(HOSTILE_NAMES[label], kind)
    assert str(e.value).endswith("use " + kind.value.allowed)


@pytest.mark.parametrize("kind", list(NameKind))
def test_good_names_pass_unchanged(kind):
    assert check_name(GOOD[kind], kind) == GOOD[kind]


def test_messages_name_the_offending_character():
    def why(v):
        with pytest.raises(InvalidName) as e:
            check_name(v, NameKind.ADAPTER)
        return str(e.value)

    assert why("baurecht\n").startswith("contains a newline")
    assert "U+0430 CYRILLIC SMALL LETTER A" in why(HOSTILE_NAMES["cyrillic_a"])
    assert "ASCII form would be 'baurecht'" in why(HOSTILE_NAMES["fullwidth"])  # refused, not rewritten
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in why(HOSTILE_NAMES["rtl_override"])
    assert why("Baurecht").startswith("must be lowercase")


def test_references_are_full_matches():
    assert parse_adapter_ref("baurecht@v12") == ("baurecht", 12)
    assert parse_adapter_ref("baurecht") == ("baurecht", None)
    for bad in ("baurecht\n@v2", "@v2", "baurecht@v2\n", "baurecht@v0", "baurecht@2", "bau@v1@v2"):
        with pytest.raises(InvalidName):
            parse_adapter_ref(bad)


class RecordingJobs:
    """A job manager that records what reaches it."""

    def __init__(self):
        self.created: list[dict] = []

    async def create(self, request: TrainingJobRequest, created_by: str | None = None) -> dict:
        self.created.append(request.model_dump(mode="json"))
        return {"job_id": "j1", "status": "QUEUED"}


@pytest.fixture
def api(settings):
    from clara_ray.api.app import build_app
    from clara_ray.datasets.service import DatasetService

    jobs = RecordingJobs()
    datasets = DatasetService(settings, vector=object(), graph=object(), embedder=object())
    with TestClient(build_app(settings, jobs=jobs, datasets=datasets)) as client:
        yield client, jobs, settings
    datasets.db.dispose()


def _names_field(r, field: str) -> None:
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["detail"]] == [field], r.text


@pytest.mark.parametrize("label", list(HOSTILE_NAMES))
def test_training_job_names_are_refused_before_the_job_manager(api, label):
    client, jobs, _ = api
    r = client.post("/api/training/jobs", json={"name": HOSTILE_NAMES[label],
                                                "data_paths": ["clara_ray/resources/corpus/qa.jsonl"]})
    _names_field(r, "name")
    assert jobs.created == []


@pytest.mark.parametrize("label", list(HOSTILE_NAMES))
def test_dataset_names_are_refused_and_nothing_is_written(api, label):
    client, _, settings = api
    store = settings.storage.data_dir / "datasets"
    r = client.post("/api/datasets/create", json={"name": HOSTILE_NAMES[label],
                                                  "source": {"type": "records", "records": [{"text": "x" * 60}]}})
    _names_field(r, "name")
    r = client.post("/api/datasets/upload", data={"name": HOSTILE_NAMES[label]},
                    files={"file": ("a.jsonl", b'{"text": "' + b"x" * 60 + b'"}\n')})
    if label != "nul":  # a NUL cannot travel in a multipart form field: the form itself is refused
        _names_field(r, "name")
    else:
        assert r.status_code == 422, r.text
    assert not store.exists() or list(store.iterdir()) == []
    assert client.get("/api/datasets").json()["total"] == 0


def test_a_good_name_still_creates_its_folder(api):
    client, jobs, settings = api
    r = client.post("/api/datasets/create", json={"name": GOOD[NameKind.DATASET],
                                                  "source": {"type": "records", "records": [{"text": "x" * 60}]}})
    assert r.status_code == 201, r.text
    assert [p.name for p in (settings.storage.data_dir / "datasets").iterdir()] == [GOOD[NameKind.DATASET]]
    r = client.post("/api/training/jobs", json={"name": "baurecht", "data_paths": ["clara_ray/resources/corpus/qa.jsonl"]})
    assert r.status_code == 201 and [j["name"] for j in jobs.created] == ["baurecht"]


def test_the_store_checks_names_where_folders_are_made(tmp_path):
    from clara_ray.adapters.registry import InvalidReference
    from clara_ray.adapters.store import AdapterStore
    from clara_ray.datasets.errors import DatasetInputError
    from clara_ray.datasets.registry import DatasetRegistry

    store = AdapterStore(str(tmp_path / "adapters"))
    with pytest.raises(InvalidReference):
        store.uri_for("baurecht\n", "0" * 32)
    with pytest.raises(InvalidReference):
        store.uri_for("baurecht", "../../x")
    with pytest.raises(DatasetInputError, match="^name: "):
        DatasetRegistry(db=None, store_uri=str(tmp_path / "ds")).create("a/b", [{"text": "x"}], source={})
    assert not (tmp_path / "ds").exists() and not (tmp_path / "adapters").exists()
