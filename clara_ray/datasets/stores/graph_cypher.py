"""Graph store logic in Cypher shared by the embedded (ladybug) and Neo4j implementations.

Schema: (:Document {id, title, document_type, domain, date_int, quality_score})
        (:Entity {key, name, kind})   kind: provision | statute | keyword
        (Document)-[:MENTIONS {count}]->(Entity), (Entity)-[:PART_OF]->(Entity), (Entity)-[:CO_OCCURS {weight}]->(Entity)
CO_OCCURS weights count documents mentioning both entities (stored once per pair, a < b); a re-ingest first
subtracts the document's old pairs, so weights stay exact without a rebuild. A store with in-memory `postings`
(the embedded one) writes no CO_OCCURS edges: the postings count co-occurrence themselves, the same weights.

Graph search (documented scoring): seeds = query entity keys present in the graph, weight 1. Expansion:
a seed provision's statute (PART_OF) gets weight 0.3; each provision/keyword seed's CO_OCCURS neighbours with conditional
probability P(b|a) = weight(a,b) / df(a) >= 0.3 get 0.5 * P(b|a) (at most 5 per seed). A document scores
  sum over entities e it mentions: weight(e) * ln(1 + N / df(e)) * (1 + ln(count))
so rare entities and repeated mentions count more (tf = 1 + ln(count) is stored on the MENTIONS edge, and
the sum is one aggregate query in the database, or for the embedded store a bincount over its in-memory postings,
graph_postings.py). Filters apply to the Document node.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

from clara_ray.datasets.entities import cooccurrence_pairs
from clara_ray.datasets.filters import SearchFilters
from clara_ray.datasets.stores.base import GraphDocument, Hit
from clara_ray.datasets.stores.graph_postings import EntityPostings, PostingDoc

PART_OF_WEIGHT = 0.3
COOC_MIN_P = 0.3
COOC_WEIGHT = 0.5
COOC_PER_SEED = 5


class CypherGraphStore:
    """Subclasses provide `_run(query, params) -> list[list]` and create the schema; the embedded store also keeps
    `postings` (graph_postings.EntityPostings), which then scores searches instead of the database."""

    postings: EntityPostings | None = None

    def _run(self, query: str, params: dict | None = None) -> list[list]:  # pragma: no cover - abstract
        raise NotImplementedError

    # ---- writes ----
    def upsert_documents(self, docs: list[GraphDocument]) -> None:
        if not docs:
            return
        ids = [d.id for d in docs]
        self._remove_mentions(ids)
        self._run("UNWIND $docs AS r MERGE (d:Document {id: r.id}) SET d.title = r.title, "
                  "d.document_type = r.document_type, d.domain = r.domain, d.date_int = r.date_int, "
                  "d.quality_score = r.quality_score",
                  {"docs": [{"id": d.id, "title": d.title, "document_type": d.document_type, "domain": d.domain,
                             "date_int": int(d.date_int), "quality_score": float(d.quality_score)} for d in docs]})
        ents = {k: e for d in docs for k, e in d.entities.items()}
        if ents:
            self._run("UNWIND $ents AS e MERGE (x:Entity {key: e.key}) ON CREATE SET x.name = e.name, x.kind = e.kind",
                      {"ents": [{"key": k, "name": e["name"], "kind": e["kind"]} for k, e in ents.items()]})
        mentions = [{"doc": d.id, "key": k, "count": int(max(e["count"], 1)), "tf": 1.0 + math.log(max(e["count"], 1))}
                    for d in docs for k, e in d.entities.items()]
        if mentions:
            self._create_mentions(mentions)
        part_of = sorted({p for d in docs for p in d.part_of})
        if part_of:
            self._run("UNWIND $p AS p MATCH (a:Entity {key: p.a}), (b:Entity {key: p.b}) MERGE (a)-[:PART_OF]->(b)",
                      {"p": [{"a": a, "b": b} for a, b in part_of]})
        if self._cooccurrence_edges:
            pairs = Counter(p for d in docs for p in cooccurrence_pairs(list(d.entities)))
            if pairs:
                self._add_cooccurrences(pairs)
        self._n_docs = None
        if self.postings:
            self.postings.add(docs, [(m["doc"], m["key"], m["tf"]) for m in mentions])

    @property
    def _cooccurrence_edges(self) -> bool:
        """Whether co-occurrence lives in CO_OCCURS edges; with postings it is counted in memory (graph_postings.py)."""
        return self.postings is None

    def _create_mentions(self, mentions: list[dict]) -> None:
        """MENTIONS edges (dicts: doc, key, count, tf); both ends exist."""
        self._run("UNWIND $m AS m MATCH (d:Document {id: m.doc}), (e:Entity {key: m.key}) "
                  "CREATE (d)-[:MENTIONS {count: m.count, tf: m.tf}]->(e)", {"m": mentions})

    def _add_cooccurrences(self, pairs: Counter) -> None:
        """Add each (a, b) pair's count to its CO_OCCURS weight, creating the edges that do not exist yet."""
        self._run("UNWIND $p AS p MATCH (a:Entity {key: p.a}), (b:Entity {key: p.b}) "
                  "MERGE (a)-[r:CO_OCCURS]->(b) ON CREATE SET r.weight = p.w ON MATCH SET r.weight = r.weight + p.w",
                  {"p": [{"a": a, "b": b, "w": w} for (a, b), w in pairs.items()]})

    def _remove_mentions(self, ids: list[str]) -> None:
        """Undo what these documents contributed: their MENTIONS edges and their CO_OCCURS counts."""
        rows = self._run("MATCH (d:Document)-[:MENTIONS]->(e:Entity) WHERE d.id IN $ids RETURN d.id, e.key", {"ids": ids})
        if not rows:
            return
        old: dict[str, list[str]] = defaultdict(list)
        for doc_id, key in rows:
            old[doc_id].append(key)
        pairs = Counter(p for keys in old.values() for p in cooccurrence_pairs(keys)) if self._cooccurrence_edges else None
        if pairs:
            plist = [{"a": a, "b": b, "w": w} for (a, b), w in pairs.items()]
            self._run("UNWIND $p AS p MATCH (a:Entity {key: p.a})-[r:CO_OCCURS]->(b:Entity {key: p.b}) "
                      "SET r.weight = r.weight - p.w", {"p": plist})
            self._run("UNWIND $p AS p MATCH (a:Entity {key: p.a})-[r:CO_OCCURS]->(b:Entity {key: p.b}) "
                      "WHERE r.weight <= 0 DELETE r", {"p": plist})
        self._run("MATCH (d:Document)-[m:MENTIONS]->(:Entity) WHERE d.id IN $ids DELETE m", {"ids": ids})

    def delete_documents(self, doc_ids: list[str]) -> None:
        if doc_ids:
            self._remove_mentions(list(doc_ids))
            self._run("MATCH (d:Document) WHERE d.id IN $ids DETACH DELETE d", {"ids": list(doc_ids)})
            self._n_docs = None
            if self.postings:
                self.postings.remove(list(doc_ids))

    # ---- reads ----
    _n_docs: int | None = None

    def document_count(self) -> int:
        if self.postings:
            return self.postings.document_count()
        if self._n_docs is None:
            self._n_docs = int(self._run("MATCH (d:Document) RETURN count(d)")[0][0])
        return self._n_docs

    def _df(self, keys: list[str]) -> dict[str, int]:
        if not keys:
            return {}
        if self.postings:
            return self.postings.df(keys)
        rows = self._run("MATCH (d:Document)-[:MENTIONS]->(e:Entity) WHERE e.key IN $keys RETURN e.key, count(d)",
                         {"keys": keys})
        return {k: int(n) for k, n in rows}

    def expand(self, seeds: list[str], df: dict[str, int]) -> dict[str, float]:
        """Entity weights for a query: seeds 1.0 plus PART_OF and CO_OCCURS neighbours (see module doc)."""
        weights = {k: 1.0 for k in seeds}
        if not seeds:
            return weights
        for (b,) in self._run("MATCH (a:Entity)-[:PART_OF]->(b:Entity) WHERE a.key IN $keys RETURN b.key",
                              {"keys": seeds}):
            weights[b] = max(weights.get(b, 0.0), PART_OF_WEIGHT)
        specific = [k for k in seeds if not k.startswith("statute:")]  # statutes co-occur with everything
        if not specific:
            return weights
        rows = self._cooccurring(specific, COOC_PER_SEED * 20 * len(specific))
        taken: Counter = Counter()
        for a, b, w in rows:
            p = float(w) / max(df.get(a, 1), 1)
            if p >= COOC_MIN_P and taken[a] < COOC_PER_SEED and b not in seeds:
                taken[a] += 1
                weights[b] = max(weights.get(b, 0.0), COOC_WEIGHT * min(p, 1.0))
        return weights

    def _cooccurring(self, seeds: list[str], limit: int) -> list[tuple[str, str, int]]:
        """(a, b, weight) of the seeds' CO_OCCURS neighbours, heaviest first (ties by a, then b), at most `limit`."""
        if self.postings:
            return self.postings.cooccurring(seeds, limit)
        return [(a, b, int(w)) for a, b, w in self._run(
            "MATCH (a:Entity)-[r:CO_OCCURS]-(b:Entity) WHERE a.key IN $keys "
            "RETURN a.key, b.key, r.weight ORDER BY r.weight DESC, a.key, b.key LIMIT $n",
            {"keys": seeds, "n": limit})]

    def search(self, keys: list[str], limit: int, filters: SearchFilters | None = None) -> list[Hit]:
        df = self._df(keys)
        seeds = [k for k in keys if df.get(k)]
        if not seeds:
            return []
        weights = self.expand(seeds, df)
        df.update(self._df([k for k in weights if k not in df]))
        n = max(self.document_count(), 1)
        ents = [{"key": k, "w": w * math.log(1 + n / df[k])} for k, w in weights.items() if df.get(k)]
        matched = [k for k in keys if k in seeds]
        if self.postings:
            ranked = self.postings.top({e["key"]: e["w"] for e in ents}, limit, filters)
            return [Hit(doc_id=d, score=sc, matched=matched) for d, sc in ranked]
        where, params = (filters or SearchFilters()).cypher("d")
        # One aggregate query: the database sums w * tf over the postings and returns only the top documents.
        rows = self._run("UNWIND $ents AS q MATCH (d:Document)-[m:MENTIONS]->(e:Entity) "
                         f"WHERE e.key = q.key{where} "
                         "RETURN d.id, sum(q.w * m.tf) AS s ORDER BY s DESC, d.id LIMIT $n",
                         {"ents": ents, "n": limit, **params})
        return [Hit(doc_id=d, score=float(sc), matched=matched) for d, sc in rows]

    def _posting_rows(self) -> tuple[list[PostingDoc], list[tuple[str, str, float]]]:
        """Everything EntityPostings loads: each document's filter properties and every MENTIONS edge's tf."""
        docs = [PostingDoc(i, t or "", dm or "", int(di or 0), float(q or 0.0)) for i, t, dm, di, q in self._run(
            "MATCH (d:Document) RETURN d.id, d.document_type, d.domain, d.date_int, d.quality_score")]
        return docs, [(d, k, float(tf)) for d, k, tf in self._run(
            "MATCH (d:Document)-[m:MENTIONS]->(e:Entity) RETURN d.id, e.key, m.tf")]

    def document_entities(self, doc_id: str) -> list[dict]:
        rows = self._run("MATCH (d:Document {id: $id})-[m:MENTIONS]->(e:Entity) "
                         "RETURN e.key, e.name, e.kind, m.count ORDER BY m.count DESC, e.key", {"id": doc_id})
        return [{"key": k, "name": nm, "kind": kd, "count": int(c)} for k, nm, kd, c in rows]

    def neighbours(self, key: str, limit: int = 10) -> list[dict]:
        rows = self._cooccurring([key], limit)
        names = dict(self._run("MATCH (e:Entity) WHERE e.key IN $keys RETURN e.key, e.name",
                               {"keys": [b for _, b, _ in rows]})) if rows else {}
        return [{"key": b, "name": names.get(b), "weight": w} for _, b, w in rows]

    def stats(self) -> dict:
        return {"documents": self.document_count(),
                "entities": int(self._run("MATCH (e:Entity) RETURN count(e)")[0][0]),
                "mentions": int(self._run("MATCH (:Document)-[m:MENTIONS]->(:Entity) RETURN count(m)")[0][0])}
