"""ONNX Runtime sentence encoder: the configured sentence-transformers model exported locally (no hub), optionally int8.

The whole sentence-transformers pipeline (transformer, pooling, normalisation) is traced into one ONNX graph with
torch's exporter, from the local model folder, and cached next to nothing else: `<cache>/<fingerprint>/model.onnx`
(and `model-int8.onnx`, dynamically quantised weights). Texts are tokenised with the model's own tokenizer,
sorted by length and batched so that padding stays small.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np

from clara_ray.datasets.embedding_model import encoder_cache, model_fingerprint, model_path

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def export(name: str, *, quantize: bool, cache: Path | None = None) -> Path:
    """Path of the ONNX file for model `name` (exported on first use; an existing file is reused)."""
    folder = (cache or encoder_cache("onnx")) / model_fingerprint(name)
    target = folder / ("model-int8.onnx" if quantize else "model.onnx")
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    plain = folder / "model.onnx"
    if not plain.exists():
        _export_plain(name, plain)
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp = Path(tempfile.mkstemp(dir=folder, suffix=".onnx")[1])
        # Only the MatMul weights, per output channel: int8 over every op (embeddings included) or per tensor put
        # the vectors at cosine 0.87 to fp32 on the bundled corpus; this way 0.985, at the same speed.
        quantize_dynamic(str(plain), str(tmp), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                         per_channel=True)
        tmp.replace(target)  # atomic: a concurrent reader never sees half a file
    return target


def _export_plain(name: str, target: Path) -> None:
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_path(name), device="cpu")

    class Whole(torch.nn.Module):
        def __init__(self, st):
            super().__init__()
            self.st = st

        def forward(self, input_ids, attention_mask, token_type_ids):
            feats = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
            return self.st(feats)["sentence_embedding"]

    enc = model.tokenizer(["ein Satz", "ein etwas längerer zweiter Satz"], padding=True, return_tensors="pt")
    if "token_type_ids" not in enc:
        enc["token_type_ids"] = torch.zeros_like(enc["input_ids"])
    tmp = Path(tempfile.mkstemp(dir=target.parent, suffix=".onnx")[1])
    # The tracer warns that shape checks (padding length, pooling mask size) become constants: they hold for every
    # input here, since the mask always spans the whole padded batch (checked against torch in the tests).
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Whole(model).eval(), tuple(enc[k] for k in INPUTS), str(tmp), input_names=list(INPUTS),
                          output_names=["sentence_embedding"], opset_version=17, dynamo=False,
                          dynamic_axes={**{k: {0: "batch", 1: "tokens"} for k in INPUTS},
                                        "sentence_embedding": {0: "batch"}})
    tmp.replace(target)


class OnnxEmbedder:
    """Same interface as embedding.Embedder (`embed(texts) -> (n, dim)` unit vectors, `name`, `fingerprint`, `dim`)."""

    def __init__(self, name: str, *, quantize: bool = True, max_tokens: int = 128, batch_size: int = 64,
                 threads: int | None = None, cache: Path | None = None):
        import onnxruntime as ort
        from transformers import AutoTokenizer

        self.name, self.fingerprint = name, model_fingerprint(name)
        self.backend = "onnx-int8" if quantize else "onnx"
        self.tokenizer = AutoTokenizer.from_pretrained(model_path(name))
        self.max_tokens, self.batch_size = max_tokens, batch_size
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(export(name, quantize=quantize, cache=cache)), opts,
                                            providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]  # a model without token types has no such input
        self.pad = self.tokenizer.pad_token_id or 0
        self.dim = int(self.embed(["x"]).shape[1])

    def embed(self, texts: list[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)
        enc = self.tokenizer(texts, truncation=True, max_length=self.max_tokens)
        order = np.argsort([len(ids) for ids in enc["input_ids"]], kind="stable")
        out = [None] * len(texts)
        for i in range(0, len(order), self.batch_size):
            idx = order[i:i + self.batch_size]
            width = max(len(enc["input_ids"][j]) for j in idx)
            feed = {k: np.zeros((len(idx), width), dtype=np.int64) for k in INPUTS}
            feed["input_ids"][:] = self.pad
            for row, j in enumerate(idx):
                n = len(enc["input_ids"][j])
                feed["input_ids"][row, :n] = enc["input_ids"][j]
                feed["attention_mask"][row, :n] = 1
                if "token_type_ids" in enc:
                    feed["token_type_ids"][row, :n] = enc["token_type_ids"][j]
            vecs = self.session.run(None, {k: feed[k] for k in self.inputs})[0]
            for row, j in enumerate(idx):
                out[j] = vecs[row]
        arr = np.asarray(out, dtype=np.float32)
        return arr / np.maximum(np.linalg.norm(arr, axis=1, keepdims=True), 1e-12)
