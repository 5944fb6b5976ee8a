"""Serving a Llama-3-style base (BOS in the template, <|eot_id|> closing turns, two EOS ids) and a base without
any chat template (GPT-2 style), driven with the official openai SDK: the ids served are the ids trained on."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from clara_ray.api.app import build_app
from clara_ray.db.engine import Database
from clara_ray.model.chat_format import encode_chat
from clara_ray.model.tokenizer import load_tokenizer
from clara_ray.serving.batched_engine import BatchedEngine
from clara_ray.serving.engine import GenerationRequest
from clara_ray.serving.local_backend import AdapterLoader, LocalBackend
from clara_ray.serving.service import ServingService
from tests.real_tokenizers import build_model

pytestmark = pytest.mark.timeout(180)
CHAT = [{"role": "user", "content": "Was regelt § 35 BauGB?"}]


def serve(kind: str, root):
    from clara_ray.adapters.store import AdapterStore
    from clara_ray.config import load_settings

    base = str(build_model(kind, root / kind))
    settings = load_settings(storage={"data_dir": root / f"data-{kind}"}, router={"use_embeddings": False},
                             serving={"max_new_tokens": 24, "max_prompt_tokens": 128})
    engine = BatchedEngine(base, max_adapters=2, max_new_tokens=24, max_prompt_tokens=128)
    loader = AdapterLoader(engine, AdapterStore(settings.storage.adapter_store_uri), root / "cache", kind)
    svc = ServingService(settings, Database(settings.storage.database_url), LocalBackend(engine, loader),
                         base_model_path=base)
    return base, engine, svc, build_app(settings, serving=svc)


@pytest.fixture(scope="module", params=["llama3", "gpt2"])
def served(request, tmp_path_factory):
    return serve(request.param, tmp_path_factory.mktemp("srv"))


def test_chat_route_serves_the_training_ids(served):
    base, engine, svc, _ = served
    _, ids = svc.chat_prompt(CHAT)
    assert ids == encode_chat(load_tokenizer(base), CHAT, add_generation_prompt=True).ids
    if engine.tokenizer.bos_token_id is not None and engine.tokenizer.bos_token_id != engine.tokenizer.eos_token_id:
        assert ids.count(engine.tokenizer.bos_token_id) == 1  # the template wrote it; nothing added it again


def test_the_turn_closing_token_and_every_eos_stop_generation(served):
    base, engine, *_ = served
    tok = engine.tokenizer
    closing = "<|eot_id|>" if "llama3" in base else "<|endoftext|>"
    assert tok.convert_tokens_to_ids(closing) in engine.eos_ids
    if "llama3" in base:  # generation_config lists <|end_of_text|> and <|eot_id|>
        assert tok.convert_tokens_to_ids("<|end_of_text|>") in engine.eos_ids


async def test_a_raw_completion_prompt_gets_bos_once(served):
    base, engine, *_ = served
    tok = engine.tokenizer
    one = await engine.generate(GenerationRequest(prompt="Die Baugenehmigung", max_tokens=2))
    bos_once = len(tok("Die Baugenehmigung", add_special_tokens=False)["input_ids"]) + int("llama3" in base)
    assert one.prompt_tokens == bos_once
    already = await engine.generate(GenerationRequest(prompt="<|begin_of_text|>Die Baugenehmigung", max_tokens=2)) \
        if "llama3" in base else one
    assert already.prompt_tokens == bos_once


def test_openai_sdk_chat_and_completion(served):
    from openai import OpenAI

    *_, app = served
    with TestClient(app) as http:
        client = OpenAI(base_url=str(http.base_url) + "/v1", api_key="unused", http_client=http)
        chat = client.chat.completions.create(model="base", messages=CHAT, max_tokens=5)
        assert chat.choices[0].finish_reason in ("stop", "length") and chat.usage.prompt_tokens > 5
        text = client.completions.create(model="base", prompt="Die Baugenehmigung", max_tokens=3)
        assert text.usage.completion_tokens <= 3
