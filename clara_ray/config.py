"""Central configuration: one Pydantic settings tree from configs/clara.yaml, overridable by CLARA_* env vars.

Precedence (highest first): explicit kwargs > environment (CLARA_SECTION__FIELD) > YAML file > defaults.
The YAML file is `$CLARA_CONFIG` or `configs/clara.yaml` relative to the working directory.
An invalid value fails at load with a message naming the field (see `load_settings`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, YamlConfigSettingsSource

from clara_ray.console.settings import ConsoleSettings
from clara_ray.datasets.settings import DatasetSettings
from clara_ray.security.settings import SecurityConfig
from clara_ray.server_paths import PROJECT_DIR, check_root_entry

DEFAULT_CONFIG_PATH = Path("configs/clara.yaml")


class Section(BaseModel):
    """Base for config sections: unknown keys are errors, so typos in YAML are caught at start."""

    model_config = {"extra": "forbid", "validate_assignment": True}


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


class CompletionLogSettings(Section):
    enabled: bool = True
    """Store every generation served (OpenAI and native routes, streamed or not) in the `completions` table."""
    sample_rate: float = Field(1.0, ge=0, le=1)
    """Share of generations stored, decided per generation (1 = all, 0 = none)."""
    retention_days: int = Field(30, ge=1)
    """Stored generations older than this are deleted by the writer (at start and hourly)."""
    queue_size: int = Field(10000, ge=1)
    """Generations waiting to be written; beyond it new ones are dropped (clara_completion_log_dropped_total)."""
    batch_size: int = Field(200, ge=1)
    """Most generations written in one transaction."""
    flush_interval_seconds: float = Field(0.5, gt=0)
    """How long the writer waits for a batch to fill before writing what it has."""


def _check_serving_device(value: str) -> str:
    """serving.device: auto, cpu, cuda or cuda:N (placement.DEVICE_PATTERN; torch is not imported here)."""
    v = value.strip().lower()
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", v):
        raise ValueError(f"serving.device must be auto, cpu, cuda or cuda:N, not {value!r}")
    return v


class ServingSettings(Section):
    engine: Literal["batched", "vllm"] = "batched"
    """Inference engine of the LLM replicas: "batched" (transformers + the project's batched multi-LoRA layers:
    many adapters decoded in one batch, on `device`, CPU or CUDA) or "vllm" (GPU images, the `vllm` extra). The
    former name "cpu" is still accepted and means "batched"."""
    _engine_alias = field_validator("engine", mode="before")(lambda cls, v: "batched" if v == "cpu" else v)
    device: str = "auto"
    """Torch device of the batched engine: "auto" (cuda when torch sees a CUDA GPU, else cpu), "cpu", "cuda" or
    "cuda:N". Naming a CUDA device on a machine without one fails when the engine starts. Ignored by vLLM."""
    _device = field_validator("device")(lambda cls, v: _check_serving_device(v))
    num_replicas: int = Field(1, ge=1)
    """LLM replicas (serve_config.yaml's value wins when deployed from it)."""
    max_adapters_per_replica: int = Field(8, ge=1)
    """Adapters one replica holds at once: sizes both Serve's multiplexing LRU (which routes requests to replicas
    holding their adapter and unloads the least recently used one) and the engine's slots, so there is one number."""
    max_lora_rank: int = Field(64, ge=1)
    """Largest adapter rank a replica accepts; larger ones are refused at load."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Weights and LoRA dtype of the replicas. "auto" = the model's `torch_dtype`/`dtype` from config.json (float32 if
    unset), so real bf16 checkpoints serve in bf16 (half the memory; CPUs without bf16 instructions run it slower:
    set "float32" there). On CUDA (batched engine or vLLM) float32, bfloat16 and float16 all run; on the CPU a
    float16 model under "auto" runs in float32 and an explicit "float16" is refused when the engine starts."""
    max_batch_size: int = Field(16, ge=1)
    """Rows decoded together in one forward pass."""
    batch_wait_ms: float = Field(5.0, ge=0)
    """How long the batcher waits to collect more requests before a step."""
    max_prompt_tokens: int = Field(768, ge=8)
    """Longest prompt accepted (400 beyond)."""
    max_new_tokens: int = Field(256, ge=1)
    """Largest `max_tokens` accepted (400 beyond)."""
    alias_ttl_seconds: float = Field(1.0, ge=0)
    """How long an alias -> version lookup is cached. Only a fallback: activate, rollback and the learning loop's
    promotion are pushed to every replica (revision hub, `revision_*` below); this bounds how long a replica can
    miss one (hub restarting, or a training job's own `activate` setting, which is not pushed)."""
    revision_ack_timeout_seconds: float = Field(2.0, gt=0)
    """Activate, rollback and router changes return once every live API and LLM replica applied them, or after
    this long (the response counts `replicas_updated` and `replicas_pending`)."""
    revision_poll_seconds: float = Field(30.0, gt=0)
    """Longest a replica's long-poll of the revision hub stays open before it is renewed."""
    revision_stale_after_seconds: float = Field(60.0, gt=0)
    """A replica not heard from for this long (it died without leaving) is no longer waited for."""
    adapter_import_roots: list[str] = ["{data_dir}/imports"]
    """Folders (or URI prefixes) `POST /api/serving/load_adapter` may import PEFT folders from, after symlinks are
    resolved; elsewhere is HTTP 403. Same entry rules as `training.data_roots`."""
    _roots = field_validator("adapter_import_roots")(lambda cls, v: [check_root_entry(e) for e in v])
    vllm_max_loras: int = Field(8, ge=1)
    """vLLM: adapters in one batch (GPU slots)."""
    vllm_max_cpu_loras: int = Field(32, ge=1)
    """vLLM: adapters cached in host memory."""
    vllm_gpu_memory_utilization: float = Field(0.85, gt=0, le=1)
    """vLLM: share of GPU memory for weights and KV cache."""
    vllm_tensor_parallel_size: int = Field(1, ge=1)
    """vLLM: GPUs one LLM replica spans (Ray Serve LLM reserves them in the replica's placement group)."""
    vllm_accelerator_type: str | None = Field(None, max_length=40)
    """vLLM: the GPU type replicas are placed on (Ray's accelerator_type, e.g. "H100", "L4"); None = any GPU."""
    completion_log: CompletionLogSettings = CompletionLogSettings()
    """Durable log of the generations served (feedback by completion id, per-version rating figures)."""


class RouterSettings(Section):
    default_adapter: str | None = None
    """Adapter used when the router is not confident (None = base model)."""
    hard_domain: float = Field(1.5, ge=0)
    """Keyword score at which a domain is chosen outright."""
    conf_low: float = Field(0.55, ge=0, le=1)
    """Below this confidence the default adapter is used."""
    conf_high: float = Field(0.85, ge=0, le=1)
    """At or above this confidence the choice is reported as certain."""
    use_embeddings: bool = True
    """Blend embedding similarity (offline all-MiniLM-L6-v2) with keyword scores."""
    exploration: float = Field(0.0, ge=0, le=1)
    """Share of medium-confidence requests routed to the runner-up (to gather feedback on it)."""


class LearningSettings(Section):
    buffer_size: int = Field(500, ge=1)
    """Pending (acknowledged, not yet trained) samples per deployment. What happens beyond it is `overflow`."""
    overflow: Literal["wait", "drop_lowest"] = "wait"
    """At `buffer_size` pending samples. "wait": nothing acknowledged is dropped; new feedback is refused (HTTP 503
    with Retry-After, or per item `rejected` with `retryable: true`) until cycles have claimed the backlog.
    "drop_lowest": new feedback is queued and the lowest-priority pending samples are marked dropped (counted in
    clara_learning_feedback_total{outcome="dropped"} and shown in GET /api/learning/buffer)."""
    full_retry_after_seconds: int = Field(30, ge=1)
    """Retry-After of a feedback request refused because the buffer is full (overflow "wait")."""
    quality_threshold: float = Field(0.5, ge=0, le=1)
    """Feedback with a lower quality score is rejected (with the reason)."""
    min_batch_size: int = Field(50, ge=1)
    """Size trigger: this many pending samples for an alias start a cycle."""
    train_interval_seconds: float = Field(300, gt=0)
    """Time trigger: a cycle starts this long after the last one when at least one new sample is pending."""
    max_batch_size: int = Field(200, ge=1)
    """Most samples one cycle claims (highest priority first): a backlog above `min_batch_size` grows the next
    cycle's batch up to this; the rest waits for the cycles after it (the size trigger fires again at once)."""
    min_improvement: float = Field(0.01, ge=0, lt=1)
    """Gate: validation perplexity (the alias's validation split plus its held-out feedback) must drop by at least
    this fraction to promote."""
    max_regression: float = Field(0.02, ge=0, lt=1)
    """Gate: the regression set's perplexity may rise by at most this fraction."""
    learning_rate: float | None = Field(None, gt=0)
    """Learning rate of cycle jobs. None: `continuous.learning_rate` (itself the base's recipe by default)."""
    epochs: int | None = Field(None, ge=1)
    """Epochs of cycle jobs. None: `continuous.epochs` (itself the base's recipe by default)."""
    data_uri: str = ""
    """Where a cycle writes its training file (`<cycle id>.jsonl`), which its job then reads: default
    `<data_dir>/learning`. On several nodes the job may run on another node than the learning loop: use a folder all
    of them share or an object-store URI (`s3://bucket/learning`; `storage.object_store_options` and the usual
    credentials apply). Warm trainers take local input only, so with a remote one cycles train on Ray Train."""
    self_tune_trials: int = Field(0, ge=0, le=32)
    """Self-tuning: when an alias's last `self_tune_after_rejections` cycles were all rejected for no improvement,
    its next cycle trains as a sweep of this many trials over the continuous learning rate (the one in effect, 10x,
    100x, ...: "no improvement" means too small a step) on its feedback, and a winner the gate promotes becomes the
    alias's continuous recipe (training/alias_recipes.py). 0 = off."""
    self_tune_after_rejections: int = Field(2, ge=1, le=20)
    """Consecutive "no improvement" rejections of an alias's cycles before its next cycle self-tunes."""
    self_tune_time_budget_seconds: float = Field(1800, gt=0)
    """Longest a self-tuning sweep runs (its best finished trial is the candidate)."""
    regression_path: str | None = None
    """JSONL of the fixed regression set (default: a fixed sample of the bundled corpus across domains). It is also
    the retained-skills set on which the forgetting budget `max_kl` is measured."""
    max_kl: float = Field(0.05, ge=0)
    """Gate, forgetting budget: the candidate's mean per-token KL divergence KL(active || candidate), in nats, over
    the scored tokens of the retained-skills set (the regression set) may be at most this. A candidate that drifts
    further from what the active version answers is rejected (criterion "forgetting") even when perplexities hold.
    A good cycle of the tiny model's recipe measures 0.012 (BENCHMARKS.md, bench/bench_cycle_defaults.py)."""
    eval_holdout_fraction: float = Field(0.2, ge=0, lt=1)
    """Share of accepted feedback (deterministic by content hash) that goes to the alias's evaluation set instead of
    training: never trained on, scored by the gate together with the alias's validation split (0 = none)."""
    max_eval_records: int = Field(128, ge=8)
    """Most records per evaluation set (validation split + held-out feedback, newest feedback first; regression)."""
    min_relevance: float | None = Field(0.1, ge=-1, le=1)
    """Feedback quality filter, domain relevance (the dataset analyzer's measure): the cosine similarity of a
    sample's prompt and answer to its nearest record of the alias's own data (the data its first version was trained
    on, or the bundled corpus of its domain) must be at least this; random and off-domain text is refused before
    training, with its figure. The scale depends on `relevance_measure`; measured for lexical on a Baurecht alias
    (BENCHMARKS.md): new Baurecht Q&A 0.50-0.88, other legal domains 0.09-0.25, German recipes and football
    0.05-0.09, English marketing and random characters under 0.035 (with "embedding" use about 0.3: it refuses
    marketing and random text, not German recipes). None: no relevance check."""
    relevance_measure: Literal["lexical", "embedding"] = "lexical"
    """Vector space of the relevance check (learning/relevance.py). "lexical": TF-IDF character n-grams, thousands
    of samples per second on one core, keeps feedback ingest fast. "embedding": `datasets.embedding_model` sentence
    embeddings, better on paraphrases, about a hundred samples per second on 2 CPU cores."""
    relevance_reference_records: int = Field(400, ge=10)
    """Most records of the alias's data embedded as the relevance reference (computed once per active version)."""
    eval_cpus: float = Field(0.25, gt=0)
    """CPUs of the evaluation task of a cycle (base model loaded once, both versions scored on every set)."""
    eval_gpus: float = Field(0.0, ge=0)
    """GPUs of the evaluation task (on a GPU worker the scoring runs on CUDA)."""
    cycle_timeout_seconds: float = Field(1800, gt=0)
    """A cycle whose training job runs longer fails."""
    check_interval_seconds: float = Field(1.0, gt=0)
    """How often the buffer checks its triggers."""
    replay_fraction: float = Field(0.5, ge=0, le=10)
    """Replay: each cycle also trains on round(replay_fraction x its feedback samples) records drawn (seeded by the
    cycle id) from the data the alias's active version and its ancestors were trained on, never their validation
    split nor the regression set (clara_ray/learning/training_set.py). 0.5: 40 samples bring 20 earlier records;
    0: feedback only."""
    augment_with_search: bool = False
    """Augmentation: each cycle also trains on hybrid-search results (vector + graph + keyword over the ingested
    corpus, within the alias's domain) for the most distinctive terms of its feedback batch, as plain-text records.
    On the bundled corpus this made validation perplexity worse (BENCHMARKS.md, bench/bench_replay.py)."""
    augment_max_records: int = Field(10, ge=1, le=100)
    """Most search results one cycle adds (after removing duplicates of its feedback and replay)."""
    canary_fraction: float = Field(0.0, ge=0, le=1)
    """Share of an alias's callers (sticky per caller) that a candidate which passed the offline gate serves while
    live ratings decide (clara_ray/learning/canary.py). 0: the gate's decision promotes directly."""
    canary_min_ratings: int = Field(20, ge=1)
    """Rated answers (feedback by completion id) of the canary version needed before its ratings decide."""
    canary_margin: float = Field(0.05, ge=0, le=1)
    """The canary is promoted when its mean rating (0..1) is at least the active version's mean minus this."""
    canary_max_seconds: float = Field(86400.0, gt=0)
    """A canary without enough ratings after this long is rolled back."""


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
