"""adapter_fits_base: the one base-model match rule, and its use at import (check_adapter_folder) and engine load."""

from __future__ import annotations

import json
import shutil

import pytest

from clara_ray.adapters.compat import adapter_fits_base, check_adapter_fits_base
from clara_ray.serving.engine import AdapterIncompatible

pytestmark = [pytest.mark.timeout(120), pytest.mark.filterwarnings("ignore::FutureWarning")]


def test_names_and_hub_id_vs_local_folder(tmp_path):
    local = tmp_path / "models" / "Qwen2.5-0.5B"
    local.mkdir(parents=True)
    assert adapter_fits_base(None, "anything") and adapter_fits_base("", "anything")
    assert adapter_fits_base("Qwen/Qwen2.5-0.5B", "Qwen/Qwen2.5-0.5B")
    assert adapter_fits_base("Qwen/Qwen2.5-0.5B/", "qwen/qwen2.5-0.5b")  # trailing slash, case
    assert adapter_fits_base("Qwen/Qwen2.5-0.5B", str(local))
    assert adapter_fits_base("Qwen/Qwen2.5-0.5B", "/models/qwen2.5-0.5b/")  # a path, even if absent here
    assert adapter_fits_base("Qwen/Qwen2.5-0.5B", "Qwen2.5-0.5B")  # bare folder name (registry's base_model_id)
    assert adapter_fits_base(str(local), "Qwen2.5-0.5B")  # trained on a local copy, served by folder name
    assert adapter_fits_base("/train/box/Qwen2.5-0.5B", str(local))  # two copies of one folder
    assert not adapter_fits_base("Other/Qwen2.5-0.5B", "Qwen/Qwen2.5-0.5B")  # same name, different orgs
    assert not adapter_fits_base("Qwen/Qwen2.5-1.5B", str(local))
    assert not adapter_fits_base("meta-llama/Llama-3.2-1B", "Qwen/Qwen2.5-0.5B")


def test_config_name_or_path_and_aliases(tmp_path):
    folder = tmp_path / "my-base"
    folder.mkdir()
    assert not adapter_fits_base("Qwen/Qwen2.5-0.5B", str(folder))
    (folder / "config.json").write_text(json.dumps({"_name_or_path": "Qwen/Qwen2.5-0.5B"}))
    assert adapter_fits_base("Qwen/Qwen2.5-0.5B", str(folder))
    assert not adapter_fits_base("org/renamed", str(folder))
    assert adapter_fits_base("org/renamed", str(folder), aliases=["other", "ORG/renamed/"])
    with pytest.raises(AdapterIncompatible) as e:
        check_adapter_fits_base("org/renamed", str(folder), error=AdapterIncompatible)
    msg = str(e.value)
    assert "org/renamed" in msg and str(folder) in msg and "model.base_model_aliases" in msg


def _with_base(src, dst, base: str):
    shutil.copytree(src, dst)
    cfg = json.loads((dst / "adapter_config.json").read_text())
    cfg["base_model_name_or_path"] = base
    (dst / "adapter_config.json").write_text(json.dumps(cfg))
    return dst


def test_import_check_and_engine_load_use_the_rule(tiny_base, adapters, tmp_path):
    from clara_ray.serving.batched_engine import BatchedEngine
    from clara_ray.serving.service import check_adapter_folder

    hub = _with_base(adapters["a8"], tmp_path / "hub", f"someorg/{tiny_base.name}")
    other = _with_base(adapters["a8"], tmp_path / "other", "someorg/another-model")
    none = _with_base(adapters["a8"], tmp_path / "none", "")
    for path in (adapters["a8"], hub, none):
        check_adapter_folder(str(path), base_model_id=str(tiny_base), max_rank=64)
    with pytest.raises(AdapterIncompatible, match="model.base_model_aliases"):
        check_adapter_folder(str(other), base_model_id=str(tiny_base), max_rank=64)
    check_adapter_folder(str(other), base_model_id=str(tiny_base), max_rank=64, base_aliases=["someorg/another-model"])

    eng = BatchedEngine(tiny_base, expected_base=tiny_base.name)  # what the loader passes: the registry's base id
    eng.load_adapter("hub", str(hub))
    with pytest.raises(AdapterIncompatible, match="someorg/another-model"):
        eng.load_adapter("other", str(other))
    assert eng.loaded_adapters() == ["hub"]
    aliased = BatchedEngine(tiny_base, expected_base=str(tiny_base), base_aliases=["someorg/another-model"])
    aliased.load_adapter("other", str(other))
    assert aliased.loaded_adapters() == ["other"]
