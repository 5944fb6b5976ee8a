"""German-aware tokenisation for the keyword index and keyword entities: lower-case, stop words, Snowball stems."""

from __future__ import annotations

import functools
import re

WORD = re.compile(r"[^\W_]+", re.UNICODE)

STOPWORDS = frozenset("""
aber alle allem allen aller alles als also am an ander andere anderem anderen anderer anderes auch auf aus bei
beim bin bis bist da damit dann das dass dasselbe dazu dein deine dem den denn der des desselben dessen dich die
dies diese dieselbe dieselben diesem diesen dieser dieses dir doch dort du durch ein eine einem einen einer eines
einig einige er es etwas euch euer für gegen gewesen hab habe haben hat hatte hatten hier hin hinter ich ihm ihn
ihnen ihr ihre im in indem ins ist jede jedem jeden jeder jedes jene jenem jenen jener jenes jetzt kann kein keine
können könnte machen man manche mein meine mit muss musste nach nicht nichts noch nun nur ob oder ohne sehr sein
seine sich sie sind so solche soll sollte sondern sonst um und uns unser unter viel vom von vor war waren warum
was weil welche welchem welchen welcher welches wenn wer werde werden wie wieder will wir wird wo wollen zu zum
zur zwar zwischen abs nr satz s art bzw etwa z b sowie wurde wurden wann darf dürfen gilt
the a an and or of to in is are for on with what how
""".split())


@functools.lru_cache(maxsize=1)
def _stemmer():
    import snowballstemmer

    return snowballstemmer.stemmer("german")


@functools.lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Snowball German stem of one lower-case word (cached: corpus vocabularies are small)."""
    return _stemmer().stemWord(word)


def terms(text: str) -> list[str]:
    """Index/query terms: lower-cased words without stop words, stemmed; numbers are kept as they are."""
    out = []
    for w in WORD.findall(text.lower()):
        if w in STOPWORDS or (len(w) < 2 and not w.isdigit()):
            continue
        out.append(w if w.isdigit() else stem(w))
    return out
