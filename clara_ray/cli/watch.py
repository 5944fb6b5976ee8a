"""Follow a training job until it is finished: a live Rich progress bar (step/total, loss, ETA) fed by polling."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from clara_ray.cli.client import ApiClient, ApiError
from clara_ray.cli.context import out
from clara_ray.cli.render import TERMINAL, duration, number, status


def _fields(job: dict) -> dict:
    m = job.get("metrics") or {}
    total = job.get("total_steps")
    return {"steps": f"{job.get('step') or 0}/{total}" if total else "-/-",
            "loss": number(m.get("loss")) if "loss" in m else "-",
            "eta": duration(job.get("eta_seconds")) if job.get("eta_seconds") is not None else "-"}


def poll_until_finished(api: ApiClient, job: dict, poll_seconds: float,
                        on_update: Callable[[dict], None] = lambda job: None,
                        sleep: Callable[[float], None] = time.sleep) -> dict:
    """GET the job every `poll_seconds` until COMPLETED, FAILED or CANCELLED; `on_update` sees every view."""
    job_id = job["job_id"]
    while True:
        on_update(job)
        if job.get("status") in TERMINAL:
            return job
        sleep(poll_seconds)
        try:
            job = api.get(f"/api/training/jobs/{job_id}")
        except ApiError as e:
            raise ApiError(f"{e} (job {job_id} goes on on the server: `clara jobs show {job_id}`)", e.status) from None


def watch_with_progress(api: ApiClient, job: dict, poll_seconds: float) -> dict:
    """Poll the job with a progress bar; prints each status change on its own line. Returns the final view."""
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
               TextColumn("step {task.fields[steps]}"), TextColumn("loss {task.fields[loss]}"),
               TextColumn("ETA {task.fields[eta]}"), TimeElapsedColumn())
    seen: list[str | None] = [None]
    with Progress(*columns, console=out) as progress:
        task = progress.add_task(job.get("name") or job["job_id"], total=None, **_fields(job))

        def update(view: dict) -> None:
            if view.get("status") != seen[0]:
                seen[0] = view.get("status")
                progress.console.print(Text.assemble(f"job {view['job_id']}: ", status(seen[0])))
            total = view.get("total_steps") or None
            done = total if view.get("status") == "COMPLETED" and total else (view.get("step") or 0)
            progress.update(task, total=total, completed=done, **_fields(view))

        return poll_until_finished(api, job, poll_seconds, update)
