"""Training job request (what users submit) and the fully-resolved plan the train loop runs."""

from __future__ import annotations

import enum
import re
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from clara_ray.config import ClaraSettings
from clara_ray.names import NameKind, check_name
from clara_ray.server_paths import Roots
from clara_ray.training.alias_recipes import RecipeValues
from clara_ray.training.recipe import default_recipe
from clara_ray.training.sweep_spec import SweepSpec, check_sweep_for
from clara_ray.records import check_columns

# For `pattern=` of query parameters (pydantic's regex: `$` is the end of the text). Code checks names with
# clara_ray.names.check_name, which also says what is wrong.
ADAPTER_NAME_RE = re.compile(rf"^{NameKind.ADAPTER.value.pattern.pattern}$")


class TrainerType(str, enum.Enum):
    LORA = "LORA"
    QLORA = "QLORA"
    CONTINUOUS = "CONTINUOUS"


class JobStatus(str, enum.Enum):
    PENDING = "PENDING"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


def check_adapter_name(name: str) -> str:
    """Adapter names go into paths and peft module names: a strict slug (clara_ray/names.py), and never a
    substring of 'lora_'. Raises InvalidName (a ValueError)."""
    check_name(name, NameKind.ADAPTER)
    if name in "lora_":
        raise ValueError("must not be a substring of 'lora_' (peft reserves it)")
    return name


def data_roots(settings: ClaraSettings, *, internal: bool = False) -> Roots:
    """Where a job's `data_paths` may lie: `training.data_roots`; `internal` adds `learning.data_uri` (default
    `<data_dir>/learning`), where the learning loop writes its cycle files (jobs it submits itself, not through the
    API)."""
    extra = [settings.learning_data_uri] if internal else []
    return Roots.from_config([*settings.training.data_roots, *extra], setting="training.data_roots",
                             data_dir=settings.storage.data_dir, project_dir=settings.storage.project_dir)


def check_data_paths(req: "TrainingJobRequest", settings: ClaraSettings, *, internal: bool = False) -> list[str]:
    """The job's data locations, each resolved and under `training.data_roots` (PathOutsideRoots, HTTP 403, names
    `data_paths.<i>`); [] for a job on a registered dataset."""
    return data_roots(settings, internal=internal).check_all(req.data_paths or [], "data_paths")


class LoraOverrides(BaseModel):
    model_config = {"extra": "forbid"}
    r: int | None = Field(None, gt=0, le=512)
    """LoRA rank (default from config `lora.r`)."""
    alpha: int | None = Field(None, gt=0)
    """LoRA alpha (default `lora.alpha`)."""
    dropout: float | None = Field(None, ge=0, lt=1)
    """LoRA dropout (default `lora.dropout`)."""
    target_modules: list[str] | None = Field(None, min_length=1)
    """Modules to adapt (default `lora.target_modules`)."""


class TrainingJobRequest(BaseModel):
    """A training job as submitted through the API, `jobs.train` or the learning loop."""

    model_config = {"extra": "forbid"}

    name: str
    """Adapter name (the alias the new version is registered under)."""
    trainer_type: TrainerType = TrainerType.LORA
    """LORA, QLORA (4/8-bit base) or CONTINUOUS (from an existing version, low LR, one epoch)."""
    dataset_id: str | None = None
    """A registered dataset version to train on."""
    data_paths: list[str] | None = None
    """Or: files/URIs (JSONL, Parquet, CSV) of chat `messages`, ShareGPT `conversations`, alpaca, TRL
    `prompt`/`completion`, `prompt`/`response` or plain `text` records (see clara_ray/records.py; `columns` maps others)."""
    record_filter: dict[str, str] | None = None
    """Keep only records whose fields equal these values (e.g. {"domain": "baurecht"})."""
    train_on_prompt: bool | None = None
    """Loss on prompt tokens too (default `training.train_on_prompt`: only assistant turns carry loss)."""
    columns: dict[str, str] | None = None
    """Map canonical record fields to the data's column names (e.g. {"prompt": "question", "response": "answer"})."""
    base_model: str | None = None
    """Base model; default `model.base_model`. Must match the parent's base for CONTINUOUS."""
    parent: str | None = None
    """CONTINUOUS: version to start from (`name@v3`); default the active version of `name`."""
    lora: LoraOverrides = LoraOverrides()
    """LoRA hyperparameters; unset fields come from config."""
    qlora_bits: Literal[4, 8] | None = None
    """QLORA: 4 (nf4) or 8 bits; default `qlora.bits`."""
    learning_rate: float | None = Field(None, gt=0, le=1)
    """Peak learning rate; default `training.learning_rate` (CONTINUOUS: `continuous.learning_rate`), else the
    base model's recipe."""
    epochs: int | None = Field(None, ge=1, le=1000)
    """Passes over the training blocks."""
    max_steps: int | None = Field(None, ge=1)
    """Stop after this many optimizer steps (overrides epochs when reached first)."""
    batch_size: int | None = Field(None, ge=1, le=1024)
    """Blocks per worker per micro-batch."""
    grad_accum_steps: int | None = Field(None, ge=1, le=1024)
    """Micro-batches per optimizer step."""
    block_size: int | None = Field(None, ge=8, le=8192)
    """Tokens per packed block."""
    num_workers: int | None = Field(None, ge=1, le=256)
    """Ray Train workers (DDP ranks)."""
    use_gpu: bool | None = None
    """Train on GPUs."""
    checkpoint_every_steps: int | None = Field(None, ge=1)
    """Checkpoint interval in optimizer steps."""
    timeout_seconds: float | None = Field(None, gt=0)
    """Per-job timeout; default `training.job_timeout_seconds`."""
    priority: int = Field(3, ge=1, le=5)
    """Queue priority: 1 runs first, 5 last; FIFO within a priority."""
    activate: Literal["if_none", "always", "never"] = "if_none"
    """Point the alias at the new version: only when it has none yet (default), always, or never (gate decides)."""
    domain: str | None = Field(None, max_length=64)
    """Domain label stored with the version (used by the router)."""
    description: str | None = Field(None, max_length=2000)
    """Free text stored with the version."""
    sweep: SweepSpec | None = None
    """Make this job a hyperparameter sweep on Ray Tune: trials over `sweep.space`, the best one registered
    (training/tune_sweep.py). The job's other fields are the recipe's fixed part."""

    _check_name = field_validator("name")(lambda cls, v: check_adapter_name(v))
    _check_columns = field_validator("columns")(lambda cls, v: None if v is None else check_columns(v))

    @model_validator(mode="after")
    def _one_data_source(self) -> "TrainingJobRequest":
        if bool(self.dataset_id) == bool(self.data_paths):
            raise ValueError("give exactly one of dataset_id or data_paths")
        if self.parent and self.trainer_type != TrainerType.CONTINUOUS:
            raise ValueError("parent is only valid for CONTINUOUS jobs")
        if self.sweep is not None:
            check_sweep_for(self.sweep.space, self.trainer_type == TrainerType.CONTINUOUS)
        return self


class TrainPlan(BaseModel):
    """Every value the train loop needs, resolved from request + config. Shipped to Ray Train workers."""

    job_id: str
    name: str
    """Adapter name: part of the checkpoint folder and Ray Train run name (checked again here)."""
    trainer_type: TrainerType
    base_model_path: str
    parent_adapter_path: str | None = None
    r: int
    alpha: int
    dropout: float
    target_modules: list[str]
    qlora_bits: int | None = None
    qlora_quant_type: str = "nf4"
    qlora_double_quant: bool = True
    learning_rate: float
    epochs: int
    max_steps: int | None = None
    batch_size: int
    grad_accum_steps: int
    block_size: int
    num_workers: int
    use_gpu: bool
    cpus_per_worker: float
    gpus_per_worker: float
    worker_resources: dict[str, float] = {}
    max_failures: int
    checkpoint_every_steps: int
    eval_every_steps: int
    seed: int
    checkpoint_uri: str
    train_on_prompt: bool = False
    max_seq_length: int = 512

    _check_name = field_validator("name")(lambda cls, v: check_adapter_name(v))


def resolve_plan(
    job_id: str,
    req: TrainingJobRequest,
    settings: ClaraSettings,
    *,
    base_model_path: str,
    parent_adapter_path: str | None = None,
    alias_recipe: RecipeValues | None = None,
) -> TrainPlan:
    """Fill every unset request field from the alias's recipe (training/alias_recipes.py; the part for this job's
    kind), then from config, then from the base model's recipe (training/recipe.py)."""
    t, lo = settings.training, settings.lora
    continuous = req.trainer_type == TrainerType.CONTINUOUS
    recipe = default_recipe(base_model_path)
    ar = alias_recipe or RecipeValues()
    return TrainPlan(
        job_id=job_id,
        name=req.name,
        trainer_type=req.trainer_type,
        base_model_path=base_model_path,
        parent_adapter_path=parent_adapter_path,
        r=req.lora.r or ar.r or lo.r,
        alpha=req.lora.alpha or ar.alpha or lo.alpha,
        dropout=_first(req.lora.dropout, ar.dropout, lo.dropout),
        target_modules=req.lora.target_modules or ar.target_modules or lo.target_modules,
        qlora_bits=(req.qlora_bits or settings.qlora.bits) if req.trainer_type == TrainerType.QLORA else None,
        qlora_quant_type=settings.qlora.quant_type,
        qlora_double_quant=settings.qlora.double_quant,
        learning_rate=req.learning_rate or ar.learning_rate or (
            settings.continuous.learning_rate or recipe.continuous_learning_rate if continuous
            else t.learning_rate or recipe.learning_rate),
        epochs=req.epochs or ar.epochs or (settings.continuous.epochs or recipe.continuous_epochs if continuous else t.epochs),
        max_steps=req.max_steps or ar.max_steps,
        batch_size=req.batch_size or t.batch_size,
        grad_accum_steps=req.grad_accum_steps or t.grad_accum_steps,
        block_size=req.block_size or t.block_size or recipe.block_size,
        num_workers=req.num_workers or t.num_workers,
        use_gpu=t.use_gpu if req.use_gpu is None else req.use_gpu,
        cpus_per_worker=t.cpus_per_worker,
        gpus_per_worker=t.gpus_per_worker,
        worker_resources=t.worker_resources,
        max_failures=t.max_failures,
        checkpoint_every_steps=req.checkpoint_every_steps or t.checkpoint_every_steps,
        eval_every_steps=t.eval_every_steps,
        seed=t.seed,
        checkpoint_uri=settings.storage.checkpoint_uri,
        train_on_prompt=t.train_on_prompt if req.train_on_prompt is None else req.train_on_prompt,
        max_seq_length=settings.data.max_seq_length or recipe.max_seq_length,
    )


def _first(*values):
    """The first value that is not None (0 is a value: dropout 0.0)."""
    return next(v for v in values if v is not None)
