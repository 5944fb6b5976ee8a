"""Record formats accepted by normalise(): OpenAI, ShareGPT, alpaca, TRL, prompt/response, text; column mapping."""

import json

import pytest
from pydantic import ValidationError

from clara_ray.records import RecordError, check_columns, normalise
from clara_ray.training.spec import TrainingJobRequest

U, A, S = "user", "assistant", "system"


def _m(*turns):
    return [{"role": r, "content": c} for r, c in turns]


def test_openai_messages_plain_and_json_cell():
    msgs = _m((S, "s"), (U, "u"), (A, "a"))
    assert normalise({"messages": msgs}) == msgs
    assert normalise({"messages": json.dumps(msgs)}) == msgs


def test_openai_developer_role_content_parts_and_extra_keys():
    rec = {"messages": [
        {"role": "developer", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
        {"role": "assistant", "content": "ok", "name": "bot"},
    ]}
    assert normalise(rec) == _m((S, "be brief"), (U, "one\ntwo"), (A, "ok"))


def test_sharegpt_and_json_cell():
    conv = [{"from": "system", "value": "s"}, {"from": "human", "value": "h"}, {"from": "gpt", "value": "g"},
            {"from": "user", "value": "u"}, {"from": "assistant", "value": "a"}]
    want = _m((S, "s"), (U, "h"), (A, "g"), (U, "u"), (A, "a"))
    assert normalise({"conversations": conv}) == want
    assert normalise({"conversations": json.dumps(conv)}) == want


def test_alpaca_with_and_without_input_and_system():
    assert normalise({"instruction": "Do X", "input": "data", "output": "done"}) == _m(
        (U, "Do X\n\ndata"), (A, "done"))
    assert normalise({"instruction": "Do X", "input": "", "output": "done"}) == _m((U, "Do X"), (A, "done"))
    assert normalise({"instruction": "Do X", "output": "done", "system": "sys"}) == _m(
        (S, "sys"), (U, "Do X"), (A, "done"))


def test_trl_prompt_completion_standard_and_conversational():
    assert normalise({"prompt": "P", "completion": "C"}) == _m((U, "P"), (A, "C"))
    rec = {"prompt": _m((S, "s"), (U, "u")), "completion": _m((A, "a"))}
    assert normalise(rec) == _m((S, "s"), (U, "u"), (A, "a"))


def test_prompt_response_and_text_and_null_fields_ignored():
    assert normalise({"prompt": "P", "response": "R"}) == _m((U, "P"), (A, "R"))
    assert normalise({"text": "plain"}) == "plain"
    # Parquet unifies columns: other shapes' fields arrive as None
    assert normalise({"text": "plain", "prompt": None, "messages": None}) == "plain"


@pytest.mark.parametrize("record,match", [
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]},
                   {"role": "assistant", "content": "a"}]}, "unsupported content part.*'image_url'"),
    ({"messages": [{"role": "tool", "content": "x"}, {"role": "assistant", "content": "a"}]}, "unknown role.*'tool'"),
    ({"messages": [{"role": "user", "content": None}, {"role": "assistant", "content": "a"}]}, "content must be"),
    ({"messages": _m((U, "u"), (A, "a"), (U, "again"))}, "does not end with an assistant turn"),
    ({"messages": "[not json"}, "'messages' is not valid JSON"),
    ({"conversations": [{"from": "bot", "value": "x"}]}, "unknown 'from'.*'bot'"),
    ({"conversations": [{"from": "human", "value": "x"}]}, "'conversations' has no assistant turn"),
    ({"conversations": [{"from": "gpt", "value": 3}]}, "'value' must be a string"),
    ({"conversations": []}, "'conversations' must be a non-empty list"),
    ({"instruction": "Do X", "input": "y"}, "missing or empty 'output'"),
    ({"output": "done"}, "missing or empty 'instruction'"),
    ({"instruction": "Do X", "input": 5, "output": "o"}, "'input' must be a string"),
    ({"prompt": "P", "completion": ""}, "missing or empty 'completion'"),
    ({"prompt": "P", "completion": _m((A, "a"))}, "both be strings or both lists"),
    ({"prompt": _m((U, "u")), "completion": _m((U, "v"))}, "'completion' has no assistant turn"),
    ({"prompt": _m((U, "u")), "completion": _m((A, "a"), (U, "v"))}, "'completion' does not end with an assistant"),
    ({"prompt": 7, "response": "R"}, "'prompt' must be a string"),
])
def test_bad_records_say_why(record, match):
    with pytest.raises(RecordError, match=match):
        normalise(record)


def test_errors_quote_only_a_short_excerpt():
    long_role = "x" * 5000
    with pytest.raises(RecordError) as e:
        normalise({"messages": [{"role": long_role, "content": "c"}]})
    assert len(str(e.value)) < 200


def test_column_mapping():
    cols = {"prompt": "question", "response": "answer"}
    assert normalise({"question": "Q", "answer": "A", "id": 1}, columns=cols) == _m((U, "Q"), (A, "A"))
    # alpaca under other names; a swap of canonical names works too
    assert normalise({"task": "T", "out": "O"}, columns={"instruction": "task", "output": "out"}) == _m(
        (U, "T"), (A, "O"))
    assert normalise({"prompt": "R", "response": "P"}, columns={"prompt": "response", "response": "prompt"}) == _m(
        (U, "P"), (A, "R"))
    with pytest.raises(RecordError, match=r"missing column 'question' \(mapped to 'prompt'\)"):
        normalise({"answer": "A"}, columns=cols)


@pytest.mark.parametrize("columns,match", [
    ({"answer": "a"}, "unknown field 'answer'"),
    ({"prompt": ""}, r"columns\['prompt'\] must be a non-empty"),
    ({"prompt": "q", "instruction": "q"}, r"columns\['instruction'\].*already mapped to 'prompt'"),
])
def test_bad_column_mapping_rejected(columns, match):
    with pytest.raises(ValueError, match=match):
        check_columns(columns)
    with pytest.raises(ValidationError, match=match):
        TrainingJobRequest(name="demo", data_paths=["d.jsonl"], columns=columns)
    with pytest.raises(ValueError, match=match):
        normalise({"prompt": "P", "response": "R"}, columns=columns)


def test_request_accepts_valid_columns():
    assert check_columns(None) == {}
    req = TrainingJobRequest(name="demo", data_paths=["d.jsonl"], columns={"prompt": "question"})
    assert req.columns == {"prompt": "question"}
    assert TrainingJobRequest(name="demo", data_paths=["d.jsonl"]).columns is None
