"""Feedback screening against the alias itself: prompts of its evaluation records are refused (the gate could be
gamed), and so is text unrelated to its data (domain relevance, the dataset analyzer's measure, learning/relevance.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Sequence

from clara_ray.adapters.registry import AdapterRegistry
from clara_ray.config import ClaraSettings
from clara_ray.db.engine import Database
from clara_ray.learning.evalset import evaluation_prompts, prompt_key
from clara_ray.learning.evaluate import alias_records
from clara_ray.learning.feedback import Refusal, RefusalCode
from clara_ray.learning.relevance import RelevanceIndex, index_builder
from clara_ray.records import content_of

log = logging.getLogger("clara.learning")

# reference texts of an alias -> its relevance index (learning/relevance.py; tests pass their own).
BuildIndex = Callable[[list[str]], RelevanceIndex]


@dataclass
class AliasReference:
    """What one alias's feedback is screened against, built once per active version."""

    version_id: str
    eval_prompts: set[str]
    index: RelevanceIndex | None  # over the alias's own records; None: nothing to compare with (no relevance check)
    records: int = 0


@dataclass
class ScreenResult:
    """The screen's verdict on one sample: `refusal` None = passes; `relevance` when it was measured."""

    refusal: Refusal | None = None
    relevance: float | None = None


class FeedbackScreen:
    def __init__(self, settings: ClaraSettings, db: Database, build_index: BuildIndex | None = None):
        self.settings, self.db = settings, db
        self.registry = AdapterRegistry(db)
        self.build_index = build_index or index_builder(settings)
        self._refs: dict[str, AliasReference] = {}

    def reference(self, alias: str) -> AliasReference | None:
        """The alias's reference for its current active version (rebuilt when the alias moves); None: unknown."""
        active = self.registry.alias(alias)
        if active is None:
            return None
        ref = self._refs.get(alias)
        if ref is not None and ref.version_id == active.version_id:
            return ref
        cfg = self.settings.learning
        prompts = evaluation_prompts(self.registry, self.db, alias, active.version_id,
                                     self.settings.training.val_fraction, cfg.regression_path)
        index, n = None, 0
        if cfg.min_relevance is not None:
            texts = [content_of(item) for item in alias_records(self.registry, active.version_id)]
            texts = texts[:: max(1, len(texts) // cfg.relevance_reference_records)][: cfg.relevance_reference_records]
            n = len(texts)
            index = self.build_index(texts) if texts else None
        ref = AliasReference(active.version_id, prompts, index, n)
        self._refs[alias] = ref
        return ref

    def held_out(self, alias: str, prompt: str) -> None:
        """A sample just joined the alias's evaluation set: its prompt is an evaluation prompt from now on."""
        if alias in self._refs:
            self._refs[alias].eval_prompts.add(prompt_key(prompt))

    def check(self, aliases: Sequence[str], prompts: Sequence[str], targets: Sequence[str]) -> list[ScreenResult]:
        """One verdict per sample: its prompt is one of the alias's evaluation prompts, or its prompt and answer are
        less similar than `learning.min_relevance` to every record of the alias's data."""
        out = [ScreenResult() for _ in aliases]
        todo: dict[str, list[int]] = {}
        refs = {alias: self.reference(alias) for alias in set(aliases)}  # one registry lookup per alias and batch
        for i, alias in enumerate(aliases):
            ref = refs[alias]
            if ref is None:
                continue
            if prompt_key(prompts[i]) in ref.eval_prompts:
                out[i] = ScreenResult(Refusal(RefusalCode.EVALUATION_RECORD,
                                              "matches an evaluation record of the alias (validation, regression or "
                                              "held-out feedback): evaluation data is never trained on"))
            elif ref.index is not None:
                todo.setdefault(alias, []).append(i)
        threshold = self.settings.learning.min_relevance
        for alias, idx in todo.items():
            sims = self._refs[alias].index.similarity([f"{prompts[i]}\n{targets[i]}" for i in idx])
            for i, sim in zip(idx, sims):
                out[i].relevance = round(float(sim), 4)
                if sim < threshold:
                    out[i].refusal = Refusal(RefusalCode.OFF_DOMAIN,
                                             f"off-domain: relevance {sim:.2f} to the data of {alias!r} is below "
                                             f"learning.min_relevance {threshold}")
        return out
