"""SQLAlchemy 2 ORM tables shared by SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from sqlalchemy import JSON, BigInteger, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_id() -> str:
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the offset; we put it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {dict: JSON, list: JSON, datetime: UTCDateTime}


class Job(Base):
    """A training job attempt. A retry is a new row pointing at the attempt it retries."""

    __tablename__ = "training_jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64))  # adapter name the job trains
    trainer_type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    priority: Mapped[int] = mapped_column(Integer, default=3)  # 1 = highest
    request: Mapped[dict] = mapped_column(JSON)  # the validated TrainingJobRequest
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    retry_of: Mapped[str | None] = mapped_column(String(32), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)  # latest step metrics + final eval
    step: Mapped[int] = mapped_column(Integer, default=0)
    total_steps: Mapped[int] = mapped_column(Integer, default=0)
    adapter_version_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # FIFO tie-break inside one priority: a monotonic sequence, not a timestamp (clock ties).
    seq: Mapped[int] = mapped_column(BigInteger, default=0, index=True)


class JobMetric(Base):
    """One progress point of a training job (a `step` or an `eval` event), for loss/perplexity/LR curves."""

    __tablename__ = "training_metrics"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # step | eval
    step: Mapped[int] = mapped_column(Integer)
    time: Mapped[float] = mapped_column(Float)  # unix seconds, as the worker measured it
    values: Mapped[dict] = mapped_column(JSON)  # step: loss, learning_rate, tokens_per_s; eval: perplexity


class AdapterVersion(Base):
    """An immutable trained adapter: `name@vN`. Weights live in the adapter store at `uri`."""

    __tablename__ = "adapter_versions"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_adapter_name_version"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    uri: Mapped[str] = mapped_column(Text)
    base_model: Mapped[str] = mapped_column(Text)
    trainer_type: Mapped[str] = mapped_column(String(16))
    rank: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="candidate")  # candidate|active|rejected|archived
    domain: Mapped[str | None] = mapped_column(String(64), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    config: Mapped[dict] = mapped_column(JSON, default=dict)  # lora config, hyperparameters
    dataset: Mapped[dict] = mapped_column(JSON, default=dict)  # dataset id/version or paths + counts
    job_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    parent_id: Mapped[str | None] = mapped_column(String(32), nullable=True)  # CONTINUOUS: trained from
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AdapterAlias(Base):
    """Mutable pointer `name` -> the version that is served for it."""

    __tablename__ = "adapter_aliases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("adapter_versions.id"))
    previous_version_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)  # bumps on every flip; replicas compare it
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # A canary (clara_ray/learning/canary.py): this version answers `canary_fraction` of the alias's callers
    # (sticky per caller) while live ratings decide; all three None when there is none. A start or end bumps revision.
    canary_version_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    canary_fraction: Mapped[float | None] = mapped_column(Float, nullable=True)
    canary_started_at: Mapped[datetime | None] = mapped_column(nullable=True)


class DatasetRecord(Base):
    """A registered, immutable dataset version (file in the store + stats)."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_dataset_name_version"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    uri: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(16), default="jsonl")
    source: Mapped[dict] = mapped_column(JSON, default=dict)  # how it was made (search query, upload, filter)
    stats: Mapped[dict] = mapped_column(JSON, default=dict)
    created_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Feedback(Base):
    """One accepted feedback sample; persisted before it is acknowledged."""

    __tablename__ = "feedback"
    __table_args__ = (Index("ix_feedback_alias_cycle", "alias", "cycle_id"),
                      Index("ix_feedback_caller_idempotency", "caller", "idempotency_key"))
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    alias: Mapped[str] = mapped_column(String(64))
    prompt: Mapped[str] = mapped_column(Text)
    response: Mapped[str] = mapped_column(Text)
    correction: Mapped[str | None] = mapped_column(Text, nullable=True)
    rating: Mapped[float] = mapped_column(Float)
    importance: Mapped[float] = mapped_column(Float, default=1.0)
    quality: Mapped[float] = mapped_column(Float, default=0.0)
    source: Mapped[str | None] = mapped_column(String(64), nullable=True)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    cycle_id: Mapped[str | None] = mapped_column(String(32), nullable=True)  # set once trained on
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completion_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # feedback by reference
    version_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)  # the version that answered
    caller: Mapped[str | None] = mapped_column(String(128), nullable=True)  # the subject that sent it
    idempotency_key: Mapped[str | None] = mapped_column(String(160), nullable=True)  # "<Idempotency-Key>#<item>"


class Completion(Base):
    """One generation served (OpenAI or native route): what was asked, which version answered, what it said."""

    __tablename__ = "completions"
    __table_args__ = (Index("ix_completions_alias_created", "alias", "created_at"),
                      Index("ix_completions_version_ref_created", "version_ref", "created_at"),
                      Index("ix_completions_caller_created", "caller", "created_at"))
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # chatcmpl-… / cmpl-… / gen-…, as returned
    route: Mapped[str] = mapped_column(String(16))  # chat | completion | generate
    model: Mapped[str] = mapped_column(String(128))  # what the client asked for ("" when the router chose)
    version_id: Mapped[str | None] = mapped_column(String(32), nullable=True)  # None = the base model
    version_ref: Mapped[str | None] = mapped_column(String(80), nullable=True)  # "baurecht@v3"
    alias: Mapped[str | None] = mapped_column(String(64), nullable=True)  # version_ref before "@"
    prompt: Mapped[str] = mapped_column(Text)
    messages: Mapped[list | None] = mapped_column(JSON, nullable=True)
    output: Mapped[str] = mapped_column(Text)
    finish_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    caller: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class LearningCycle(Base):
    """One feedback -> retrain -> evaluate -> gate cycle and its decision."""

    __tablename__ = "learning_cycles"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    alias: Mapped[str] = mapped_column(String(64), index=True)
    trigger: Mapped[str] = mapped_column(String(16))  # size|time|manual
    status: Mapped[str] = mapped_column(String(16))  # learning/states.py CycleStatus
    job_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    samples: Mapped[int] = mapped_column(Integer, default=0)
    candidate_version_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    active_version_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    metrics_before: Mapped[dict] = mapped_column(JSON, default=dict)
    metrics_after: Mapped[dict] = mapped_column(JSON, default=dict)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    reason_code: Mapped[str | None] = mapped_column(String(32), nullable=True)  # learning/states.py CycleReason
    recipe: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # what the cycle trained with, and from where
    durations: Mapped[dict] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)


class AuditEvent(Base):
    """Who did what to which resource, with which result."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str | None] = mapped_column(Text, nullable=True)
    result: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ApiKey(Base):
    """A long-lived bearer key bound to roles. Only the key's SHA-256 is stored; the key is shown once at creation."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64))
    roles: Mapped[list] = mapped_column(JSON)  # role names (keys of clara_ray.api.auth.ROLE_PERMISSIONS)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)  # hex SHA-256 of the whole key
    prefix: Mapped[str] = mapped_column(String(32))  # first characters of the key, to recognise it in lists
    created_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)  # written at most once a minute
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class ControlSetting(Base):
    """Settings changed at run time and shared by every replica (key "router": the router's), newest revision only."""

    __tablename__ = "control_settings"
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[dict] = mapped_column(JSON)
    revision: Mapped[int] = mapped_column(Integer, default=1)  # bumps on every change; replicas compare it
    updated_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AliasRecipeRow(Base):
    """An alias's own training recipe (training/alias_recipes.py): its later jobs and learning cycles start from it."""

    __tablename__ = "alias_recipes"
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    recipe: Mapped[dict] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(128))  # "sweep <job id>" | "api"
    updated_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
