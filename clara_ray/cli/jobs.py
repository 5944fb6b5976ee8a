"""`clara jobs list|show|cancel|retry|logs`: training jobs through /api/training/jobs."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text

from clara_ray.cli.context import JsonFlag, out, print_json, state_of, wants_json
from clara_ray.cli.render import duration, key_values, number, short_time, status, table, timestamp

app = typer.Typer(help="Training jobs: list, inspect, cancel, retry, read their metrics.", no_args_is_help=True)

JobId = Annotated[str, typer.Argument(help="Job id (as printed by `clara train` or `clara jobs list`).")]


def progress_text(job: dict) -> str:
    if job.get("total_steps"):
        return f"{job.get('step') or 0}/{job['total_steps']}"
    return str(job.get("step") or 0) if job.get("step") else "-"


def show_job(job: dict) -> None:
    m = job.get("metrics") or {}
    pairs: list[tuple[str, Any]] = [
        ("job", job["job_id"]), ("adapter", job.get("name")), ("type", job.get("trainer_type")),
        ("status", status(job.get("status"))), ("step", progress_text(job)),
        ("attempt", f"{job.get('attempt')}" + (f" (retry of {job['retry_of']})" if job.get("retry_of") else "")),
        ("priority", job.get("priority")),
        ("created", f"{timestamp(job.get('created_at'))} by {job.get('created_by')}"),
        ("started", timestamp(job.get("started_at"))), ("finished", timestamp(job.get("finished_at"))),
    ]
    if job.get("status") == "RUNNING":
        pairs.append(("eta", duration(job.get("eta_seconds"))))
    for key in ("loss", "perplexity", "ppl_before", "ppl_after", "tokens_per_s"):
        if key in m:
            pairs.append((key, number(m[key])))
    if m.get("adapter"):
        pairs.append(("new version", m["adapter"]))
    if job.get("error"):
        pairs.append(("error", Text(job["error"], style="red")))
    key_values(pairs)
    trials = (m.get("sweep") or {}).get("trials") or m.get("trials")
    if trials:
        show_trials(trials, (m.get("sweep") or {}).get("best_trial"))


def show_trials(trials: list[dict], best: str | None) -> None:
    """A sweep's trial table (training/tune_sweep.py TrialBoard), the winner marked."""
    rows = [(("* " if t["trial_id"] == best else "") + t["trial_id"], t["status"],
             ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in t["config"].items()),
             t.get("evaluations", 0), number(t.get("val_perplexity"))) for t in trials]
    table(["trial", "status", "configuration", "evaluations", "val perplexity"], rows,
          title="sweep trials" + (" (* best)" if best else ""))


@app.command("list")
def list_jobs(
    ctx: typer.Context,
    status_filter: Annotated[list[str] | None, typer.Option("--status", "-s", help="Only this status (repeatable): "
                                                             "QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED.")] = None,
    name: Annotated[str | None, typer.Option(help="Only jobs of this adapter name.")] = None,
    trainer_type: Annotated[str | None, typer.Option("--type", help="LORA, QLORA or CONTINUOUS.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many (newest first).")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many.")] = 0,
    json_out: JsonFlag = False,
) -> None:
    """List training jobs, newest first."""
    params: list[tuple[str, str | int]] = [("limit", limit), ("offset", offset)]
    params += [("status", s.upper()) for s in status_filter or []]
    if name:
        params.append(("name", name))
    if trainer_type:
        params.append(("trainer_type", trainer_type.upper()))
    with state_of(ctx).client() as api:
        page = api.get("/api/training/jobs", params=params)
    if wants_json(ctx, json_out):
        print_json(page)
        return
    items = page.get("items", [])
    if not items:
        out.print("no jobs")
        return
    table(["job", "adapter", "type", "status", "step", "created", "error"],
          [(j["job_id"], j.get("name"), j.get("trainer_type"), status(j.get("status")), progress_text(j),
            short_time(j.get("created_at")), (j.get("error") or "")[:60]) for j in items])
    total = page.get("total", len(items))
    if total > offset + len(items):
        out.print(f"{len(items)} of {total} jobs (more with --offset {offset + len(items)})")


@app.command("show")
def show(ctx: typer.Context, job_id: JobId, json_out: JsonFlag = False) -> None:
    """Show one job: status, progress, metrics, error."""
    with state_of(ctx).client() as api:
        job = api.get(f"/api/training/jobs/{job_id}")
    if wants_json(ctx, json_out):
        print_json(job)
    else:
        show_job(job)


@app.command("cancel")
def cancel(ctx: typer.Context, job_id: JobId, json_out: JsonFlag = False) -> None:
    """Cancel a queued or running job (its workers stop within seconds)."""
    with state_of(ctx).client() as api:
        job = api.delete(f"/api/training/jobs/{job_id}")
    if wants_json(ctx, json_out):
        print_json(job)
    else:
        out.print(Text.assemble(f"job {job['job_id']}: ", status(job.get("status"))))


@app.command("retry")
def retry(ctx: typer.Context, job_id: JobId, json_out: JsonFlag = False) -> None:
    """Start a new attempt of a FAILED or CANCELLED job with the same request."""
    with state_of(ctx).client() as api:
        job = api.post(f"/api/training/jobs/{job_id}/retry")
    if wants_json(ctx, json_out):
        print_json(job)
    else:
        out.print(Text.assemble(f"job {job['job_id']} (attempt {job.get('attempt')}, retry of {job_id}): ",
                                status(job.get("status"))))
        out.print(f"follow it with: clara jobs show {job['job_id']}")


def point_line(p: dict) -> str:
    kind = p.get("kind")
    if kind == "step":
        return (f"step {p.get('step')}: loss {number(p.get('loss'))}  lr {number(p.get('learning_rate'), 3)}  "
                f"{number(p.get('tokens_per_s'), 4)} tokens/s")
    if kind == "eval":
        return f"eval  {p.get('step')}: perplexity {number(p.get('perplexity'))}"
    rest = {k: v for k, v in p.items() if k not in ("kind", "step", "time")}
    return f"{kind}: " + ", ".join(f"{k}={v}" for k, v in rest.items())


@app.command("logs")
def logs(ctx: typer.Context, job_id: JobId, json_out: JsonFlag = False) -> None:
    """Print a job's recorded events: data preparation, step losses, evaluations, and its error."""
    with state_of(ctx).client() as api:
        job = api.get(f"/api/training/jobs/{job_id}")
        points = api.get(f"/api/training/jobs/{job_id}/metrics").get("points", [])
    if wants_json(ctx, json_out):
        print_json({"job": job, "points": points})
        return
    out.print(Text.assemble(f"job {job_id} ({job.get('name')}, {job.get('trainer_type')}): ",
                            status(job.get("status"))))
    for p in points:
        out.print(point_line(p))
    if not points:
        out.print("no metrics recorded yet")
    if job.get("error"):
        out.print(Text(f"error: {job['error']}", style="red"))
