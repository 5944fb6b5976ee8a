"""`clara feedback send FILE`: JSONL feedback samples to POST /api/feedback/batch, in batches, with a report."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from clara_ray.cli.client import ApiError
from clara_ray.cli.context import JsonFlag, fail, out, print_json, state_of, wants_json
from clara_ray.cli.render import table

app = typer.Typer(help="Send user feedback to the learning loop.", no_args_is_help=True)

MAX_BATCH = 5000  # the API's limit per request
_ITEM_FIELD = re.compile(r"\bitems\.(\d+)\.?")


def read_samples(path: Path) -> list[tuple[int, dict]]:
    """(line number, object) for each non-blank line; fails on the first line that is not a JSON object."""
    if not path.is_file():
        fail(f"feedback file {path} not found")
    samples: list[tuple[int, dict]] = []
    try:
        with path.open(encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError as e:
                    fail(f"{path} line {lineno}: not valid JSON ({e.msg})")
                if not isinstance(obj, dict):
                    fail(f"{path} line {lineno}: expected a JSON object with prompt, response, rating, adapter")
                samples.append((lineno, obj))
    except UnicodeDecodeError:
        fail(f"{path} is not UTF-8 text")
    if not samples:
        fail(f"{path} holds no feedback samples")
    return samples


def _with_line_numbers(message: str, lines: list[int]) -> str:
    """A batch's validation error names `items.K.field`: say `line N: field` instead."""
    return _ITEM_FIELD.sub(lambda m: f"line {lines[int(m.group(1))]}: " if int(m.group(1)) < len(lines)
                           else m.group(0), message)


@app.command("send")
def send(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="JSONL: one object per line with prompt, response, rating (0..1), "
                                              "adapter, optional correction, importance, source.")],
    batch_size: Annotated[int, typer.Option(min=1, max=MAX_BATCH, help="Samples per request.")] = 500,
    json_out: JsonFlag = False,
) -> None:
    """Send feedback samples; report how many were accepted and why the others were rejected."""
    samples = read_samples(file)
    results: list[dict] = []
    with state_of(ctx).client() as api:
        for start in range(0, len(samples), batch_size):
            chunk = samples[start:start + batch_size]
            lines = [n for n, _ in chunk]
            try:
                answer = api.post("/api/feedback/batch", {"items": [obj for _, obj in chunk]})
            except ApiError as e:
                sent = f"; {start} samples before line {lines[0]} were sent" if start else ""
                raise ApiError(_with_line_numbers(str(e), lines) + sent, e.status) from None
            results += [{"line": n, **r} for n, r in zip(lines, answer.get("results", []))]
    accepted = sum(1 for r in results if r.get("accepted"))
    rejected = [r for r in results if not r.get("accepted")]
    if wants_json(ctx, json_out):
        print_json({"accepted": accepted, "rejected": len(rejected), "results": results})
        return
    out.print(f"{file}: {len(results)} samples, {accepted} accepted, {len(rejected)} rejected")
    if rejected:
        reasons = Counter(r.get("reason") or "rejected" for r in rejected)
        table(["rejected", "reason", "lines"],
              [(count, reason, ", ".join(str(r["line"]) for r in rejected if (r.get("reason") or "rejected") == reason)
                [:80]) for reason, count in reasons.most_common()])
