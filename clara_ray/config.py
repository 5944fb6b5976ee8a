"""Central configuration: one Pydantic settings tree from configs/clara.yaml, overridable by CLARA_* env vars.

Precedence (highest first): explicit kwargs > environment (CLARA_SECTION__FIELD) > YAML file > defaults.
The YAML file is `$CLARA_CONFIG` or `configs/clara.yaml` relative to the working directory.
An invalid value fails at load with a message naming the field (see `load_settings`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, YamlConfigSettingsSource

from clara_ray.console.settings import ConsoleSettings
from clara_ray.datasets.settings import DatasetSettings
from clara_ray.learning.settings import LearningSettings
from clara_ray.security.settings import SecurityConfig
from clara_ray.server_paths import PROJECT_DIR, check_root_entry
from clara_ray.serving.settings import RouterSettings, ServingSettings
from clara_ray.settings_section import Section

DEFAULT_CONFIG_PATH = Path("configs/clara.yaml")


class StorageSettings(Section):
    data_dir: Path = Path("~/.clara")
    """Local state folder (SQLite file, adapter store, checkpoints, model cache). Made absolute at load; a relative
    path is refused where it would land in Ray's unpacked copy of a working dir (`serve run --working-dir .`, `ray
    job submit --working-dir .`), which is empty and changes with every code change."""
    database_url: str = ""
    """SQLAlchemy URL. Empty = embedded SQLite at `<data_dir>/clara.db`; production: `postgresql+psycopg://user:pw@host/db`."""
    adapter_store_uri: str = ""
    """Where adapter versions are written: a local folder (default `<data_dir>/adapters`) or any fsspec/pyarrow URI (s3://, gs://)."""
    checkpoint_uri: str = ""
    """Ray Train storage path for checkpoints (default `<data_dir>/checkpoints`); must be shared storage on a multi-node cluster."""
    object_store_options: dict[str, str | int | float | bool] = {}
    """fsspec options of `adapter_store_uri` when it is remote, e.g. for S3-compatible stores (MinIO, R2, Ceph)
    `{endpoint_url: http://minio:9000}`; credentials best come from the usual environment (AWS_ACCESS_KEY_ID, ...)
    or an instance role, not from this file. Needs the `cloud` extra (s3fs) for s3://."""
    object_store_retries: int = Field(4, ge=1, le=20)
    """Attempts of each adapter-store read, write or delete on a remote store before its error is raised (waits
    double from 0.5 s; a local folder is never retried)."""
    project_dir: Path | None = None
    """Base of relative server paths: relative root entries (`training.data_roots`, ...) and relative paths sent by
    clients. Default: the folder holding the `clara_ray` package in the process that loads the configuration (the
    repository root in a checkout). Fixed at load like data_dir, so Ray actors running from a working-dir copy
    resolve paths the same way as the driver that started them."""

    @model_validator(mode="after")
    def _fill_defaults(self) -> "StorageSettings":
        # Absolute paths: Ray workers run with a different working directory.
        given = self.data_dir.expanduser()
        resolved = given.resolve()
        if not given.is_absolute() and "runtime_resources" in resolved.parts:
            raise ValueError(f"storage.data_dir {str(self.data_dir)!r} is relative and would resolve inside Ray's "
                             f"unpacked working dir ({resolved}); give an absolute path (default ~/.clara)")
        object.__setattr__(self, "data_dir", resolved)
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.data_dir / 'clara.db'}")
        if not self.adapter_store_uri:
            object.__setattr__(self, "adapter_store_uri", str(self.data_dir / "adapters"))
        if not self.checkpoint_uri:
            object.__setattr__(self, "checkpoint_uri", str(self.data_dir / "checkpoints"))
        object.__setattr__(self, "project_dir", (self.project_dir or PROJECT_DIR).expanduser().resolve())
        return self


class ModelSettings(Section):
    base_model: str = "tiny"
    """Base model: "tiny" builds the bundled random-init Llama locally; else a local HF folder or a hub id."""
    base_model_aliases: list[str] = []
    """Other names this base is known by (hub ids, folder paths); adapters trained on any of them are accepted.
    Needed only when the automatic match fails (a hub id vs a local copy with another folder name)."""
    chat_template: str | None = None
    """Chat template for training and serving: a Jinja string or the path of a file holding one. None: the
    tokenizer's own, or for a base without one a plain "### User: / ### Assistant:" template closing each
    assistant turn with EOS (clara_ray/model/chat_format.py: DEFAULT_CHAT_TEMPLATE)."""
    cache_dir: Path | None = None
    """Where the tiny model is built (default `<data_dir>/models`)."""
    tiny_hidden_size: int = Field(64, gt=0)
    """Hidden size of the tiny model."""
    tiny_num_layers: int = Field(2, gt=0)
    """Decoder layers of the tiny model."""
    tiny_num_heads: int = Field(4, gt=0)
    """Attention heads of the tiny model."""
    tiny_vocab_size: int = Field(2048, ge=300)
    """BPE vocabulary size of the tiny model's tokenizer."""
    tiny_pretrain_steps: int = Field(150, ge=0)
    """Warm-start steps of the tiny model on the corpus (0 = purely random weights)."""
    seed: int = 0
    """Seed for the tiny model's weights; same seed and corpus give the same model."""


class LoraSettings(Section):
    r: int = Field(16, gt=0, le=512)
    """LoRA rank."""
    alpha: int = Field(32, gt=0)
    """LoRA alpha (scale = alpha / r)."""
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    """Dropout on the LoRA branch."""
    target_modules: list[str] = ["q_proj", "k_proj", "v_proj", "o_proj"]
    """Module names LoRA wraps."""


class QLoraSettings(Section):
    bits: Literal[4, 8] = 4
    """Quantisation bits of the frozen base model (bitsandbytes)."""
    quant_type: Literal["nf4", "fp4"] = "nf4"
    """4-bit data type."""
    double_quant: bool = True
    """Quantise the quantisation constants too (saves ~0.4 bit/param)."""


class TrainingSettings(Section):
    max_concurrent_jobs: int = Field(2, ge=1)
    """Jobs running at once; the rest wait QUEUED in priority, then FIFO order."""
    job_timeout_seconds: float = Field(7200, gt=0)
    """A running job older than this is stopped and marked FAILED."""
    checkpoint_every_steps: int = Field(500, ge=1)
    """Save a Ray Train checkpoint every N optimizer steps (resumed from when a worker dies)."""
    cleanup_after_days: int = Field(30, ge=1)
    """Finished jobs older than this are deleted by the cleanup routine."""
    num_workers: int = Field(1, ge=1)
    """Ray Train workers (DDP ranks) per job."""
    use_gpu: bool = False
    """Train on GPUs (nccl) instead of CPUs (gloo)."""
    cpus_per_worker: float = Field(0.5, gt=0)
    """CPUs reserved per Train worker. Fractional on small machines: whole CPUs starve Ray Data (silent hang)."""
    gpus_per_worker: float = Field(1.0, ge=0)
    """GPUs per Train worker when use_gpu."""
    sweep_max_concurrent_trials: int = Field(2, ge=1, le=64)
    """Trials of a sweep running at once unless the sweep sets `max_concurrent_trials`; each is a Ray Train run
    with the job's workers, so this times their resources must fit the cluster (more trials wait)."""
    worker_resources: dict[str, float] = {}
    """Custom Ray resources each Train worker, warm trainer and learning-cycle evaluation task asks for, e.g.
    `{"trainer": 1}` to keep training on nodes started with `ray start --resources '{"trainer": 4}'` (a cluster
    without such a node leaves them pending). CPUs and GPUs are set by the fields above, not here."""

    @field_validator("worker_resources")
    @classmethod
    def _custom_resources_only(cls, v: dict[str, float]) -> dict[str, float]:
        builtin = {"CPU", "GPU", "memory", "object_store_memory"} & set(v)
        if builtin:  # Ray refuses them in `resources`; two places for one number would disagree anyway
            raise ValueError(f"{sorted(builtin)} are not custom resources: set cpus_per_worker, gpus_per_worker, "
                             "warm_worker_cpus, warm_worker_gpus or learning.eval_cpus instead")
        if any(amount <= 0 for amount in v.values()):
            raise ValueError("every amount must be above 0")
        return v
    max_failures: int = Field(2, ge=0)
    """Worker failures tolerated per job; training resumes from the latest checkpoint."""
    learning_rate: float | None = Field(None, gt=0)
    """Default learning rate for LORA/QLORA. None: the base's recipe (bundled tiny model 2e-3, other models 2e-4)."""
    epochs: int = Field(3, ge=1)
    """Default epochs over the training blocks."""
    batch_size: int = Field(8, ge=1)
    """Blocks per worker per micro-batch."""
    grad_accum_steps: int = Field(1, ge=1)
    """Micro-batches per optimizer step."""
    block_size: int | None = Field(None, ge=8)
    """Tokens per packed training block. None: the base's recipe (tiny 128; others min(context, 2048))."""
    train_on_prompt: bool = False
    """Loss on every token of chat and prompt/response records; by default only assistant turns (and the token
    closing each one) carry loss. Plain `text` records always train on every token."""
    val_fraction: float = Field(0.1, gt=0, lt=0.5)
    """Share of records held out for validation (deterministic by content hash)."""
    eval_every_steps: int = Field(0, ge=0)
    """Evaluate validation perplexity every N steps (0 = only at the end of each epoch)."""
    data_cpus: float = Field(0.25, gt=0)
    """CPUs per Ray Data task during preparation."""
    data_roots: list[str] = ["{data_dir}", "{resources}"]
    """Folders (or URI prefixes such as s3://bucket/data) a job's `data_paths` must lie in, after symlinks are
    resolved; elsewhere is HTTP 403. Placeholders `{data_dir}`, `{resources}` (bundled corpus), `{project}`;
    relative entries and relative client paths resolve against the project folder (clara_ray/server_paths.py)."""

    _roots = field_validator("data_roots")(lambda cls, v: [check_root_entry(e) for e in v])
    seed: int = 0
    """Seed for shuffling, LoRA init and dropout."""
    warm_pool_size: int = Field(1, ge=0)
    """Warm trainers (long-lived Ray actors holding the base model, actors/warm_trainer.py): eligible jobs (one
    worker, LORA or CONTINUOUS on the default base, no requested checkpoints, small local data) run on a free one
    in-process, without Ray Data or a Ray Train start; the learning loop's evaluation runs there too. 0 = off:
    every job takes the Ray Train path."""
    warm_worker_cpus: float = Field(0.25, gt=0)
    """CPUs each warm trainer reserves for as long as it lives (its torch threads: this rounded up, at least 1).
    Fractional on small machines, so Ray Train jobs, Ray Data and Serve keep CPUs (STACK.md: the silent hang): on
    2 CPUs, Serve (0.6) + a warm trainer (0.25) + a 2-worker DDP job (2 x 0.5) still fit; 0.5 here does not."""
    warm_worker_gpus: float = Field(0.0, ge=0)
    """GPUs each warm trainer reserves; above 0 it holds the base on CUDA and takes the `use_gpu` jobs instead of
    the CPU ones."""
    warm_max_data_mb: float = Field(64.0, gt=0)
    """Largest job input (local files, MB) a warm trainer prepares in-process; larger inputs go through Ray Data
    and Ray Train."""


class ContinuousSettings(Section):
    learning_rate: float | None = Field(None, gt=0)
    """Learning rate of CONTINUOUS jobs (incremental LoRA training from an adapter). None: the base's recipe
    (training/recipe.py: bundled tiny model 2e-3; real models by size, 1e-4 below 3B parameters, 5e-5 below 20B,
    3e-5 above). A full-fine-tuning figure such as 5e-6 barely moves a LoRA adapter."""
    epochs: int | None = Field(None, ge=1)
    """Epochs of CONTINUOUS jobs. None: the base's recipe (tiny 3, real models 1)."""


class DataQualitySettings(Section):
    min_length: int = Field(50, ge=0)
    """Records shorter than this many characters are rejected."""
    max_length: int = Field(2048, gt=0)
    """Records longer than this many characters are rejected."""
    max_seq_length: int | None = Field(None, gt=0)
    """Longest record in tokens: longer chat records are rejected with the reason, longer texts are cut.
    None: the base's recipe (tiny 512; others min(context, 2048))."""

    @model_validator(mode="after")
    def _check_range(self) -> "DataQualitySettings":
        if self.min_length >= self.max_length:
            raise ValueError("min_length must be below max_length")
        return self


class RaySettings(Section):
    address: str | None = None
    """Ray cluster address; None starts or joins a local one ("auto" joins a running `ray start`)."""
    namespace: str = "clara"
    """Namespace of the named actors (job manager, learning buffer)."""
    num_cpus: int | None = None
    """CPUs of a local cluster started by the app (None = all)."""
    auth_mode: Literal["disabled", "token"] = "disabled"
    """Value for RAY_AUTH_MODE when the app starts a local cluster: disabled for laptops/tests, token in production."""


class ApiSettings(Section):
    host: str = "127.0.0.1"
    """HTTP bind host of Serve's proxy."""
    port: int = Field(8000, gt=0, lt=65536)
    """HTTP port of Serve's proxy."""
    max_page_size: int = Field(200, ge=1)
    """Largest page a list route returns."""


class RetentionSettings(Section):
    """The scheduled cleanup (clara_ray/retention.py, run by the job manager actor). Jobs and their checkpoints age
    by `training.cleanup_after_days`, completions by `serving.completion_log.retention_days`. It never removes an
    alias's active or previous version (or the job that made it), nor feedback that no finished cycle has used."""

    enabled: bool = True
    """Run the cleanup periodically in the job manager actor."""
    interval_seconds: float = Field(3600, gt=0)
    """Time between cleanup passes (the first runs when the job manager starts)."""
    rejected_versions_after_days: int = Field(14, ge=1)
    """Files of rejected adapter versions older than this are deleted from the adapter store (the registry row
    stays, marked as removed: its ratings and lineage remain)."""
    feedback_after_days: int = Field(90, ge=1)
    """Feedback rows older than this are deleted once a finished cycle used them, or they were only a rating or
    dropped; pending samples and those of a running cycle are kept whatever their age."""


class ClaraSettings(BaseSettings):
    """The whole configuration tree."""

    model_config = SettingsConfigDict(env_prefix="CLARA_", env_nested_delimiter="__", extra="forbid")

    storage: StorageSettings = StorageSettings()
    model: ModelSettings = ModelSettings()
    lora: LoraSettings = LoraSettings()
    qlora: QLoraSettings = QLoraSettings()
    training: TrainingSettings = TrainingSettings()
    continuous: ContinuousSettings = ContinuousSettings()
    data: DataQualitySettings = DataQualitySettings()
    ray: RaySettings = RaySettings()
    api: ApiSettings = ApiSettings()
    serving: ServingSettings = ServingSettings()
    router: RouterSettings = RouterSettings()
    learning: LearningSettings = LearningSettings()
    retention: RetentionSettings = RetentionSettings()
    datasets: DatasetSettings = DatasetSettings()
    security: SecurityConfig = SecurityConfig()
    console: ConsoleSettings = ConsoleSettings()

    @field_validator("model")
    @classmethod
    def _heads_divide_hidden(cls, v: ModelSettings) -> ModelSettings:
        if v.tiny_hidden_size % v.tiny_num_heads:
            raise ValueError("tiny_hidden_size must be divisible by tiny_num_heads")
        return v

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):
        path = Path(os.environ.get("CLARA_CONFIG", DEFAULT_CONFIG_PATH))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if path.is_file():
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return tuple(sources)

    @property
    def model_cache_dir(self) -> Path:
        return self.model.cache_dir or self.storage.data_dir / "models"

    @property
    def learning_data_uri(self) -> str:
        """Where learning cycles write their training files: `learning.data_uri`, else `<data_dir>/learning`."""
        return self.learning.data_uri.rstrip("/") or str(self.storage.data_dir / "learning")


class ConfigError(ValueError):
    """Configuration is invalid; the message names every bad field."""


def load_settings(**overrides) -> ClaraSettings:
    """Load the settings tree, turning validation errors into one readable ConfigError."""
    try:
        return ClaraSettings(**overrides)
    except ValidationError as e:
        lines = [f"  {'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()]
        raise ConfigError("invalid CLARA configuration:\n" + "\n".join(lines)) from None


def settings_from_dict(data: dict) -> ClaraSettings:
    """Rebuild settings shipped to a Ray actor (a plain dict survives pickling across versions)."""
    return ClaraSettings.model_validate(data)
