"""The /v1 surface driven by the official `openai` SDK against the real app and the batched engine: errors in OpenAI's shape,
400 naming the field, token limits, content parts, streaming details, penalties, logprobs, n, the version header."""

from __future__ import annotations

import httpx
import openai
import pytest
from fastapi.testclient import TestClient

from clara_ray.api.app import build_app
from clara_ray.serving.engine import EngineError, StreamChunk
from tests.serving_world import serving_world

pytestmark = pytest.mark.timeout(240)
LIMIT = 32  # serving.max_new_tokens
ASK = [{"role": "user", "content": "Wann brauche ich eine Baugenehmigung?"}]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = serving_world(tmp_path_factory.mktemp("oai"), max_new_tokens=LIMIT)
    with TestClient(build_app(w.settings, serving=w.service, completions=w.completions)) as http:
        yield openai.OpenAI(base_url="http://testserver/v1", api_key="unused", http_client=http,
                            max_retries=0), w.service
    w.close()


def chat(client, **kw):
    return client.chat.completions.create(**{"model": "baurecht", "messages": ASK, "temperature": 0, **kw})


def test_errors_have_openai_shape_and_name_the_field(world):
    client, _ = world
    with pytest.raises(openai.NotFoundError) as e:
        chat(client, model="nope")
    assert "unknown adapter 'nope'" in e.value.message and "baurecht" in e.value.message
    assert (e.value.code, e.value.param, e.value.type) == ("model_not_found", "model", "invalid_request_error")
    bad = [({"stop": ""}, "stop"), ({"stop": ["x", ""]}, "stop"), ({"top_p": 5e-324}, "top_p"),
           ({"model": ""}, "model"), ({"n": 9}, "n"), ({"max_tokens": LIMIT + 1}, "max_tokens"),
           ({"max_completion_tokens": LIMIT + 1}, "max_completion_tokens"), ({"top_logprobs": 2}, ""),
           ({"response_format": {"type": "json_object"}}, "response_format"),
           ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}, "tools"),
           ({"logit_bias": {"5": 10}}, "logit_bias"), ({"stream_options": {"include_usage": True}}, "")]
    for kw, field in bad:
        with pytest.raises(openai.BadRequestError) as e:
            chat(client, **kw)
        assert e.value.status_code == 400 and e.value.type == "invalid_request_error", kw
        assert field in (e.value.param or "") and field in e.value.message, (kw, e.value.message)
    # what SDKs and frameworks send for "off" is accepted
    assert chat(client, max_tokens=2, response_format={"type": "text"}, tools=[], logit_bias={}).choices


def test_chat_answers_up_to_what_fits_and_honours_max_completion_tokens(world):
    client, _ = world
    full = chat(client)  # no max_tokens: up to serving.max_new_tokens, not OpenAI's legacy 16
    assert full.usage.completion_tokens > 16 or full.choices[0].finish_reason == "stop"
    assert full.usage.completion_tokens <= LIMIT
    cut = chat(client, max_completion_tokens=5, max_tokens=20)  # the newer field wins
    assert (cut.usage.completion_tokens, cut.choices[0].finish_reason) == (5, "length")
    assert full.choices[0].message.content.startswith(cut.choices[0].message.content)


def test_content_parts_and_developer_role_render_like_plain_text(world):
    client, _ = world
    plain = chat(client, max_tokens=8, messages=[{"role": "system", "content": "Kurz."}, *ASK])
    parts = chat(client, max_tokens=8, messages=[
        {"role": "developer", "content": [{"type": "text", "text": "Kurz."}]},
        {"role": "user", "content": [{"type": "text", "text": "Wann brauche ich "},
                                     {"type": "text", "text": "eine Baugenehmigung?"}]}])
    assert parts.choices[0].message.content == plain.choices[0].message.content
    for messages, field in [([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
                             "image_url"),
                            ([*ASK, {"role": "tool", "content": "42", "tool_call_id": "c1"}], "tool")]:
        with pytest.raises(openai.BadRequestError) as e:
            chat(client, messages=messages)
        assert field in e.value.message and "messages" in e.value.param


def test_stream_has_role_once_true_finish_reason_and_usage(world):
    client, _ = world
    whole = chat(client, max_tokens=6)
    chunks = list(chat(client, max_tokens=6, stream=True, stream_options={"include_usage": True}))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert deltas[0].role == "assistant" and all(d.role is None for d in deltas[1:])
    assert "".join(d.content or "" for d in deltas) == whole.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [whole.choices[0].finish_reason] == ["length"]
    usage = chunks[-1]
    assert usage.choices == [] and usage.usage.completion_tokens == 6
    assert usage.usage.prompt_tokens == whole.usage.prompt_tokens
    assert all(c.usage is None for c in chunks[:-1])
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")


def test_a_failure_mid_stream_reaches_the_client_as_an_error(world, monkeypatch):
    client, svc = world

    async def failing(req, model):
        yield StreamChunk(text="Teil")
        raise EngineError("replica lost")

    monkeypatch.setattr(svc.backend, "stream", failing)
    got = []
    with pytest.raises(openai.APIError) as e:
        for c in chat(client, stream=True):
            got.append(c)
    assert "internal error" in e.value.message and "replica" not in e.value.message  # nothing internal leaks
    assert got[-1].choices[0].delta.content == "Teil"


def test_penalties_change_the_output_and_logprobs_are_reported(world):
    client, _ = world
    plain = chat(client, max_tokens=LIMIT).choices[0].message.content
    for kw in ({"frequency_penalty": 2.0}, {"presence_penalty": 2.0}, {"extra_body": {"repetition_penalty": 3.0}}):
        assert chat(client, max_tokens=LIMIT, **kw).choices[0].message.content != plain, kw
    out = chat(client, max_tokens=5, logprobs=True, top_logprobs=3)
    lps = out.choices[0].logprobs.content
    assert len(lps) == out.usage.completion_tokens == 5
    for t in lps:  # greedy: the chosen token is the most likely one
        assert len(t.top_logprobs) == 3 and t.logprob == pytest.approx(t.top_logprobs[0].logprob)
        assert t.logprob <= 0 and t.top_logprobs[0].logprob >= t.top_logprobs[2].logprob
    assert "".join(t.token for t in lps) == out.choices[0].message.content
    text = client.completions.create(model="baurecht", prompt="Der Bebauungsplan", max_tokens=4, logprobs=2,
                                     temperature=0)
    lp = text.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == 4 and lp.text_offset[0] == 0


def test_n_choices_and_prompt_lists(world):
    client, _ = world
    out = chat(client, n=3, temperature=1.0, seed=1, max_tokens=8)
    assert [c.index for c in out.choices] == [0, 1, 2]
    assert len({c.message.content for c in out.choices}) > 1  # seeds 1, 2, 3
    assert out.usage.prompt_tokens == chat(client, max_tokens=1).usage.prompt_tokens  # the prompt counts once
    many = client.completions.create(model="baurecht", prompt=["Der Hund", "Die Katze"], n=2, max_tokens=3,
                                     temperature=0)
    assert len(many.choices) == 4 and many.choices[0].text == many.choices[1].text  # greedy: same per prompt
    streamed = list(client.completions.create(model="baurecht", prompt="Der Hund", n=2, max_tokens=3, stream=True,
                                              temperature=0))
    by_index = {i: "".join(c.choices[0].text for c in streamed if c.choices and c.choices[0].index == i)
                for i in (0, 1)}
    assert by_index[0] == by_index[1] == many.choices[0].text


def test_models_list_created_parent_and_root(world):
    client, svc = world
    models = {m.id: m for m in client.models.list()}
    assert all(isinstance(m.created, int) and m.created > 0 for m in models.values())
    assert models["baurecht"].parent == svc.base_model_id and models["baurecht@v2"].root == svc.base_model_id
    assert models[svc.base_model_id].parent is None


def test_every_answer_names_the_version_that_produced_it(world):
    client, svc = world
    raw = client.chat.completions.with_raw_response.create(model="baurecht", messages=ASK, max_tokens=2)
    assert raw.headers["x-clara-model-version"] == "baurecht@v1" == raw.parse().system_fingerprint
    svc.activate("baurecht@v2")  # a promotion
    try:
        raw = client.chat.completions.with_raw_response.create(model="baurecht", messages=ASK, max_tokens=2)
        assert raw.headers["x-clara-model-version"] == "baurecht@v2"
        with client.chat.completions.with_streaming_response.create(model="baurecht", messages=ASK, max_tokens=2,
                                                                    stream=True) as r:
            assert r.headers["x-clara-model-version"] == "baurecht@v2"
            assert all(c.system_fingerprint == "baurecht@v2" for c in r.parse())
        raw = client.completions.with_raw_response.create(model="base", prompt="Der", max_tokens=2)
        assert raw.headers["x-clara-model-version"] == svc.base_model_id
    finally:
        svc.activate("baurecht@v1")


def test_curl_style_requests_get_the_same_contract(world):
    """Raw HTTP as curl sends it: the error body is OpenAI's JSON, the stream is plain SSE ending in [DONE]."""
    client, _ = world
    http: httpx.Client = client._client
    r = http.post("http://testserver/v1/chat/completions", json={"model": "baurecht", "messages": ASK, "bogus": 1})
    assert r.status_code == 400 and r.json()["error"]["param"] == "bogus"
    assert set(r.json()["error"]) == {"message", "type", "param", "code"}
    with http.stream("POST", "http://testserver/v1/chat/completions",
                     json={"model": "baurecht", "messages": ASK, "max_tokens": 3, "stream": True}) as s:
        lines = [line for line in s.iter_lines() if line]
    assert lines[-1] == "data: [DONE]" and all(line.startswith("data: ") for line in lines)


def test_every_answer_is_logged_under_the_id_the_client_got(world):
    client, svc = world
    out = chat(client, max_tokens=4, user="end-user-7")
    streamed = list(chat(client, max_tokens=3, stream=True))
    svc.completions.flush()
    rec = svc.completions.get(out.id)
    assert (rec.route, rec.version_ref, rec.caller, rec.output) == ("chat", "baurecht@v1", "anonymous",
                                                                    out.choices[0].message.content)
    assert rec.messages == ASK and (rec.prompt_tokens, rec.completion_tokens) == (out.usage.prompt_tokens, 4)
    assert rec.finish_reason == "length" and rec.latency_ms > 0
    s = svc.completions.get(streamed[0].id)
    assert s.output == "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    assert s.completion_tokens == 3 and s.finish_reason == "length"
    items, total = svc.completions.list(version="baurecht@v1")
    assert {out.id, streamed[0].id} <= {i.id for i in items} and total >= 2
