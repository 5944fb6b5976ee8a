"""The batched engine's device and dtype: resolved from serving.device / serving.dtype, refused clearly when
unavailable, and every tensor of a real mixed-adapter generation on the engine's device."""

from __future__ import annotations

import asyncio

import pytest
import torch

from clara_ray.config import ConfigError, load_settings
from clara_ray.serving import BatchedEngine, GenerationRequest
from clara_ray.serving.multi_lora import MultiLoraLinear
from clara_ray.serving.placement import engine_dtype, resolve_device

pytestmark = [pytest.mark.timeout(120), pytest.mark.filterwarnings("ignore::FutureWarning")]

NO_CUDA = "this machine has a CUDA GPU; the test checks the refusal without one"


def test_auto_follows_cuda_availability(monkeypatch):
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto") == torch.device(expected)
    assert resolve_device("cpu") == torch.device("cpu") and resolve_device(torch.device("cpu")).type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device(" CUDA:1 ") == torch.device("cuda:1")
    with pytest.raises(ValueError, match=r"serving\.device is 'cuda:2' but this machine has 2 CUDA device"):
        resolve_device("cuda:2")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")


@pytest.mark.parametrize("bad", ["gpu", "cuda:", "cuda:x", "mps", ""])
def test_invalid_device_refused_at_settings_load(bad, settings):
    with pytest.raises(ConfigError, match=r"serving\.device.*serving\.device must be auto, cpu, cuda or cuda:N"):
        load_settings(serving={"device": bad})
    with pytest.raises(ValueError, match="serving.device must be"):
        resolve_device(bad)


def test_engine_setting_accepts_the_old_cpu_name(settings):  # settings: no CLARA_* env, no yaml
    assert load_settings(serving={"engine": "cpu"}).serving.engine == "batched"
    assert load_settings().serving.engine in ("batched", "vllm")
    s = load_settings(serving={"device": "CUDA:0"}).serving
    assert s.device == "cuda:0"  # normalised; CUDA presence is checked when the engine starts, not here
    with pytest.raises(ConfigError, match=r"serving\.engine"):
        load_settings(serving={"engine": "gpu"})


def test_dtype_per_device(tiny_base, tmp_path):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")  # engine_dtype only reads the device type
    legacy = tmp_path / "fp16"
    legacy.mkdir()
    (legacy / "config.json").write_text('{"torch_dtype": "float16"}')
    assert engine_dtype(str(legacy), "auto", cpu) == torch.float32  # CPU: float16 checkpoints run in float32
    assert engine_dtype(str(legacy), "auto", cuda) == torch.float16  # CUDA: the model's own dtype
    assert engine_dtype(str(tiny_base), "auto", cuda) == torch.float32
    assert engine_dtype(str(tiny_base), "bfloat16", cuda) == torch.bfloat16
    assert engine_dtype(str(tiny_base), "float16", cuda) == torch.float16
    with pytest.raises(ValueError, match="float16 needs serving.device cuda"):
        engine_dtype(str(tiny_base), "float16", cpu)


@pytest.mark.skipif(torch.cuda.is_available(), reason=NO_CUDA)
def test_cuda_without_a_gpu_fails_at_engine_construction(tiny_base):
    with pytest.raises(ValueError, match=r"serving\.device is 'cuda' but torch sees no CUDA GPU"):
        BatchedEngine(tiny_base, device="cuda")


def test_factory_passes_serving_device(tiny_base, settings):
    from clara_ray.serving.factory import build_engine

    s = settings.model_copy(update={"serving": settings.serving.model_copy(update={"device": "cpu"})})
    eng = build_engine(s, str(tiny_base))
    assert isinstance(eng, BatchedEngine) and eng.device == torch.device("cpu")
    assert eng.stats()["device"] == "cpu"
    auto = build_engine(settings, str(tiny_base))  # settings default: "auto"
    assert auto.device == resolve_device("auto")


def test_every_step_tensor_is_on_the_engine_device(tiny_base, adapters):
    """A real concurrent generation (two adapters + base, penalties, sampling, logprobs) while hooks record the
    device of every tensor the model and the LoRA slot layers receive, and of the running batch's tensors."""
    eng = BatchedEngine(tiny_base, device="cpu", max_batch_size=8, batch_wait_ms=20)
    for name in ("a8", "d16mlp"):
        eng.load_adapter(name, str(adapters[name]))
    seen: dict[str, set[torch.device]] = {}

    def note(kind: str, t) -> None:
        if isinstance(t, torch.Tensor):
            seen.setdefault(kind, set()).add(t.device)

    def model_hook(module, args, kwargs):
        for key in ("input_ids", "attention_mask", "position_ids"):
            note(key, kwargs.get(key))
        for layer in kwargs["past_key_values"].layers:
            note("kv_cache", getattr(layer, "keys", None))
        b = eng._stepper.batch
        for key in ("mask", "pos", "last"):
            note(f"batch.{key}", getattr(b, key))

    def lora_hook(module, args):
        note("lora_input", args[0])
        note("lora_a", module.a)
        note("lora_b", module.b)

    handles = [eng.model.register_forward_pre_hook(model_hook, with_kwargs=True)]
    handles += [m.register_forward_pre_hook(lora_hook) for m in eng.model.modules() if isinstance(m, MultiLoraLinear)]
    reqs = [
        GenerationRequest(prompt="Der Hund", adapter="a8", max_tokens=6),
        GenerationRequest(prompt="Heute ist das Wetter schön", adapter="d16mlp", max_tokens=6, repetition_penalty=1.3),
        GenerationRequest(prompt="Katze", max_tokens=6, temperature=0.8, top_p=0.9, seed=3, logprobs=2),
        GenerationRequest(prompt="Grüße", adapter="a8", max_tokens=6, presence_penalty=0.5, frequency_penalty=0.5),
    ]

    async def main():
        return await asyncio.gather(*[eng.generate(r) for r in reqs])

    results = asyncio.run(main())
    for h in handles:
        h.remove()
    assert all(r.completion_tokens > 0 for r in results)
    assert all(isinstance(t, int) for r in results for t in r.token_ids)
    assert isinstance(results[2].logprobs[0].logprob, float)
    expected = {"input_ids", "attention_mask", "position_ids", "kv_cache", "batch.mask", "batch.pos", "batch.last",
                "lora_input", "lora_a", "lora_b"}
    assert expected <= set(seen), expected - set(seen)  # every kind was really observed
    assert {kind: devs for kind, devs in seen.items() if devs != {eng.device}} == {}
    wrapped = [m for m in eng.model.modules() if isinstance(m, MultiLoraLinear)]
    assert wrapped and {m.lora_A.device for m in wrapped} | {m.lora_B.device for m in wrapped} == {eng.device}
    assert {p.device for p in eng.model.parameters()} == {eng.device}
