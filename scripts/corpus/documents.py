"""Longer search-corpus documents (statute excerpts, judgments, guidelines, FAQs) per domain."""

from __future__ import annotations

import datetime as dt
import random
from types import ModuleType

from scripts.corpus import qa

DOCUMENT_TYPES = ["gesetz", "urteil", "verwaltungsvorschrift", "leitfaden", "faq"]
MIN_TEXT = 600
MAX_TEXT = 2500

_COURT_SUFFIX = {"gericht", "hof"}


def _date(rng: random.Random) -> str:
    start = dt.date(2015, 1, 1)
    days = (dt.date(2025, 12, 31) - start).days
    return (start + dt.timedelta(days=rng.randint(0, days))).isoformat()


def _de(date: str) -> str:
    """ISO date -> German notation (TT.MM.JJJJ)."""
    y, m, d = date.split("-")
    return f"{d}.{m}.{y}"


def _topics(rng: random.Random, vocab: ModuleType, primary: dict) -> list[dict]:
    """Primary topic plus one or two related topics of the same domain (shared references)."""
    others = [t for t in vocab.TOPICS if t is not primary]
    return [primary] + rng.sample(others, rng.choice([1, 2]))


def _refs(topics: list[dict]) -> list[str]:
    refs: list[str] = []
    for t in topics:
        for r in t["refs"]:
            if r not in refs:
                refs.append(r)
    return refs


def _gesetz(rng, vocab, topics, date):
    main = topics[0]
    ref = rng.choice(main["refs"])
    kind = rng.choice(["Auszug mit Erläuterungen", "Normtext und Kommentierung", "Synopse", "Praxishinweise zur Norm"])
    title = f"{ref} – {main['kw']} ({kind})"
    paras = [f"{ref} ({main['kw']})"]
    paras += [f"({i}) {s}" for i, s in enumerate(main["core"], 1)]
    paras.append("Erläuterungen: Die Vorschrift steht im systematischen Zusammenhang mit "
                 + ", ".join(_refs(topics)[1:] or main["refs"]) + ".")
    for t in topics[1:]:
        paras.append(rng.choice(t["core"]))
    paras.append(f"Stand der Fassung: {_de(date)}. Geltendes Recht: {', '.join(vocab.STATUTES[:3])}.")
    return title, paras


def _urteil(rng, vocab, topics, date):
    main = topics[0]
    courts = [s for s in vocab.SOURCES if any(s.endswith(x) for x in _COURT_SUFFIX)] or vocab.SOURCES
    court = rng.choice(courts)
    az = f"{rng.randint(1, 12)} {rng.choice('ABCKS')} {rng.randint(10, 999)}/{date[2:4]}"
    title = f"{court}, Urteil vom {_de(date)}, Az. {az} – {main['kw']}"
    paras = [f"Leitsatz: {rng.choice(main['core'])}",
             f"Tatbestand: {rng.choice(vocab.SITUATIONS)} {rng.choice(vocab.SITUATIONS)} "
             f"Die Beteiligten streiten über die Anwendung von {main['refs'][0]}.",
             "Entscheidungsgründe: Die Klage ist zulässig. "
             + " ".join(rng.sample(main["core"], 2))]
    for t in topics[1:]:
        paras.append(f"Ergänzend ist {t['refs'][0]} zu berücksichtigen. {rng.choice(t['core'])}")
    paras.append(rng.choice(vocab.PROCEDURE))
    paras.append(f"Die Kostenentscheidung beruht auf § 154 Abs. 1 VwGO. Die Revision wird {rng.choice(['nicht ', ''])}zugelassen.")
    return title, paras


def _vv(rng, vocab, topics, date):
    main = topics[0]
    title = f"Verwaltungsvorschrift zum Vollzug von {main['refs'][0]} ({main['kw']})"
    paras = [f"1. Anwendungsbereich: Diese Verwaltungsvorschrift konkretisiert den Vollzug von "
             f"{', '.join(_refs(topics))} durch die zuständigen Behörden."]
    n = 2
    for t in topics:
        for s in rng.sample(t["core"], 2):
            paras.append(f"{n}. {s}")
            n += 1
    paras.append(f"{n}. Verfahren: {' '.join(rng.sample(vocab.PROCEDURE, 2))}")
    paras.append(f"{n + 1}. Inkrafttreten: Diese Verwaltungsvorschrift tritt am {_de(date)} in Kraft.")
    return title, paras


def _leitfaden(rng, vocab, topics, date):
    main = topics[0]
    title = f"Leitfaden {main['kw']}: Hinweise für die Praxis ({date[:4]})"
    paras = [f"Dieser Leitfaden richtet sich an Behörden und Betroffene und erläutert die Anforderungen "
             f"nach {', '.join(_refs(topics))}. Typischer Anwendungsfall: {rng.choice(vocab.SITUATIONS)}"]
    for i, t in enumerate(topics, 1):
        paras.append(f"Schritt {i} – {t['kw']}: " + " ".join(rng.sample(t["core"], 2)))
    paras.append("Praxistipp: " + " ".join(rng.sample(vocab.PROCEDURE, 2)))
    closer = rng.choice([c for c in vocab.CLOSERS if c])
    paras.append(f"Fazit: {closer}")
    return title, paras


def _faq(rng, vocab, topics, date):
    main = topics[0]
    title = f"Häufige Fragen: {main['kw']} und {topics[1]['kw']}"
    paras = [f"Die folgenden Antworten fassen die Rechtslage nach {', '.join(_refs(topics))} zusammen."]
    for t in topics:
        ctx = qa.make_context(rng, vocab, t)
        # Question and answer form one paragraph so length trimming never separates them.
        paras.append(f"Frage: {qa.make_prompt(rng, vocab, ctx)}\nAntwort: {qa.make_response(rng, vocab, t, ctx)}")
    return title, paras


def _source(rng: random.Random, vocab: ModuleType, doc_type: str, title: str) -> str:
    if doc_type == "urteil":
        return title.split(",", 1)[0]
    if doc_type == "gesetz":
        return rng.choice(["Bundesgesetzblatt", "Gesetz- und Verordnungsblatt des Landes"])
    return rng.choice([s for s in vocab.SOURCES if not any(s.endswith(x) for x in _COURT_SUFFIX)])


_BUILDERS = {"gesetz": _gesetz, "urteil": _urteil, "verwaltungsvorschrift": _vv,
             "leitfaden": _leitfaden, "faq": _faq}


def _fit(rng: random.Random, vocab: ModuleType, paras: list[str]) -> str:
    text = "\n\n".join(paras)
    pool = list(vocab.PROCEDURE)
    rng.shuffle(pool)
    while len(text) < MIN_TEXT and pool:
        paras.insert(-1, pool.pop())
        text = "\n\n".join(paras)
    # Soft length cap keeps the committed corpus small; never drop below MIN_TEXT.
    cap = rng.randint(700, 1150)
    while len(text) > cap and len(paras) > 3:
        shorter = "\n\n".join(paras[:-2] + paras[-1:])
        if len(shorter) < MIN_TEXT:
            break
        paras.pop(-2)
        text = shorter
    return text


def generate(rng: random.Random, vocabs: list[ModuleType], per_domain: int = 60) -> list[dict]:
    docs: list[dict] = []
    seen_titles: set[str] = set()
    for vocab in vocabs:
        made = attempts = 0
        while made < per_domain:
            attempts += 1
            if attempts > per_domain * 50:
                raise RuntimeError(f"{vocab.DOMAIN}: cannot build {per_domain} distinct documents")
            doc_type = DOCUMENT_TYPES[made % len(DOCUMENT_TYPES)]
            primary = vocab.TOPICS[(attempts + made // len(DOCUMENT_TYPES)) % len(vocab.TOPICS)]
            topics = _topics(rng, vocab, primary)
            date = _date(rng)
            title, paras = _BUILDERS[doc_type](rng, vocab, topics, date)
            if title in seen_titles:
                continue
            text = _fit(rng, vocab, paras)
            if not MIN_TEXT <= len(text) <= MAX_TEXT:
                continue
            seen_titles.add(title)
            made += 1
            docs.append({
                "title": title,
                "text": text,
                "document_type": doc_type,
                "domain": vocab.DOMAIN,
                "date": date,
                "source": _source(rng, vocab, doc_type, title),
                "quality_score": round(rng.uniform(0.4, 0.99), 2),
            })
    rng.shuffle(docs)
    return [{"id": f"doc-{i:04d}", **d} for i, d in enumerate(docs, 1)]
