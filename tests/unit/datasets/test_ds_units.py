"""Pure units of the dataset service: entity extraction, chunking, document parsing, filters, fusion, toxicity."""

from __future__ import annotations

import pytest

from clara_ray.datasets.chunking import chunk_text
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


def test_chunking_keeps_paragraphs_and_limits_size():
    text = "\n\n".join(f"Absatz {i}. " + "Wort " * 40 for i in range(6))
    chunks = chunk_text(text, size=300, overlap=40)
    assert len(chunks) > 2 and all(len(c) <= 300 + 300 // 3 + 2 for c in chunks)
    long = chunk_text("Satz eins ist hier. " * 100, size=200, overlap=40)
    assert all(len(c) <= 200 for c in long) and len(long) > 5
    assert chunk_text("kurz") == ["kurz"]


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
