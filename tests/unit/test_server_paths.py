"""Client-named server paths (training data_paths, corpus ingest, dataset export) only under the configured roots,
after symlinks are resolved: 403 naming the field, never the resolved server path; paths under a root still work."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from clara_ray.server_paths import PROJECT_DIR, PathOutsideRoots, Roots
from tests.hostile_inputs import OUTSIDE_PATHS
from tests.unit.test_names import RecordingJobs

QA = "clara_ray/resources/corpus/qa.jsonl"  # relative: resolved against the project folder, inside {resources}


@pytest.fixture
def api(settings):
    from clara_ray.api.app import build_app
    from clara_ray.datasets.service import DatasetService

    jobs = RecordingJobs()
    datasets = DatasetService(settings, vector=object(), graph=object(), embedder=object())
    with TestClient(build_app(settings, jobs=jobs, datasets=datasets)) as client:
        yield client, jobs
    datasets.db.dispose()


@pytest.fixture
def escapes(tmp_path, tmp_path_factory) -> dict[str, str]:
    """Every escape: the fixed ones, a file in another folder, a symlink (file and folder) inside the root."""
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    secret = elsewhere / "secret.jsonl"
    secret.write_text('{"text": "' + "s" * 60 + '"}\n')
    (tmp_path / "link.jsonl").symlink_to(secret)
    (tmp_path / "linkdir").symlink_to(elsewhere, target_is_directory=True)
    leaky = tmp_path / "leaky"  # a folder inside the root holding a link to a file outside
    leaky.mkdir()
    (leaky / "ok.jsonl").write_text('{"text": "' + "o" * 60 + '"}\n')
    (leaky / "secret.jsonl").symlink_to(secret)
    return {**OUTSIDE_PATHS, "other_dir": str(secret), "symlink_file": str(tmp_path / "link.jsonl"),
            "symlink_dir": str(tmp_path / "linkdir"), "symlink_in_folder": str(leaky)}


def _forbidden(r, field: str, setting: str) -> None:
    assert r.status_code == 403, r.text
    body = r.json()
    assert body["error"] == "PathOutsideRoots" and body["detail"].startswith(f"{field}: outside"), body
    assert setting in body["detail"]
    assert "/etc" not in r.text and "elsewhere" not in r.text and "/proc" not in r.text


def test_training_data_paths_outside_the_roots_get_403_naming_the_entry(api, escapes):
    client, jobs = api
    for label, path in escapes.items():
        r = client.post("/api/training/jobs", json={"name": "baurecht", "data_paths": [QA, path]})
        _forbidden(r, "data_paths.1", "training.data_roots")
    assert jobs.created == []  # nothing reached the job manager


def test_training_data_paths_under_the_roots_are_accepted(api, tmp_path):
    client, jobs = api
    (tmp_path / "mine.jsonl").write_text('{"text": "' + "m" * 60 + '"}\n')
    (tmp_path / "inner").mkdir()
    (tmp_path / "inner" / "same-root.jsonl").symlink_to(tmp_path / "mine.jsonl")  # a link that stays inside
    for paths in ([QA], [str(tmp_path / "mine.jsonl")], [str(tmp_path / "inner")], [f"file://{tmp_path}/mine.jsonl"]):
        r = client.post("/api/training/jobs", json={"name": "baurecht", "data_paths": paths})
        assert r.status_code == 201, (paths, r.text)
    assert len(jobs.created) == 4


def test_control_characters_in_paths_are_422(api, tmp_path):
    client, _ = api
    r = client.post("/api/training/jobs", json={"name": "baurecht", "data_paths": [str(tmp_path) + "/a\x00.jsonl"]})
    assert r.status_code == 422 and r.json()["detail"].startswith("data_paths.0: "), r.text


def test_corpus_ingest_outside_the_roots_gets_403(api, escapes):
    client, _ = api
    for label, path in escapes.items():
        r = client.post("/api/datasets/corpus/ingest", json={"paths": [path], "use_ray": False})
        _forbidden(r, "paths.0", "datasets.ingest_roots")


def test_dataset_export_outside_the_roots_gets_403(api, tmp_path):
    client, _ = api
    ds = client.post("/api/datasets/create", json={"name": "exp", "source": {"type": "records",
                                                                             "records": [{"text": "x" * 60}]}})
    assert ds.status_code == 201, ds.text
    for dest in ("/etc", "/tmp/../etc/cron.d", "../../../../tmp/x", "s3://someone-elses-bucket/x"):
        r = client.post(f"/api/datasets/{ds.json()['id']}/export", json={"destination_uri": dest})
        _forbidden(r, "destination_uri", "datasets.export_roots")
    r = client.post(f"/api/datasets/{ds.json()['id']}/export", json={"destination_uri": str(tmp_path / "out")})
    assert r.status_code == 200 and (tmp_path / "out" / "exp-v1.jsonl").is_file()


def test_roots_resolve_placeholders_relative_entries_and_uri_prefixes(tmp_path):
    roots = Roots.from_config(["{data_dir}/x", "{resources}", "clara_ray/resources", "s3://bucket/data"],
                              setting="training.data_roots", data_dir=tmp_path)
    assert roots.folders[0] == (tmp_path / "x").resolve()
    assert roots.folders[2] == (PROJECT_DIR / "clara_ray" / "resources").resolve()  # not the process's cwd
    assert roots.check("s3://bucket/data/a.jsonl", "f") == "s3://bucket/data/a.jsonl"
    for bad in ("s3://bucket/data/../other/a.jsonl", "s3://bucket/database.jsonl", "s3://bucket/data"):
        with pytest.raises(PathOutsideRoots):
            roots.check(bad, "f")
    assert roots.check(QA, "f") == str((PROJECT_DIR / QA).resolve())
    assert Path(roots.check(QA, "f")).is_file()


def test_root_entries_are_checked_at_config_load(tmp_path):
    from clara_ray.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="training.data_roots"):
        load_settings(storage={"data_dir": tmp_path}, training={"data_roots": ["{datadir}/x"]})


def test_actors_from_a_working_dir_copy_resolve_like_their_driver(settings, monkeypatch, tmp_path):
    """Ray runs actors from a copy of the repo: the settings they receive keep the driver's project folder, so the
    driver's absolute paths and relative paths both land in the same roots."""
    import clara_ray.config as config
    from clara_ray.config import settings_from_dict
    from clara_ray.training.spec import TrainingJobRequest, check_data_paths

    shipped = settings.model_dump(mode="json")
    monkeypatch.setattr(config, "PROJECT_DIR", tmp_path / "ray-working-dir-copy")  # what the actor would see
    in_actor = settings_from_dict(shipped)
    assert in_actor.storage.project_dir == PROJECT_DIR
    req = TrainingJobRequest(name="baurecht", data_paths=[QA, str(PROJECT_DIR / QA)])
    assert check_data_paths(req, in_actor) == [str((PROJECT_DIR / QA).resolve())] * 2
    moved = Roots.from_config(["{resources}"], setting="s", data_dir=tmp_path, project_dir=tmp_path)
    assert moved.folders == ((tmp_path / "clara_ray" / "resources" / "corpus").resolve(),)
    with pytest.raises(PathOutsideRoots):
        moved.check(str(PROJECT_DIR / QA), "f")
