"""resolve_plan: request, then config, then the base model's recipe (tiny model vs a real model folder)."""

from __future__ import annotations

import json

from clara_ray.config import load_settings
from clara_ray.training.recipe import TINY, default_recipe, is_tiny
from clara_ray.training.spec import TrainerType, TrainingJobRequest, resolve_plan


def real_folder(tmp_path, context: int):
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2", "max_position_embeddings": context}))
    return str(tmp_path)


def plan(settings, base, **req):
    return resolve_plan("j1", TrainingJobRequest(name="bau", data_paths=["x.jsonl"], **req), settings,
                        base_model_path=base)


def test_tiny_keeps_its_recipe_and_real_models_get_theirs(tmp_path):
    settings = load_settings(storage={"data_dir": tmp_path / "d"})
    tiny = tmp_path / "tiny-abc"
    tiny.mkdir()
    (tiny / "clara_model.json").write_text("{}")
    assert is_tiny("tiny") and is_tiny(str(tiny)) and default_recipe(str(tiny)) == TINY
    p = plan(settings, str(tiny))
    assert (p.learning_rate, p.block_size, p.max_seq_length) == (2e-3, 128, 512)
    p = plan(settings, real_folder(tmp_path / "qwen", 32768))
    assert (p.learning_rate, p.block_size, p.max_seq_length) == (2e-4, 2048, 2048)
    assert plan(settings, real_folder(tmp_path / "gpt2", 1024)).block_size == 1024
    assert default_recipe("meta-llama/Llama-3.2-1B").learning_rate == 2e-4  # a hub id: context unknown -> 2048


def test_request_beats_config_beats_recipe(tmp_path):
    base = real_folder(tmp_path, 4096)
    settings = load_settings(storage={"data_dir": tmp_path / "d"}, training={"learning_rate": 1e-4, "block_size": 512,
                                                                           "train_on_prompt": True},
                             data={"max_seq_length": 1024})
    p = plan(settings, base)
    assert (p.learning_rate, p.block_size, p.max_seq_length, p.train_on_prompt) == (1e-4, 512, 1024, True)
    p = plan(settings, base, learning_rate=3e-4, block_size=256, train_on_prompt=False)
    assert (p.learning_rate, p.block_size, p.train_on_prompt) == (3e-4, 256, False)
    cont = plan(settings, base, trainer_type=TrainerType.CONTINUOUS)
    assert (cont.learning_rate, cont.epochs) == (1e-4, 1)  # no continuous.* set: the recipe's LoRA cycle rate
    q = plan(settings, base, trainer_type=TrainerType.QLORA, lora={"r": 8})
    assert (q.qlora_bits, q.r, q.alpha) == (4, 8, settings.lora.alpha)


def test_learning_cycles_get_a_lora_rate_by_base_size(tmp_path):
    """CONTINUOUS jobs (learning cycles) default to a LoRA rate, not a full-fine-tuning figure such as 5e-6."""
    settings = load_settings(storage={"data_dir": tmp_path / "d"})

    def folder(name, hidden, layers, mlp, vocab=150000):
        f = tmp_path / name
        f.mkdir()
        (f / "config.json").write_text(json.dumps({"hidden_size": hidden, "num_hidden_layers": layers,
                                                   "intermediate_size": mlp, "vocab_size": vocab}))
        return str(f)

    small, mid, large = folder("q05", 896, 24, 4864), folder("l8", 4096, 32, 14336), folder("l70", 8192, 80, 28672)
    rates = [plan(settings, b, trainer_type=TrainerType.CONTINUOUS).learning_rate for b in (small, mid, large)]
    assert rates == [1e-4, 5e-5, 3e-5]
    tiny = tmp_path / "tiny-abc"
    tiny.mkdir()
    (tiny / "clara_model.json").write_text("{}")
    p = plan(settings, str(tiny), trainer_type=TrainerType.CONTINUOUS)
    assert (p.learning_rate, p.epochs) == (TINY.continuous_learning_rate, TINY.continuous_epochs) == (2e-3, 3)
    pinned = load_settings(storage={"data_dir": tmp_path / "d"}, continuous={"learning_rate": 3e-4, "epochs": 4})
    assert (plan(pinned, small, trainer_type=TrainerType.CONTINUOUS).learning_rate, plan(
        pinned, small, trainer_type=TrainerType.CONTINUOUS).epochs) == (3e-4, 4)  # config beats the recipe
