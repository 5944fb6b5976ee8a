"""Dataset registry: create (search, filter, ids, records, upload), immutable versions with stats, analyze, export."""

from __future__ import annotations

import io
import json

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from clara_ray.records import normalise
from clara_ray.datasets.errors import DatasetInputError, DatasetNotFound
from clara_ray.datasets.schemas import AnalyzeRequest, CreateDatasetRequest, ExportRequest, IngestRequest
from clara_ray.resources import load_jsonl, offdomain_path

from ds_fixtures import DOCS


@pytest.fixture
def svc(make_service, db):
    s = make_service(db)
    s.ingest(IngestRequest(documents=DOCS))
    return s


def create(svc, name, source, **kw):
    return svc.create_dataset(CreateDatasetRequest(name=name, source=source, **kw), created_by="alice")


def test_create_from_search_filter_ids_and_records(svc):
    by_search = create(svc, "bau", {"type": "search", "query": "§ 35 BauGB Außenbereich", "top_k": 3,
                                    "filters": {"domain": "baurecht"}}, granularity="document")
    assert by_search["version"] == 1 and by_search["created_by"] == "alice"
    recs = svc.registry.records(by_search["id"])
    assert recs[0]["doc_id"] == "bau-1" and {r["domain"] for r in recs} == {"baurecht"}
    assert all(isinstance(normalise(r), str) for r in recs)  # text records: trainable as they are
    assert by_search["source"]["type"] == "search" and "bau-1" in by_search["source"]["scores"]
    by_filter = create(svc, "steuer", {"type": "filter", "filters": {"domain": ["steuerrecht"], "min_quality": 0.6}})
    assert {r["doc_id"] for r in svc.registry.records(by_filter["id"])} == {"steu-1"}
    chunks = create(svc, "ids", {"type": "documents", "document_ids": ["vwv-1", "soz-1"]})
    assert [r["doc_id"] for r in svc.registry.records(chunks["id"])] == ["vwv-1", "soz-1"]
    assert chunks["stats"]["count"] == 2 and chunks["stats"]["tokens"] > 40
    inline = create(svc, "qa", {"type": "records", "records": [
        {"prompt": "Was ist ein Säumniszuschlag?", "response": "Ein Zuschlag von 1 % je Monat nach § 240 AO."}]})
    assert inline["stats"]["shapes"] == {"prompt_response": 1}
    with pytest.raises(DatasetInputError) as e:
        create(svc, "bad", {"type": "records", "records": [{"prompt": "only a prompt"}]})
    assert e.value.field == "source.records.0"
    with pytest.raises(DatasetInputError) as e:
        create(svc, "bad", {"type": "documents", "document_ids": ["nope"]})
    assert e.value.field == "source.document_ids"
    with pytest.raises(DatasetInputError):
        create(svc, "none", {"type": "filter", "filters": {"domain": ["kochen"]}})


def test_versions_are_immutable_and_listed(svc):
    v1 = create(svc, "ds", {"type": "documents", "document_ids": ["bau-1"]})
    v2 = create(svc, "ds", {"type": "documents", "document_ids": ["bau-1", "bau-2"]})
    assert (v1["version"], v2["version"]) == (1, 2) and v1["uri"] != v2["uri"]
    assert svc.get_dataset(v1["id"])["stats"]["count"] == 1  # v1 unchanged by v2
    assert len(svc.registry.records(v1["id"])) == 1
    listing = svc.list_datasets(name="ds")
    assert listing["total"] == 2 and {i["version"] for i in listing["items"]} == {1, 2}
    assert svc.list_datasets(limit=1)["total"] >= 2 and len(svc.list_datasets(limit=1)["items"]) == 1
    with pytest.raises(DatasetNotFound):
        svc.get_dataset("0" * 32)


def test_stats(svc):
    recs = [{"text": "a" * 100, "quality_score": 0.9, "domain": "baurecht"},
            {"text": "A" * 100, "quality_score": 0.3, "domain": "baurecht"},  # case-normalised duplicate
            {"prompt": "Frage?", "response": "Antwort " * 30, "domain": "sozialrecht"}]
    st = create(svc, "st", {"type": "records", "records": recs})["stats"]
    assert st["count"] == 3 and st["duplicates"] == 1 and st["duplicate_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert st["length"]["min"] == 100 and st["length"]["max"] > 200
    assert st["quality"]["mean"] == pytest.approx(0.6) and st["by_domain"] == {"baurecht": 2, "sozialrecht": 1}
    assert sum(st["length"]["histogram"].values()) == 3


def planted_upload() -> bytes:
    """JSONL with clean, duplicate, near-duplicate, bad-UTF-8, toxic, off-domain and too-short records."""
    base = [{"text": d["title"] + ". " + d["text"], "domain": d["domain"]} for d in DOCS]
    base.append({"text": DOCS[0]["text"] + " " + DOCS[5]["text"] + " " + DOCS[1]["text"], "domain": "baurecht"})
    near = base[-1]["text"].replace("landwirtschaftliche Betriebe", "forstwirtschaftliche Betriebe")
    recipe = next(r for r in load_jsonl(offdomain_path()) if "Personen" in r["response"])
    lines = [json.dumps(r, ensure_ascii=False).encode() for r in base]
    lines += [
        json.dumps({"text": "  " + base[2]["text"].upper() + " "}).encode(),  # exact duplicate (normalised)
        json.dumps({"text": near}).encode(),  # near duplicate
        b'{"text": "Die Beh\xf6rde entscheidet \xff\xfe nach \xc3\x28 pflichtgem\xe4\xdfem Ermessen \xfcber den Antrag."}',
        json.dumps({"text": "Du Vollidiot, halt die Fresse! Das Bauamt ist voller Idioten und Abschaum, ehrlich."}).encode(),
        json.dumps({"prompt": recipe["prompt"], "response": recipe["response"]}).encode(),  # off-domain
        json.dumps({"text": "zu kurz"}).encode(),
        b"{broken json",
    ]
    return b"\n".join(lines) + b"\n"


def test_upload_and_analyze_flags_planted_problems(svc):
    ds = svc.upload_dataset("planted", "planted.jsonl", planted_upload())
    n = len(DOCS) + 1
    assert ds["stats"]["count"] == n + 6 and ds["source"]["rejected"] == 1
    rep = svc.analyze(ds["id"], AnalyzeRequest(include_clean=True, create_clean_version=True))
    flags = {e["index"]: set(e["flags"]) for e in rep["entries"]}
    assert all(not flags[i] for i in range(n)), rep["entries"][:n]
    assert flags[n] == {"exact_duplicate"} and rep["entries"][n]["duplicate_of"] == 2
    assert flags[n + 1] == {"near_duplicate"} and rep["entries"][n + 1]["near_duplicate_of"] == n - 1
    assert "invalid_utf8" in flags[n + 2]
    assert "toxic" in flags[n + 3] and rep["entries"][n + 3]["toxic_terms"]
    assert flags[n + 4] == {"off_domain"} and rep["entries"][n + 4]["relevance"] < rep["thresholds"]["relevance"]
    assert "too_short" in flags[n + 5]
    assert rep["totals"]["exact_duplicate"] == 1 and rep["totals"]["near_duplicate"] == 1 and rep["clean"] == n
    assert all(e["quality_score"] == 0 for e in rep["entries"] if {"toxic", "invalid_utf8"} & set(e["flags"]))
    clean = rep["clean_version"]
    assert clean["name"] == "planted" and clean["version"] == 2 and clean["stats"]["count"] == n
    only_flagged = svc.analyze(ds["id"], AnalyzeRequest(limit=2))
    assert len(only_flagged["entries"]) == 2 and only_flagged["entries_truncated"]


def test_upload_rejects_unusable_files(svc):
    for name, content, needle in [("x.txt", b"hello", "unsupported file type"),
                                  ("x.jsonl", b"{bad\n", "no valid records"),
                                  ("x.csv", b"a,b\n1,2\n", "no valid records"),
                                  ("x.parquet", b"not parquet", "Parquet")]:
        with pytest.raises(DatasetInputError) as e:
            svc.upload_dataset("u", name, content)
        assert e.value.field == "file" and needle in str(e.value)


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "csv"])
def test_export_round_trips(svc, fmt, tmp_path):
    recs = [{"text": DOCS[0]["text"], "doc_id": "bau-1", "quality_score": 0.9},
            {"prompt": "Was gilt nach § 240 AO?", "response": "Ein Säumniszuschlag von 1 % je Monat.", "doc_id": "x"},
            {"messages": [{"role": "user", "content": "Hallo"}, {"role": "assistant", "content": "Guten Tag, äöü ß"}]}]
    ds = create(svc, "exp", {"type": "records", "records": recs})
    pieces, media, filename = svc.export(ds["id"], ExportRequest(format=fmt))
    data = b"".join(pieces)
    assert filename == f"exp-v1.{fmt}" and media
    if fmt == "jsonl":
        back = [json.loads(line) for line in data.decode().splitlines()]
    elif fmt == "parquet":
        back = pq.read_table(io.BytesIO(data)).to_pylist()
    else:
        back = pacsv.read_csv(io.BytesIO(data), convert_options=pacsv.ConvertOptions(strings_can_be_null=True)).to_pylist()
    assert [normalise({k: v for k, v in r.items() if v is not None}) for r in back] == [normalise(r) for r in recs]
    # The same bytes land in a store URI (folder -> <name>-v<version>.<fmt>), and re-upload as a new dataset.
    out = svc.export(ds["id"], ExportRequest(format=fmt, destination_uri=f"file://{tmp_path}/exports"))
    assert out["uri"].endswith(f"/exports/exp-v1.{fmt}") and out["records"] == 3
    assert (tmp_path / "exports" / f"exp-v1.{fmt}").read_bytes() == data
    again = svc.upload_dataset("exp-back", f"exp.{fmt}", data)
    assert again["stats"]["count"] == 3
    local = svc.export(ds["id"], ExportRequest(format=fmt, destination_uri=str(tmp_path / "x" / f"file.{fmt}")))
    assert (tmp_path / "x" / f"file.{fmt}").stat().st_size == local["bytes"] == len(data)
