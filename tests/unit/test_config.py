"""Config: defaults, YAML, env overrides, and errors that name the field."""

import pytest

from clara_ray.config import ConfigError, load_settings, settings_from_dict


def test_defaults_fill_storage_paths(settings, tmp_path):
    assert settings.storage.database_url == f"sqlite:///{tmp_path / 'clara' / 'clara.db'}"
    assert settings.storage.adapter_store_uri.endswith("clara/adapters")
    assert settings.lora.r == 16 and settings.lora.alpha == 32 and settings.lora.dropout == 0.1
    assert settings.lora.target_modules == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert settings.training.max_concurrent_jobs == 2
    assert settings.continuous.learning_rate is None  # the base's recipe (training/recipe.py), suited to LoRA


def test_yaml_then_env_precedence(tmp_path, monkeypatch):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("training:\n  max_concurrent_jobs: 4\n  epochs: 7\nmodel:\n  base_model: /models/x\n")
    monkeypatch.setenv("CLARA_CONFIG", str(cfg))
    monkeypatch.setenv("CLARA_TRAINING__EPOCHS", "9")
    s = load_settings()
    assert s.training.max_concurrent_jobs == 4  # from YAML
    assert s.training.epochs == 9  # env beats YAML
    assert s.model.base_model == "/models/x"


def test_invalid_values_name_the_field(tmp_path, monkeypatch):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("lora:\n  dropout: 1.5\ntraining:\n  cpus_per_worker: 0\n")
    monkeypatch.setenv("CLARA_CONFIG", str(cfg))
    with pytest.raises(ConfigError) as e:
        load_settings()
    assert "lora.dropout" in str(e.value) and "training.cpus_per_worker" in str(e.value)


def test_unknown_key_is_rejected(tmp_path, monkeypatch):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("training:\n  max_concurent_jobs: 3\n")
    monkeypatch.setenv("CLARA_CONFIG", str(cfg))
    with pytest.raises(ConfigError, match="max_concurent_jobs"):
        load_settings()


def test_cross_field_check(settings):
    with pytest.raises(ConfigError, match="divisible"):
        load_settings(model={"tiny_hidden_size": 66, "tiny_num_heads": 4})


def test_roundtrip_for_actors(settings):
    again = settings_from_dict(settings.model_dump(mode="json"))
    assert again == settings


def test_the_data_dir_is_absolute_and_never_inside_rays_working_dir_copy(tmp_path, monkeypatch):
    from pathlib import Path

    monkeypatch.setenv("CLARA_CONFIG", str(tmp_path / "none.yaml"))
    monkeypatch.delenv("CLARA_STORAGE__DATA_DIR", raising=False)
    assert load_settings().storage.data_dir == Path("~/.clara").expanduser()  # not relative to wherever Ray runs
    pkg = tmp_path / "session_1" / "runtime_resources" / "working_dir_files" / "_ray_pkg_abc"
    pkg.mkdir(parents=True)
    monkeypatch.chdir(pkg)  # as under `serve run --working-dir .`
    with pytest.raises(ConfigError, match="storage.data_dir.*relative.*unpacked working dir"):
        load_settings(storage={"data_dir": ".clara"})
    assert load_settings(storage={"data_dir": str(tmp_path / "abs")}).storage.data_dir == tmp_path / "abs"
