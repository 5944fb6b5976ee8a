"""Learning-loop settings: the buffer, triggers, the recipe of cycles, the gate, canaries, self-tuning."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from clara_ray.settings_section import Section


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
