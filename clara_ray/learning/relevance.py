"""Domain relevance of texts to an alias's own data, the dataset analyzer's measure: the cosine similarity of a text
to its nearest reference record. Two vector spaces: lexical (TF-IDF character n-grams, fast) or sentence embeddings."""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np


class RelevanceIndex(Protocol):
    def similarity(self, texts: list[str]) -> np.ndarray:
        """Per text: cosine similarity to its nearest reference record, in [0, 1] for lexical, [-1, 1] embedded."""


def _nearest(sims) -> np.ndarray:
    """Row-wise maximum of a (texts x reference) similarity matrix, dense or sparse."""
    if hasattr(sims, "toarray"):
        sims = sims.toarray()
    return np.asarray(sims).max(axis=1)


class LexicalIndex:
    """TF-IDF over character 3-5-grams within words (hashed; IDF fitted on the reference), l2-normalised.

    Thousands of texts per second on one core, so screening keeps up with feedback ingest. Text sharing no
    vocabulary with the reference (another language, random characters) scores near 0; n-grams the reference
    never uses weigh most (they are rare by its IDF), which pulls off-domain text further down."""

    def __init__(self, reference: list[str]):
        from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer

        self._counts = HashingVectorizer(analyzer="char_wb", ngram_range=(3, 5), n_features=2 ** 20,
                                         alternate_sign=False, norm=None, lowercase=True)
        self._tfidf = TfidfTransformer(sublinear_tf=True).fit(self._counts.transform(reference))
        self._ref = self._tfidf.transform(self._counts.transform(reference))

    def similarity(self, texts: list[str]) -> np.ndarray:
        return _nearest(self._tfidf.transform(self._counts.transform(texts)) @ self._ref.T)


class EmbeddingIndex:
    """Sentence embeddings (datasets.embedding_model, as the analyzer and hybrid search use them): better on
    paraphrases, about a hundred texts per second on 2 CPU cores."""

    def __init__(self, reference: list[str], embed: Callable[[list[str]], np.ndarray]):
        self._embed = embed
        self._ref = embed(reference)

    def similarity(self, texts: list[str]) -> np.ndarray:
        return _nearest(self._embed(texts) @ self._ref.T)


def index_builder(settings) -> Callable[[list[str]], RelevanceIndex]:
    """reference texts -> index, by `learning.relevance_measure`."""
    if settings.learning.relevance_measure == "lexical":
        return LexicalIndex

    def embedded(reference: list[str]) -> RelevanceIndex:
        from clara_ray.datasets.embedding import shared_embedder

        c = settings.datasets
        model = shared_embedder(c.embedding_model, c.embedding_max_tokens, c.embedding_batch_size,
                                c.embedding_threads)
        return EmbeddingIndex(reference, model.embed)

    return embedded
