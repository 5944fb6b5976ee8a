"""Training routes: create/get/list/cancel/retry jobs and the live WebSocket of job and metrics events."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request, WebSocket

from clara_ray.api.auth import Principal, require
from clara_ray.api.backends import backend
from clara_ray.api.ws import pump_events
from clara_ray.training.control import JobsControl
from clara_ray.training.recipe import default_recipe
from clara_ray.training.spec import JobStatus, TrainerType, TrainingJobRequest, check_data_paths


router = APIRouter(prefix="/api/training", tags=["training"])


def _jobs(request: Request) -> JobsControl:
    return backend(request, "jobs")


@router.post("/jobs", status_code=201)
async def create_job(body: TrainingJobRequest, request: Request,
                     who: Annotated[Principal, require("training:create")]) -> dict:
    """Submit a training job; it is QUEUED and starts when a slot is free. `data_paths` must lie under
    `training.data_roots` (403 naming the entry otherwise)."""
    await asyncio.to_thread(check_data_paths, body, request.app.state.settings)  # walks folders: off the loop
    return await _jobs(request).create(body, who.subject)


@router.get("/defaults")
async def training_defaults(request: Request, who: Annotated[Principal, require("training:read")]) -> dict:
    """What a job gets for each field it leaves unset (the server's config), per trainer type where they differ."""
    st = request.app.state.settings
    t, c = st.training, st.continuous
    recipe = default_recipe(st.model.base_model)
    lr = t.learning_rate or recipe.learning_rate
    per_type = {k.value: {"learning_rate": c.learning_rate or recipe.continuous_learning_rate
                          if k == TrainerType.CONTINUOUS else lr,
                          "epochs": c.epochs or recipe.continuous_epochs if k == TrainerType.CONTINUOUS else t.epochs}
                for k in TrainerType}
    return {"base_model": st.model.base_model, "lora": st.lora.model_dump(), "qlora_bits": st.qlora.bits,
            "batch_size": t.batch_size, "grad_accum_steps": t.grad_accum_steps,
            "block_size": t.block_size or recipe.block_size, "train_on_prompt": t.train_on_prompt,
            "max_seq_length": st.data.max_seq_length or recipe.max_seq_length,
            "num_workers": t.num_workers, "use_gpu": t.use_gpu, "timeout_seconds": t.job_timeout_seconds,
            "by_trainer_type": per_type}


@router.get("/jobs/{job_id}")
async def get_job(job_id: str, request: Request, who: Annotated[Principal, require("training:read")]) -> dict:
    return await _jobs(request).get(job_id)


@router.get("/jobs/{job_id}/metrics")
async def job_metrics(job_id: str, request: Request, who: Annotated[Principal, require("training:read")]) -> dict:
    """Curve points so far: `step` points (loss, learning_rate, tokens_per_s) and `eval` points (perplexity)."""
    return await _jobs(request).metrics(job_id)


@router.get("/jobs")
async def list_jobs(
    request: Request,
    who: Annotated[Principal, require("training:read")],
    status: Annotated[list[JobStatus] | None, Query()] = None,
    trainer_type: TrainerType | None = None,
    name: str | None = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,  # bounded: SQL takes int64 (a larger one was a 500)
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict:
    """Jobs newest first, filtered by status (repeatable), trainer type or adapter name; paginated."""
    limit = min(limit, request.app.state.settings.api.max_page_size)
    return await _jobs(request).list(status=[s.value for s in status] if status else None,
                                     trainer_type=trainer_type.value if trainer_type else None,
                                     name=name, offset=offset, limit=limit)


@router.delete("/jobs/{job_id}")
async def cancel_job(job_id: str, request: Request, who: Annotated[Principal, require("training:cancel")]) -> dict:
    """Cancel a queued or running job (its Ray workers stop within seconds); 409 if already finished."""
    return await _jobs(request).cancel(job_id)


@router.post("/jobs/{job_id}/retry", status_code=201)
async def retry_job(job_id: str, request: Request, who: Annotated[Principal, require("training:create")]) -> dict:
    """A new attempt of a FAILED or CANCELLED job, with the same request; 409 otherwise."""
    return await _jobs(request).retry(job_id, who.subject)


@router.websocket("/ws")
async def training_events(ws: WebSocket, who: Annotated[Principal, require("training:read")],
                          after: int | None = None, job_id: str | None = None) -> None:
    """Streams `job_update` and `metrics_update` events as they happen.

    `after`: resume after this event sequence number (default: only new events). `job_id`: only that job.
    """
    await pump_events(ws, ws.app.state.jobs, after,
                      keep=lambda e: not job_id or e["data"].get("job_id") == job_id)
