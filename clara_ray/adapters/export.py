"""Take adapter versions out: a .tar.gz of the PEFT folder, or the adapter merged into its base as a plain HF model."""

from __future__ import annotations

import re
import shutil
import tarfile
import tempfile
import uuid
from pathlib import Path

from clara_ray.adapters.registry import InvalidReference, RegistryConflict
from clara_ray.adapters.store import AdapterStore
from clara_ray.names import InvalidName, NameKind, check_name

class InvalidExportPath(InvalidReference):
    """`output_dir` is not a safe relative folder name (HTTP 422)."""


class ExportExists(RegistryConflict):
    """The export folder already exists (HTTP 409); exports are never overwritten."""


def archive_name(name: str, version: int) -> str:
    return f"{name}-v{version}.tar.gz"


def build_archive(store: AdapterStore, uri: str, filename: str) -> Path:
    """Write `<tmp>/<filename>` holding the version's files under `<filename minus .tar.gz>/`; fetched through the
    store (any fsspec URI). The caller streams it, then calls `remove_archive`."""
    tmp = Path(tempfile.mkdtemp(prefix="clara-archive-"))
    try:
        folder = store.local_path(uri, tmp / "fetch")
        top = filename.removesuffix(".tar.gz")
        out = tmp / filename
        with tarfile.open(out, "w:gz") as tar:
            for f in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
                tar.add(f, arcname=f"{top}/{f.relative_to(folder).as_posix()}", recursive=False)
        shutil.rmtree(tmp / "fetch", ignore_errors=True)
        return out
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_archive(path: Path) -> None:
    shutil.rmtree(Path(path).parent, ignore_errors=True)


def check_export_name(output_dir: str) -> str:
    """A relative folder name (`a` or `a/b`, at most 4 levels, 200 characters), each folder a valid
    clara_ray/names.py PATH_PART name: no absolute path, `..`, backslash or control character. Raises ValueError."""
    if not output_dir:
        raise ValueError("output_dir must not be empty")
    if len(output_dir) > 200:
        raise ValueError(f"output_dir is {len(output_dir)} characters long, the limit is 200")
    if output_dir.startswith(("/", "~")) or re.match(r"[A-Za-z]:", output_dir):
        raise ValueError("output_dir must be relative to the exports folder, not an absolute path")
    parts = output_dir.split("/")
    if len(parts) > 4:
        raise ValueError("output_dir may have at most 4 folder levels")
    for part in parts:
        try:
            check_name(part, NameKind.PATH_PART)
        except InvalidName as e:
            raise ValueError(f"output_dir folder {part[:40]!r} {e}") from None
    return output_dir


def resolve_export_dir(exports_root: Path, output_dir: str) -> Path:
    """`<exports_root>/<output_dir>`, checked to stay inside the root. Raises InvalidExportPath / ExportExists."""
    try:
        check_export_name(output_dir)
    except ValueError as e:
        raise InvalidExportPath(str(e)) from None
    root = Path(exports_root).resolve()
    out = (root / output_dir).resolve()
    if not out.is_relative_to(root) or out == root:
        raise InvalidExportPath(f"output_dir {output_dir!r} leaves the exports folder")
    if out.exists():
        raise ExportExists(f"output_dir {output_dir!r} already exists under the exports folder; choose another name")
    return out


def merge_adapter(base_model_path: str, adapter_dir: Path, out_dir: Path, *, tokenizer=None) -> list[str]:
    """Merge the LoRA into the base (its own dtype) and save model + tokenizer (default: the base's own) to
    `out_dir`, written atomically. Returns the files written, relative to `out_dir`. Slow: run it in a thread."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(base_model_path, dtype="auto")
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        merged.save_pretrained(tmp)
        (tokenizer or AutoTokenizer.from_pretrained(base_model_path)).save_pretrained(tmp)
        if out_dir.exists():
            raise ExportExists(f"{out_dir.name!r} appeared while merging; choose another output_dir")
        tmp.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if p.is_file())
