"""`clara train CONFIG`: submit a job YAML (fields of TrainingJobRequest) and follow it with a progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.text import Text

from clara_ray.cli.context import JsonFlag, fail, out, print_json, state_of, wants_json
from clara_ray.cli.render import duration, number, status
from clara_ray.cli.watch import poll_until_finished, watch_with_progress


def load_job_config(path: Path, overrides: list[str]) -> dict[str, Any]:
    """The job body from a YAML file, with `KEY=VALUE` overrides (YAML values; `lora.r=8` sets a nested field)."""
    if not path.is_file():
        fail(f"job config {path} not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        fail(f"job config {path} is not valid YAML{where}: {getattr(e, 'problem', None) or e}")
    except (OSError, UnicodeDecodeError) as e:
        fail(f"cannot read job config {path}: {e}")
    data = {} if data is None else data
    if not isinstance(data, dict):
        fail(f"job config {path} must be a mapping of job fields (see configs/train/*.yaml), not {type(data).__name__}")
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"--set {item!r}: expected KEY=VALUE")
        *parents, leaf = key.strip().split(".")
        target = data
        for part in parents:
            child = target.setdefault(part, {})
            if not isinstance(child, dict):
                fail(f"--set {item!r}: {part} is not a mapping")
            target = child
        try:
            target[leaf] = yaml.safe_load(value)
        except yaml.YAMLError:
            fail(f"--set {item!r}: the value is not valid YAML")
    return data


def summary(job: dict) -> Text:
    m = job.get("metrics") or {}
    parts = [f"job {job['job_id']} finished in {duration(m.get('train_seconds'))}" if m.get("train_seconds")
             else f"job {job['job_id']} finished"]
    if m.get("adapter"):
        parts.append(f"new adapter version {m['adapter']}")
    if "ppl_before" in m and "ppl_after" in m:
        parts.append(f"validation perplexity {number(m['ppl_before'])} -> {number(m['ppl_after'])}")
    if job.get("step"):
        parts.append(f"{job['step']} steps")
    return Text("; ".join(parts))


def train(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(help="Job YAML: fields of TrainingJobRequest (see configs/train/). "
                                                "Data paths in it are read by the server.")],
    overrides: Annotated[list[str] | None, typer.Option("--set", metavar="KEY=VALUE",
                                                         help="Override a job field, e.g. --set max_steps=20 "
                                                              "(repeatable; YAML values).")] = None,
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Submit and print the job id; do not wait.")] = False,
    json_out: JsonFlag = False,
) -> None:
    """Submit a training job and follow it (step, loss, ETA) until it finishes; exit 1 if it fails."""
    state = state_of(ctx)
    body = load_job_config(config, overrides or [])
    as_json = wants_json(ctx, json_out)
    with state.client() as api:
        job = api.post("/api/training/jobs", body)
        if detach:
            if as_json:
                print_json(job)
            else:
                out.print(Text.assemble(f"job {job['job_id']} submitted: ", status(job.get("status"))))
                out.print(f"follow it with: clara jobs show {job['job_id']}")
            return
        try:
            if as_json:
                job = poll_until_finished(api, job, state.poll_seconds)
            else:
                out.print(f"job {job['job_id']} submitted (adapter {job.get('name')}, {job.get('trainer_type')})")
                job = watch_with_progress(api, job, state.poll_seconds)
        except KeyboardInterrupt:
            fail(f"stopped watching; job {job['job_id']} goes on (`clara jobs cancel {job['job_id']}` stops it)", 130)
    if as_json:
        print_json(job)
    if job["status"] == "COMPLETED":
        if not as_json:
            out.print(summary(job))
        return
    fail(f"job {job['job_id']} {job['status']}: {job.get('error') or 'no error recorded'} "
         f"(`clara jobs logs {job['job_id']}`)")
