"""The adapter store against a real S3 API (moto's server on 127.0.0.1): put, download to the cache, delete, retries."""

from __future__ import annotations

import pytest

from clara_ray.adapters.store import AdapterStore, transient
from tests.s3_server import free_port, s3_server


@pytest.fixture(scope="module")
def s3_options():
    with s3_server("bucket") as options:
        yield options


def adapter_folder(path):
    path.mkdir()
    (path / "adapter_config.json").write_text('{"r": 8}')
    (path / "adapter_model.safetensors").write_bytes(b"\0" * 1024)
    return path


def test_put_download_delete_on_s3(s3_options, tmp_path):
    store = AdapterStore("s3://bucket/adapters", s3_options)
    assert not store.is_local
    uri = store.put(adapter_folder(tmp_path / "a"), "baurecht", "v1id")
    assert uri == "s3://bucket/adapters/baurecht/v1id" and store.fs.exists(uri + "/adapter_model.safetensors")
    local = store.local_path(uri, tmp_path / "cache")
    assert (local / "adapter_config.json").read_text() == '{"r": 8}'
    assert store.local_path(uri, tmp_path / "cache") == local  # cached: not downloaded again
    store.delete(uri)
    assert not store.fs.exists(uri + "/adapter_config.json")
    store.delete(uri)  # deleting what is gone is not an error


def test_a_store_that_does_not_answer_fails_after_its_retries(tmp_path):
    closed = free_port()
    store = AdapterStore("s3://bucket/adapters", {"endpoint_url": f"http://127.0.0.1:{closed}", "key": "k",
                                                  "secret": "s", "config_kwargs": {"retries": {"max_attempts": 1},
                                                                                   "connect_timeout": 1}},
                         retries=2)
    with pytest.raises(Exception, match="Could not connect to the endpoint") as failed:
        store.put(adapter_folder(tmp_path / "a"), "baurecht", "v1id")
    assert transient(failed.value)  # retried (twice) before it was raised


def test_missing_files_are_not_retried():
    assert not transient(FileNotFoundError("s3://bucket/x")) and not transient(PermissionError("denied"))
    assert transient(ConnectionResetError()) and transient(TimeoutError())


def test_replicas_sharing_a_cache_volume_keep_one_complete_copy(s3_options, tmp_path):
    """Two replicas download the same version into one shared cache at once: the second rename finds the first's
    complete copy, keeps it, and leaves no temporary folder behind."""
    store = AdapterStore("s3://bucket/adapters", s3_options)
    uri = store.put(adapter_folder(tmp_path / "a"), "baurecht", "v2id")
    cache = tmp_path / "cache"
    other = AdapterStore("s3://bucket/adapters", s3_options)
    download = store._remote

    def racing(fn):  # the other replica finishes its download while this one is still downloading
        download(fn)
        other.local_path(uri, cache)

    store._remote = racing
    local = store.local_path(uri, cache)
    assert (local / "adapter_config.json").read_text() == '{"r": 8}'
    assert [p.name for p in cache.iterdir()] == [local.name]
