"""Entity and relation extraction for the graph: legal references ("§ 35 Abs. 2 BauGB"), statutes, named keywords.

Entity keys are stable strings, so re-ingest and query extraction meet on the same graph nodes:
  ref:§ 35 BauGB     a provision (paragraph/article of a statute; Abs./Nr. are folded into the provision)
  statute:BauGB      a statute, by its abbreviation (full names such as "Baugesetzbuch" map to it)
  kw:außenbereich    a named keyword: a frequent capitalised noun of the document (stemmed key)
Relations: provision -PART_OF-> statute; document -MENTIONS{count}-> entity; entity -CO_OCCURS{weight}- entity
(counted once per document that mentions both).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from clara_ray.datasets.text import STOPWORDS, stem

# Abbreviation -> full name. Extend through `extra_statutes` (e.g. from configuration) where needed.
STATUTES: dict[str, str] = {
    "GG": "Grundgesetz", "BauGB": "Baugesetzbuch", "BauNVO": "Baunutzungsverordnung", "LBO": "Landesbauordnung",
    "PlanZV": "Planzeichenverordnung", "VwVfG": "Verwaltungsverfahrensgesetz", "VwGO": "Verwaltungsgerichtsordnung",
    "VwZG": "Verwaltungszustellungsgesetz", "VwVG": "Verwaltungsvollstreckungsgesetz", "AO": "Abgabenordnung",
    "EStG": "Einkommensteuergesetz", "UStG": "Umsatzsteuergesetz", "GewStG": "Gewerbesteuergesetz",
    "KStG": "Körperschaftsteuergesetz", "ErbStG": "Erbschaftsteuergesetz", "GrStG": "Grundsteuergesetz",
    "FGO": "Finanzgerichtsordnung", "SGG": "Sozialgerichtsgesetz", "SGB": "Sozialgesetzbuch",
    "BImSchG": "Bundes-Immissionsschutzgesetz", "BImSchV": "Bundes-Immissionsschutzverordnung",
    "BNatSchG": "Bundesnaturschutzgesetz", "UVPG": "Gesetz über die Umweltverträglichkeitsprüfung",
    "WHG": "Wasserhaushaltsgesetz", "UmwRG": "Umwelt-Rechtsbehelfsgesetz", "KrWG": "Kreislaufwirtschaftsgesetz",
    "BBodSchG": "Bundes-Bodenschutzgesetz", "UIG": "Umweltinformationsgesetz", "IFG": "Informationsfreiheitsgesetz",
    "BGB": "Bürgerliches Gesetzbuch", "StGB": "Strafgesetzbuch", "ZPO": "Zivilprozessordnung",
    "OWiG": "Gesetz über Ordnungswidrigkeiten", "DSGVO": "Datenschutz-Grundverordnung", "BDSG": "Bundesdatenschutzgesetz",
    "GemO": "Gemeindeordnung", "BauO": "Bauordnung", "TA Lärm": "Technische Anleitung zum Schutz gegen Lärm",
    "TA Luft": "Technische Anleitung zur Reinhaltung der Luft",
}
_ROMAN = r"(?:XII|XI|X|IX|VIII|VII|VI|V|IV|III|II|I)"
# A statute token: a known abbreviation, or an unknown CamelCase abbreviation ending in G/O/V/B (e.g. "KAG", "BayBO").
_ABBR = r"(?:TA Lärm|TA Luft|\d{1,2}\. BImSchV|SGB " + _ROMAN + r"\b|[A-ZÄÖÜ][A-Za-zÄÖÜäöü]{0,10}(?:G|O|V|B|GB|VO))"
_NUM = r"\d+[a-z]?(?:\s*(?:Abs\.|Satz|S\.|Nr\.|Buchst\.)\s*\d+[a-z]?)*"
STATUTE = re.compile(r"(?<![\w§.])(" + _ABBR + r")(?![\w])")
NOUN = re.compile(r"\b[A-ZÄÖÜ][a-zäöüß]{5,}(?:-[A-ZÄÖÜ]?[a-zäöüß]+)*\b")
# Words that look like statute abbreviations but are not.
_NOT_STATUTES = {"DAB", "OVG", "BVerwG", "BFH", "BSG", "VG", "LSG", "FG", "BGH", "EuGH", "BVerfG", "Nr", "Abs"}
_NAME_TO_ABBR = {name.lower(): abbr for abbr, name in STATUTES.items()}
_NAME_ALT = "|".join(sorted(map(re.escape, _NAME_TO_ABBR), key=len, reverse=True))
_NAMES = re.compile(r"(?<![\w-])(" + _NAME_ALT + r")(?:e?s|n)?(?![\w-])", re.IGNORECASE)
# A provision group: "§ 35 Abs. 2 BauGB", "§§ 14, 15 BNatSchG", "§ 14 und § 15 des Bundesnaturschutzgesetzes".
REF = re.compile(r"(§§?|Art\.)\s*(" + _NUM + r"(?:\s*(?:,|und|sowie|oder|bis)\s*(?:§§?\s*)?" + _NUM + r")*)"
                 r"\s+(?:(?:des|der|dem|den|im|nach dem)\s+)?(?:(" + _ABBR + r")|((?i:" + _NAME_ALT + r"))(?:e?s|n)?)(?![\w])")
# Structure words of legal documents (headings, FAQ/judgment boilerplate): never named keywords.
_BOILERPLATE = set("""frage antwort antworten leitsatz tatbestand entscheidungsgründe urteil urteile leitfaden hinweise hinweis
praxis praxistipp schritt erläuterungen anwendungsbereich inkrafttreten verfahren behörde behörden beteiligten fazit
vorschrift vorschriften fassung stand häufige fragen geltendes zusammenhang norm kommentierung auszug synopse
verwaltungsvorschrift vollzug rechtslage anforderungen betroffene kostenentscheidung revision klage""".split())


@dataclass
class Extraction:
    """What one text mentions: entity key -> (display name, kind, count), plus PART_OF pairs."""

    entities: dict[str, dict] = field(default_factory=dict)
    part_of: set[tuple[str, str]] = field(default_factory=set)

    def add(self, key: str, name: str, kind: str, n: int = 1) -> None:
        e = self.entities.setdefault(key, {"key": key, "name": name, "kind": kind, "count": 0})
        e["count"] += n


def statute_key(abbr: str) -> str:
    return f"statute:{' '.join(abbr.split())}"


def _is_statute(abbr: str, known_only: bool) -> bool:
    if abbr in _NOT_STATUTES:
        return False
    base = abbr.split()[-1] if abbr[0].isdigit() else abbr.split()[0]
    return (abbr in STATUTES or base in STATUTES or abbr.startswith(("SGB ", "TA "))) or not known_only


def extract(text: str, *, keywords: int = 8, known_statutes_only: bool = False) -> Extraction:
    """Entities of a document (or a query) and the PART_OF links of its provisions."""
    out = Extraction()
    for m in REF.finditer(text):
        sign, nums, abbr, name = m.groups()
        abbr = " ".join(abbr.split()) if abbr else _NAME_TO_ABBR[name.lower()]
        if not _is_statute(abbr, known_statutes_only):
            continue
        # Numbers of the group, without the Abs./Nr. details ("14 Abs. 2, 15" -> 14, 15).
        for num in re.findall(r"(?:^|,|und|sowie|oder|bis|§)\s*§?\s*(\d+[a-z]?)", nums):
            prov = f"{'Art.' if sign.startswith('Art') else '§'} {num} {abbr}"
            out.add(f"ref:{prov}", prov, "provision")
            out.part_of.add((f"ref:{prov}", statute_key(abbr)))
        out.add(statute_key(abbr), abbr, "statute", 0)  # the statute node exists; counted below
    for m in STATUTE.finditer(text):
        abbr = " ".join(m.group(1).split())
        if _is_statute(abbr, True):
            out.add(statute_key(abbr), abbr, "statute")
    for m in _NAMES.finditer(text):  # full statute names ("Baugesetzbuch") -> the abbreviation's node
        abbr = _NAME_TO_ABBR[m.group(1).lower()]
        out.add(statute_key(abbr), abbr, "statute")
    if keywords:
        nouns = Counter(w for w in NOUN.findall(text)
                        if (lw := w.lower()) not in STOPWORDS and lw not in _BOILERPLATE and lw not in _NAME_TO_ABBR)
        ranked = sorted(nouns.items(), key=lambda kv: (-kv[1], -len(kv[0]), kv[0]))
        for word, n in ranked[:keywords]:
            out.add(f"kw:{stem(word.lower())}", word, "keyword", n)
    return out


def query_keys(query: str) -> list[str]:
    """Entity keys a search query may refer to: its references/statutes plus every word as a keyword key."""
    ex = extract(query, keywords=0, known_statutes_only=False)
    keys = list(ex.entities)
    for w in re.findall(r"[^\W\d_]{4,}", query):
        k = f"kw:{stem(w.lower())}"
        if w.lower() not in STOPWORDS and k not in keys:
            keys.append(k)
    return keys


COOCCURRENCE_KEYS = 16


def cooccurrence_keys(keys: list[str], limit: int = COOCCURRENCE_KEYS) -> list[str]:
    """The entities of one document that count for co-occurrence: its `limit` first keys in sorted order."""
    return sorted(set(keys))[:limit]


def cooccurrence_pairs(keys: list[str], limit: int = COOCCURRENCE_KEYS) -> list[tuple[str, str]]:
    """Unordered entity pairs of one document (a < b), over its `limit` first entities to bound the fan-out."""
    ks = cooccurrence_keys(keys, limit)
    return [(a, b) for i, a in enumerate(ks) for b in ks[i + 1:]]
