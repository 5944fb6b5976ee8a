"""Serving service behind the HTTP routes: resolve the model, route prompts, bound requests, manage adapter versions."""

from __future__ import annotations

import json
import re
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import AsyncIterator, Protocol, Sequence

from clara_ray import observability as obs
from clara_ray.adapters import export
from clara_ray.adapters.compat import check_adapter_fits_base
from clara_ray.adapters.registry import AdapterRegistry, AliasView, InvalidReference, RegistryConflict
from clara_ray.adapters.store import AdapterStore
from clara_ray.adapters.version_status import VersionStatus
from clara_ray.config import ClaraSettings
from clara_ray.db.engine import Database
from clara_ray.learning.ratings import ratings_for_versions
from clara_ray.model.chat_format import TemplateError, encode_chat, resolve_chat_template
from clara_ray.model.tokenizer import load_tokenizer
from clara_ray.serving.catalog import AdapterCatalog, ResolvedModel
from clara_ray.serving.completion_log import CompletionLog, CompletionRecord
from clara_ray.serving.engine import AdapterIncompatible, GenerationRequest, GenerationResult, StreamChunk
from clara_ray.serving.revision_client import publisher_for
from clara_ray.serving.revisions import AliasRevision, RevisionPublisher, RouterRevision
from clara_ray.serving.router import AdapterRouter, Candidate
from clara_ray.serving.router_store import RouterSettingsStore
from clara_ray.serving.settings import RouterSettings
from clara_ray.server_paths import Roots
from clara_ray.training.spec import check_adapter_name


class RequestRejected(ValueError):
    """A request exceeds a limit (prompt length, max_tokens); maps to HTTP 400. `param`: the field at fault."""

    def __init__(self, message: str, *, param: str | None = None):
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class Call:
    """Who asked for a generation and through which route: what the completion log records besides the output."""

    completion_id: str
    """The id returned to the client (`chatcmpl-…`, `cmpl-…`, `gen-…`); feedback refers to it."""
    route: str
    """chat | completion | generate."""
    caller: str | None = None
    """The authenticated subject."""
    messages: list[dict] | None = None
    """Chat messages as received."""
    max_tokens_field: str = "max_tokens"
    """How the request named its token limit (errors name the client's own field)."""
    logged: bool = True
    """False for internal probes (readiness), which are not completions anyone asked for."""
    allow_inactive: bool = False
    """An admin pinned a rejected or archived version explicitly (clara_ray/api/pinning.py)."""
    end_user: str | None = None
    """OpenAI's `user` field: the caller's own end user (one API key, many users); a canary's share is drawn per
    caller and end user."""


def canary_key(call: Call | None) -> str | None:
    """Who a canary's share is drawn over: the authenticated caller, and its end user when the request names one
    (OpenAI's `user`), sticky across requests; without a caller the completion's own id (each anonymous request
    drawn afresh; choices `<id>.<i>` follow their response's draw)."""
    if call is None:
        return None
    if call.caller:
        return f"caller:{call.caller}" + (f"\x00user:{call.end_user}" if call.end_user else "")
    return f"completion:{call.completion_id.split('.')[0]}"


class LLMBackend(Protocol):
    """Where generation happens: LLM replicas through Serve handles, or an engine in-process."""

    async def generate(self, req: GenerationRequest, model: ResolvedModel) -> GenerationResult: ...
    def stream(self, req: GenerationRequest, model: ResolvedModel) -> AsyncIterator[StreamChunk]: ...
    async def stats(self) -> dict: ...


def check_adapter_folder(path: str, *, base_model_id: str, max_rank: int, base_aliases: Sequence[str] = (),
                         roots: Roots | None = None) -> dict:
    """Validate a PEFT folder before anything is loaded; returns its adapter_config. Raises AdapterIncompatible.

    `base_model_id`: the deployment's base (id or local folder), matched with `adapter_fits_base`. `roots`: where a
    client-named folder may lie (`serving.adapter_import_roots`; PathOutsideRoots, 403); None only for trusted
    callers. Messages name the `path` field, never the server folder."""
    if roots is not None:
        path = roots.check(path, "path")
    elif not path or ".." in Path(path).parts or not re.fullmatch(r"[\w./@:+-]+", path):
        raise InvalidReference("path: not a valid adapter folder path")
    folder = Path(path)
    cfg_file = folder / "adapter_config.json"
    if not cfg_file.is_file() or not any(folder.glob("adapter_model.*")):
        raise AdapterIncompatible("path: not a PEFT adapter folder (adapter_config.json + adapter_model.*)")
    try:
        cfg = json.loads(cfg_file.read_text())
        rank = int(cfg.get("r", 0))
    except (OSError, ValueError, TypeError, AttributeError):
        raise AdapterIncompatible("path: adapter_config.json is not a readable PEFT config") from None
    if cfg.get("peft_type", "LORA") != "LORA":
        raise AdapterIncompatible(f"only LoRA adapters can be served, not {str(cfg.get('peft_type'))[:40]}")
    if rank > max_rank:
        raise AdapterIncompatible(f"adapter rank {rank} exceeds this deployment's max_lora_rank {max_rank}")
    check_adapter_fits_base(cfg.get("base_model_name_or_path"), base_model_id, aliases=base_aliases,
                            error=AdapterIncompatible)
    return cfg


class ServingService:
    def __init__(self, settings: ClaraSettings, db: Database, backend: LLMBackend, *, base_model_path: str,
                 embed=None, completions: CompletionLog | None = None, revisions: RevisionPublisher | None = None):
        """`revisions`: who tells the other replicas about alias flips and router changes (default: the Ray
        revision hub of `ray.namespace` inside Ray, nobody otherwise; clara_ray/serving/revisions.py)."""
        from clara_ray.training.pipeline import base_model_id

        self.settings = settings
        self.registry = AdapterRegistry(db)
        self.store = AdapterStore.for_storage(settings.storage)
        self.base_model_path = base_model_path
        self.base_model_id = base_model_id(base_model_path)
        self.catalog = AdapterCatalog(self.registry, self.base_model_id, settings.serving.alias_ttl_seconds)
        self.router_store = RouterSettingsStore(db)
        stored = self.router_store.load()  # changed at run time: wins over the configuration file
        self.router = AdapterRouter(stored.settings if stored else settings.router, embed)
        self.router_revision = stored.revision if stored else 0
        self.revisions = revisions or publisher_for(settings)
        self.backend = backend
        self.completions = completions  # every generation is logged here when set
        self._tokenizer = None

    # ---- generation ---------------------------------------------------------------------------------------
    def _bound(self, max_tokens: int, prompt: str, field: str) -> None:
        limit = self.settings.serving.max_new_tokens
        if max_tokens > limit:
            raise RequestRejected(f"{field} {max_tokens} exceeds the limit of {limit}", param=field)
        if len(prompt) > self.settings.serving.max_prompt_tokens * 8:  # cheap pre-check; the engine counts tokens
            raise RequestRejected(f"prompt of {len(prompt)} characters is too long", param="prompt")

    def pick(self, model: str | None, prompt: str, *, allow_inactive: bool = False,
             call: Call | None = None) -> tuple[ResolvedModel, dict | None]:
        """The named model, or the router's choice when none is named. During an alias's canary, `call` decides
        which of its callers the canary answers (catalog.canary_share)."""
        caller = canary_key(call)
        if model:
            return self.catalog.resolve(model, allow_inactive=allow_inactive, caller=caller), None
        decision = self.router.route(prompt, self.candidates())
        routing = {"adapter": decision.adapter, "confidence": round(decision.confidence, 4),
                   "method": decision.method, "reason": decision.reason,
                   "scores": {k: round(v, 4) for k, v in decision.scores.items()}}
        return self.catalog.resolve(decision.adapter, caller=caller), routing

    def candidates(self) -> list[Candidate]:
        versions = {v.id: v for v in self.registry.versions()}
        return [Candidate(a.name, versions[a.version_id].domain, versions[a.version_id].description)
                for a in self.registry.aliases()]

    def version_of(self, resolved: ResolvedModel) -> str:
        """The exact version that answers (`baurecht@v3`), or the base model's id."""
        return resolved.ref or self.base_model_id

    def _request(self, prompt: str, call: Call | None, params: dict) -> tuple[GenerationRequest, Call]:
        call = call or Call(completion_id=f"gen-{uuid.uuid4().hex[:24]}", route="generate")
        params.setdefault("max_tokens", self.settings.serving.max_new_tokens)
        req = GenerationRequest(prompt=prompt, **params)
        self._bound(req.max_tokens, prompt, call.max_tokens_field)
        return req, call

    async def generate(self, prompt: str, model: str | None = None, *, call: Call | None = None,
                       **params) -> dict:
        """Run one request to completion and log it; `call` says who asked through which route (native if None)."""
        req, call = self._request(prompt, call, params)
        resolved, routing = self.pick(model, prompt, allow_inactive=call.allow_inactive, call=call)
        label = (resolved.ref or "base").split("@")[0]  # alias as the metric label: bounded cardinality
        t0 = time.perf_counter()
        try:
            res = await self.backend.generate(req, resolved)
        except Exception as e:
            obs.record_generation(label, time.perf_counter() - t0, 0, ok=False)
            self._log(call, model, resolved, prompt, "", "error", 0, 0, t0, error=type(e).__name__)
            raise
        obs.record_generation(label, time.perf_counter() - t0, res.completion_tokens)
        self._log(call, model, resolved, prompt, res.text, res.finish_reason, res.prompt_tokens,
                  res.completion_tokens, t0)
        return {"id": call.completion_id, "text": res.text, "model": self.version_of(resolved),
                "finish_reason": res.finish_reason,
                "usage": {"prompt_tokens": res.prompt_tokens, "completion_tokens": res.completion_tokens},
                "routing": routing, "logprobs": res.logprobs}

    async def stream(self, prompt: str, model: str | None = None, *, call: Call | None = None,
                     **params) -> tuple[ResolvedModel, AsyncIterator[StreamChunk]]:
        """Resolve the model now (errors before the first byte), then the chunks; logged when the stream ends."""
        req, call = self._request(prompt, call, params)
        resolved, _ = self.pick(model, prompt, allow_inactive=call.allow_inactive, call=call)
        return resolved, self._logged(call, model, resolved, prompt, self.backend.stream(req, resolved))

    async def _logged(self, call: Call, model: str | None, resolved: ResolvedModel, prompt: str,
                      chunks: AsyncIterator[StreamChunk]) -> AsyncIterator[StreamChunk]:
        t0, text, last, error = time.perf_counter(), [], StreamChunk(), None
        label = (resolved.ref or "base").split("@")[0]
        try:
            async for chunk in chunks:
                text.append(chunk.text)
                last = chunk
                yield chunk
        except Exception as e:
            error = type(e).__name__
            raise
        finally:  # also when the client went away (GeneratorExit): log what was served
            reason = "error" if error else last.finish_reason
            obs.record_generation(label, time.perf_counter() - t0, last.completion_tokens, ok=error is None)
            self._log(call, model, resolved, prompt, "".join(text), reason, last.prompt_tokens,
                      last.completion_tokens, t0, error=error)

    def _log(self, call: Call, model: str | None, resolved: ResolvedModel, prompt: str, output: str,
             finish_reason: str | None, prompt_tokens: int, completion_tokens: int, t0: float,
             error: str | None = None) -> None:
        if self.completions is None or not call.logged:
            return
        self.completions.record(CompletionRecord(
            id=call.completion_id, route=call.route, model=model or "", version_id=resolved.version_id,
            version_ref=resolved.ref, prompt=prompt, messages=call.messages, output=output,
            finish_reason=finish_reason, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
            latency_ms=round((time.perf_counter() - t0) * 1000, 3), caller=call.caller,
            created_at=datetime.now(timezone.utc), error=error))

    def chat_prompt(self, messages: list[dict]) -> tuple[str, list[int]]:
        """The conversation as the model was trained on it: rendered text (for routing) and its token ids."""
        if self._tokenizer is None:
            template = resolve_chat_template(self.settings.model.chat_template)
            self._tokenizer = load_tokenizer(self.base_model_path, template)
        try:
            enc = encode_chat(self._tokenizer, messages, add_generation_prompt=True)
        except TemplateError as e:
            raise RequestRejected(str(e), param="messages") from None
        return self._tokenizer.decode(enc.ids), enc.ids

    # ---- adapter management -------------------------------------------------------------------------------
    def load_adapter(self, name: str, path: str, *, domain: str | None = None, description: str | None = None) -> dict:
        """Register an external PEFT folder as a new immutable version (copied into the adapter store)."""
        try:
            check_adapter_name(name)
        except ValueError as e:
            raise InvalidReference(f"name: {e}") from None
        roots = Roots.from_config(self.settings.serving.adapter_import_roots, setting="serving.adapter_import_roots",
                                  data_dir=self.settings.storage.data_dir,
                                  project_dir=self.settings.storage.project_dir)
        folder = roots.check(path, "path")  # the resolved folder: what is checked is what is copied
        cfg = check_adapter_folder(folder, base_model_id=self.base_model_path,
                                   max_rank=self.settings.serving.max_lora_rank,
                                   base_aliases=self.settings.model.base_model_aliases, roots=roots)
        from clara_ray.db.tables import new_id

        vid = new_id()
        uri = self.store.put(Path(folder), name, vid)
        row = self.registry.register(name=name, uri=uri, version_id=vid, base_model=self.base_model_id,
                                     trainer_type="IMPORTED", rank=int(cfg.get("r", 0)), status=VersionStatus.CANDIDATE.value,
                                     domain=domain, description=description,
                                     config={k: cfg.get(k) for k in ("r", "lora_alpha", "target_modules")})
        return self.version_view(row)

    def activate(self, ref: str) -> dict:
        v = self.registry.resolve(ref)
        return self._flipped(self.registry.activate(v.id, reason="activated through the API"))

    def rollback(self, name: str, to_version: int | None = None) -> dict:
        return self._flipped(self.registry.rollback(name, to_version))

    def _flipped(self, alias: AliasView) -> dict:
        """After an alias moved in the database: this replica forgets it, then every other replica is told; returns
        once they all applied it (or `serving.revision_ack_timeout_seconds` passed: `replicas_pending` > 0)."""
        self.catalog.invalidate(alias.name)
        receipt = self.revisions.publish_alias(AliasRevision.of(alias))
        return {"alias": alias.name, "version": f"{alias.name}@v{alias.version}", "revision": alias.revision,
                **receipt.summary()}

    # ---- router settings (shared by every API replica, kept in the database) ----------------------------------
    def configure_router(self, updates: dict, updated_by: str | None = None) -> RouterSettings:
        """Validate `updates` over the current settings (ValidationError, nothing stored), store them as the next
        revision, apply them here and push them to every API replica."""
        if updates.get("default_adapter"):
            self.catalog.resolve(updates["default_adapter"])  # 404/422 before it is stored
        new = RouterSettings.model_validate({**self.router.settings.model_dump(), **updates})
        change = self.router_store.save(new, updated_by)
        self.apply_router(change)
        self.revisions.publish_router(change)
        return new

    def apply_router(self, change: RouterRevision) -> None:
        """Take router settings pushed by the revision hub (or just stored here) unless they are older."""
        if change.revision > self.router_revision:
            self.router.settings, self.router_revision = change.settings, change.revision

    def unload(self, ref: str) -> dict:
        """Retire a version: no new requests reach it; replicas evict it once idle (LRU)."""
        v = self.registry.resolve(ref)
        if ref == v.name:
            raise RegistryConflict(f"name an exact version (e.g. {v.name}@v{v.version}), not the alias")
        self.registry.set_status(v.id, VersionStatus.ARCHIVED, "unloaded through the API")
        return self.version_view(self.registry.get_version(v.id))

    def list_adapters(self) -> dict:
        """Aliases (name -> the active version), their running canaries (`canaries`: name -> canary_view) and
        every version."""
        views = self.registry.aliases()
        aliases = {a.name: f"{a.name}@v{a.version}" for a in views}
        canaries = {a.name: canary_view(self.registry.db, a) for a in views if a.canary_version_id}
        return {"base_model": self.base_model_id, "aliases": aliases, "canaries": canaries,
                "versions": [self.version_view(v) for v in self.registry.versions()]}

    @staticmethod
    def version_view(v) -> dict:
        return {"id": v.id, "ref": f"{v.name}@v{v.version}", "name": v.name, "version": v.version,
                "status": v.status, "status_reason": v.status_reason, "domain": v.domain,
                "description": v.description, "trainer_type": v.trainer_type, "rank": v.rank,
                "base_model": v.base_model, "metrics": v.metrics, "job_id": v.job_id, "parent_id": v.parent_id,
                "created_at": v.created_at.isoformat() if v.created_at else None}

    # ---- taking adapters out ------------------------------------------------------------------------------
    def adapter_archive(self, ref: str) -> tuple[Path, str]:
        """(.tar.gz path, download filename) of a version's PEFT folder; remove it with `export.remove_archive`."""
        v = self.registry.resolve(ref)
        filename = export.archive_name(v.name, v.version)
        return export.build_archive(self.store, v.uri, filename), filename

    @property
    def exports_root(self) -> Path:
        return self.settings.storage.data_dir / "exports"

    def merge_adapter(self, ref: str, output_dir: str) -> dict:
        """Merge a version into the base model, saved (with the tokenizer) under `<data_dir>/exports/<output_dir>`."""
        v = self.registry.resolve(ref)
        check_adapter_fits_base(v.base_model, self.base_model_path, aliases=self.settings.model.base_model_aliases,
                                what=f"{v.name}@v{v.version}", error=AdapterIncompatible)
        out = export.resolve_export_dir(self.exports_root, output_dir)
        with tempfile.TemporaryDirectory(prefix="clara-merge-") as tmp:
            tokenizer = load_tokenizer(self.base_model_path, resolve_chat_template(self.settings.model.chat_template))
            files = export.merge_adapter(self.base_model_path, self.store.local_path(v.uri, Path(tmp)), out,
                                         tokenizer=tokenizer)  # with the chat template it was served with
        return {"adapter": f"{v.name}@v{v.version}",
                "output_dir": out.relative_to(self.exports_root.resolve()).as_posix(), "files": files}

    async def router_status(self) -> dict:
        return {"settings": self.router.settings.model_dump(), "settings_revision": self.router_revision,
                "decisions": self.router.decisions,
                "candidates": [c.__dict__ for c in self.candidates()],
                "embeddings": bool(self.router._embed) and self.router.settings.use_embeddings,
                "replicas": await self.backend.stats()}


def canary_view(db: Database, alias: AliasView) -> dict:
    """An alias's running canary: which version answers which share of callers since when, and the live ratings of
    the canary and of the active version so far, the active's also over the ratings given since the canary started
    (feedback by completion id; clara_ray/learning/ratings.py)."""
    figures = ratings_for_versions(db, [alias.canary_version_id, alias.version_id])
    beside = (ratings_for_versions(db, [alias.version_id], rated_since=alias.canary_started_at)
              if alias.canary_started_at else {})

    def rated(version_id: str, of: dict) -> dict:
        r = of.get(version_id)
        return {"ratings": r.feedback if r else 0, "mean_rating": r.mean_rating if r else None}

    return {"alias": alias.name, "version": f"{alias.name}@v{alias.canary_version}",
            "version_id": alias.canary_version_id, "fraction": alias.canary_fraction,
            "started_at": alias.canary_started_at.isoformat() if alias.canary_started_at else None,
            "canary": rated(alias.canary_version_id, figures),
            "active": {"version": f"{alias.name}@v{alias.version}", **rated(alias.version_id, figures),
                       "beside_canary": rated(alias.version_id, beside)}}
