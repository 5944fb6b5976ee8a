"""Quality report of a dataset: per-record flags and totals.

Checks (flags): invalid_shape, too_short / too_long (settings.data min/max characters), invalid_utf8
(U+FFFD or lone surrogates), exact_duplicate (normalised SHA-256, `duplicate_of` = first index),
near_duplicate (MinHash over word 3-grams + LSH, estimated Jaccard >= threshold), toxic (pluggable
scorer), off_domain (relevance below threshold). Relevance is the cosine similarity of the record's
embedding to its nearest corpus chunk (so "the domain" is whatever corpus is indexed); without a corpus
it is not computed.

Quality score per record in [0, 1]: 0 for a hard failure (shape, length, UTF-8, exact duplicate, toxic);
otherwise relevance-scaled (0.5 + 0.5 * relevance, or 1 without relevance), halved for near duplicates.
"""

from __future__ import annotations

import re
from collections import Counter

from clara_ray.records import QualityLimits, RecordError, content_hash, content_of, normalise, quality_problem

HARD = {"invalid_shape", "too_short", "too_long", "invalid_utf8", "exact_duplicate", "toxic"}
_WORD = re.compile(r"\w+", re.UNICODE)


def _shingles(text: str, n: int = 3) -> set[bytes]:
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return {" ".join(words).encode("utf-8", "surrogatepass")}
    return {" ".join(words[i:i + n]).encode("utf-8", "surrogatepass") for i in range(len(words) - n + 1)}


def near_duplicates(texts: list[str], threshold: float, num_perm: int) -> dict[int, tuple[int, float]]:
    """index -> (earlier index it nearly duplicates, estimated Jaccard). Empty texts are skipped."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    hashes: dict[int, MinHash] = {}
    out: dict[int, tuple[int, float]] = {}
    for i, t in enumerate(texts):
        if not t:
            continue
        m = MinHash(num_perm=num_perm, seed=1)
        m.update_batch(list(_shingles(t)))
        best = None
        for key in lsh.query(m):
            j = int(key)
            sim = m.jaccard(hashes[j])
            if sim >= threshold and (best is None or sim > best[1] or (sim == best[1] and j < best[0])):
                best = (j, sim)
        if best:
            out[i] = (best[0], round(best[1], 3))
        hashes[i] = m
        lsh.insert(str(i), m)
    return out


def analyze_records(records: list[dict], *, limits: QualityLimits, toxicity, relevance=None,
                    near_threshold: float = 0.8, num_perm: int = 128, toxicity_threshold: float = 0.5,
                    relevance_threshold: float = 0.45) -> dict:
    """`toxicity`: scorer (see toxicity.py); `relevance`: callable(texts) -> list[float | None] or None."""
    texts, entries = [], []
    for i, r in enumerate(records):
        e = {"index": i, "flags": []}
        try:
            text = content_of(normalise(r))
        except RecordError as err:
            text = ""
            e["flags"].append("invalid_shape")
            e["detail"] = str(err)
        texts.append(text)
        e["length"] = len(text)
        if text:
            problem = quality_problem(text, limits)
            if problem:
                e["flags"].append("too_short" if problem.startswith("too short") else
                                  "too_long" if problem.startswith("too long") else "invalid_utf8")
            if "invalid_utf8" not in e["flags"] and ("\ufffd" in text or _has_surrogates(text)):
                e["flags"].append("invalid_utf8")
        entries.append(e)
    first_by_hash: dict[str, int] = {}
    for i, t in enumerate(texts):
        if not t:
            continue
        h = content_hash(t)
        if h in first_by_hash:
            entries[i]["flags"].append("exact_duplicate")
            entries[i]["duplicate_of"] = first_by_hash[h]
        else:
            first_by_hash[h] = i
    unique = [t if "exact_duplicate" not in entries[i]["flags"] else "" for i, t in enumerate(texts)]
    for i, (j, sim) in near_duplicates(unique, near_threshold, num_perm).items():
        entries[i]["flags"].append("near_duplicate")
        entries[i]["near_duplicate_of"] = j
        entries[i]["similarity"] = sim
    for e, (score, hits) in zip(entries, toxicity.score(texts)):
        e["toxicity"] = score
        if score >= toxicity_threshold:
            e["flags"].append("toxic")
            e["toxic_terms"] = hits
    rel = relevance(texts) if relevance else [None] * len(texts)
    for e, r, t in zip(entries, rel, texts):
        e["relevance"] = None if r is None or not t else round(float(r), 4)
        if e["relevance"] is not None and e["relevance"] < relevance_threshold:
            e["flags"].append("off_domain")
        e["quality_score"] = _quality(e)
    totals = Counter(f for e in entries for f in e["flags"])
    clean = sum(1 for e in entries if not e["flags"])
    scored = [e["relevance"] for e in entries if e["relevance"] is not None]
    return {
        "records": len(records),
        "clean": clean,
        "flagged": len(records) - clean,
        "totals": {f: totals.get(f, 0) for f in ("invalid_shape", "too_short", "too_long", "invalid_utf8",
                                                 "exact_duplicate", "near_duplicate", "toxic", "off_domain")},
        "mean_quality": round(sum(e["quality_score"] for e in entries) / len(entries), 4) if entries else 0.0,
        "mean_relevance": round(sum(scored) / len(scored), 4) if scored else None,
        "entries": entries,
    }


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def _quality(e: dict) -> float:
    if HARD & set(e["flags"]):
        return 0.0
    q = 1.0 if e["relevance"] is None else 0.5 + 0.5 * max(0.0, min(1.0, e["relevance"]))
    if "near_duplicate" in e["flags"]:
        q /= 2
    if "off_domain" in e["flags"]:
        q = min(q, 0.25)
    return round(q, 4)
