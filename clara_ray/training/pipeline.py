"""One training job end to end on the driver: resolve -> prepare data (Ray Data) -> fit (Ray Train) -> store -> register."""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from clara_ray.adapters.compat import check_adapter_fits_base
from clara_ray.adapters.registry import AdapterRegistry
from clara_ray.adapters.version_status import VersionStatus
from clara_ray.adapters.store import AdapterStore
from clara_ray.config import ClaraSettings
from clara_ray.training.prepare import DataError, PreparedData, Tokenization, prepare
from clara_ray.records import QualityLimits
from clara_ray.db.engine import Database
from clara_ray.db.tables import DatasetRecord, new_id
from clara_ray.model.chat_format import TemplateError, check_chat_template, resolve_chat_template
from clara_ray.model.tokenizer import load_tokenizer
from clara_ray.server_paths import PROJECT_DIR
from clara_ray.training.alias_recipes import AliasRecipes, RecipeValues
from clara_ray.training.spec import TrainerType, TrainingJobRequest, TrainPlan, check_data_paths, resolve_plan

log = logging.getLogger("clara.pipeline")


@dataclass
class JobResult:
    version_id: str
    ref: str  # name@vN
    uri: str
    activated: bool
    metrics: dict
    data_stats: dict


def base_model_path(settings: ClaraSettings, name: str | None = None) -> str:
    """Local folder (or hub id) of the base model; builds the bundled tiny model on first use."""
    from clara_ray.training.base_model import TinyModelSpec, ensure_base_model

    m = settings.model
    spec = TinyModelSpec(vocab_size=m.tiny_vocab_size, hidden_size=m.tiny_hidden_size,
                         num_layers=m.tiny_num_layers, num_heads=m.tiny_num_heads,
                         num_kv_heads=m.tiny_num_heads, seed=m.seed,
                         pretrain_steps=m.tiny_pretrain_steps)
    return str(ensure_base_model(name or m.base_model, settings.model_cache_dir, spec))


def base_model_id(path_or_id: str) -> str:
    """Stable identity of a base model, compared when an adapter is loaded onto a replica."""
    p = Path(path_or_id)
    return p.name if p.is_dir() else path_or_id


def dataset_paths(db: Database, req: TrainingJobRequest, settings: ClaraSettings | None = None) -> list[str]:
    """The files to train on. With `settings`, `data_paths` are checked against `training.data_roots` again
    (the API checked them at submission; this covers jobs.train and the learning loop)."""
    if req.data_paths:
        if settings is not None:
            return check_data_paths(req, settings, internal=True)
        return [str((PROJECT_DIR / p).resolve()) if "://" not in p else p for p in req.data_paths]
    with db.session() as s:
        ds = s.get(DatasetRecord, req.dataset_id)
    if ds is None:
        raise DataError(f"dataset {req.dataset_id} not found")
    return [ds.uri]


class TrainingPipeline:
    """Runs jobs against one settings tree; shared by the runner actor and `python -m jobs.train`."""

    def __init__(self, settings: ClaraSettings, db: Database | None = None):
        self.settings = settings
        self.db = db or Database(settings.storage.database_url)
        self.registry = AdapterRegistry(self.db)
        self.store = AdapterStore.for_storage(settings.storage)

    def tokenization(self, req: TrainingJobRequest, plan: TrainPlan) -> Tokenization:
        """How this job's records become ids; the chat template is checked here, before any Ray work."""
        try:
            template = resolve_chat_template(self.settings.model.chat_template)
            check_chat_template(load_tokenizer(plan.base_model_path, template))
        except TemplateError as e:
            raise DataError(str(e)) from None
        return Tokenization(tokenizer_path=plan.base_model_path, chat_template=template,
                            train_on_prompt=plan.train_on_prompt, max_tokens=plan.max_seq_length,
                            columns=tuple(sorted((req.columns or {}).items())))

    def prepare_data(self, req: TrainingJobRequest, plan: TrainPlan) -> PreparedData:
        t, q = self.settings.training, self.settings.data
        return prepare(
            dataset_paths(self.db, req, self.settings),
            spec=self.tokenization(req, plan),
            block_size=plan.block_size,
            val_fraction=t.val_fraction,
            limits=QualityLimits(q.min_length, q.max_length),
            record_filter=req.record_filter,
            cpus=t.data_cpus,
        )

    def resolve_job(self, job_id: str, req: TrainingJobRequest):
        """(base model path, parent version or None, plan): the parent checked against the base and fetched to the
        local adapter cache. Shared by this pipeline and the warm worker (training/warm.py)."""
        base = base_model_path(self.settings, req.base_model)
        parent = None
        if req.trainer_type == TrainerType.CONTINUOUS:
            parent = self.registry.resolve(req.parent or req.name)
            check_adapter_fits_base(parent.base_model, base, aliases=self.settings.model.base_model_aliases,
                                    what=f"parent {parent.name}@v{parent.version}", error=DataError)
        parent_path = str(self.store.local_path(parent.uri, self.settings.storage.data_dir / "adapter-cache")) \
            if parent else None
        recipe = AliasRecipes(self.db).values_for(req.name, continuous=req.trainer_type == TrainerType.CONTINUOUS)
        plan = resolve_plan(job_id, req, self.settings, base_model_path=base, parent_adapter_path=parent_path,
                            alias_recipe=recipe)
        return base, parent, plan

    def run(self, job_id: str, req: TrainingJobRequest, *, progress_actor: str | None = None,
            namespace: str | None = None, on_event=None) -> JobResult:
        from clara_ray.training.ray_loop import fit
        from clara_ray.training.tune_sweep import run_sweep

        emit = on_event or (lambda e: None)
        t0 = time.time()
        base, parent, plan = self.resolve_job(job_id, req)
        data = self.prepare_data(req, plan)
        emit({"kind": "data", **{k: v for k, v in data.stats.items() if k != "rejected_examples"}})
        t_data = time.time()
        sweep = None
        if req.sweep is not None:
            outcome = run_sweep(plan, req.sweep, data.train_blocks, data.val_blocks, on_event=emit,
                                max_concurrent=self.settings.training.sweep_max_concurrent_trials)
            plan, metrics, adapter_dir = outcome.plan, outcome.metrics, outcome.adapter_dir
            sweep = {"sweep_id": job_id, "best_trial": outcome.best.trial_id, "config": outcome.best.config,
                     "trials": len(outcome.trials)}
        else:
            metrics, adapter_dir = fit(plan, data.train_blocks, data.val_blocks,
                                       progress_actor=progress_actor, namespace=namespace)
        t_fit = time.time()
        try:
            result = self._register(job_id, req, plan, base, parent, adapter_dir, metrics, data.stats, sweep=sweep)
        finally:
            shutil.rmtree(adapter_dir.parent, ignore_errors=True)
        if sweep is not None:
            result.metrics["sweep"] = {**sweep, "trials": [t.model_dump(mode="json") for t in outcome.trials]}
            if req.sweep.save_recipe:
                self.save_recipe(req, outcome.best.config, f"sweep {job_id}")
        result.metrics.update(prepare_seconds=t_data - t0, fit_seconds=t_fit - t_data,
                              register_seconds=time.time() - t_fit, t_registered=time.time(), t_submitted=t0,
                              runner="ray_train")
        return result

    def save_recipe(self, req: TrainingJobRequest, config: dict, source: str) -> None:
        """Keep a sweep's winning configuration as the alias's recipe, in the part its job kind trains."""
        AliasRecipes(self.db).save_part(req.name, RecipeValues.model_validate(config), source=source,
                                        continuous=req.trainer_type == TrainerType.CONTINUOUS)

    def _register(self, job_id, req, plan, base, parent, adapter_dir: Path, metrics: dict, stats: dict,
                  sweep: dict | None = None) -> JobResult:
        vid = new_id()
        uri = self.store.put(adapter_dir, req.name, vid)
        keep = ("ppl_before", "ppl_after", "loss", "step", "train_tokens", "tokens_per_s", "train_seconds")
        version_metrics = {k: metrics[k] for k in keep if k in metrics}
        version_metrics.update(ppl_dev=metrics.get("ppl_after"), training_samples=stats.get("train_records"))
        row = self.registry.register(
            name=req.name, uri=uri, version_id=vid, base_model=base_model_id(base),
            trainer_type=req.trainer_type.value, rank=plan.r, status=VersionStatus.CANDIDATE.value,
            domain=req.domain or (parent.domain if parent else None),
            description=req.description, metrics=version_metrics,
            config={k: getattr(plan, k) for k in ("r", "alpha", "dropout", "target_modules", "qlora_bits",
                                                  "learning_rate", "epochs", "batch_size", "block_size",
                                                  "train_on_prompt", "max_seq_length")}
            | ({"sweep": sweep} if sweep else {}),
            dataset={"dataset_id": req.dataset_id, "paths": req.data_paths, "filter": req.record_filter,
                     "columns": req.columns,
                     **{k: stats.get(k) for k in ("records_accepted", "train_records", "val_records")}},
            job_id=job_id, parent_id=parent.id if parent else None,
        )
        activate = req.activate == "always" or (req.activate == "if_none" and self.registry.alias(req.name) is None)
        if activate:
            self.registry.activate(row.id, reason=f"trained by job {job_id}")
        return JobResult(row.id, f"{row.name}@v{row.version}", uri, activate, dict(metrics), stats)
