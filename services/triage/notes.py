"""Free text read for words that suggest a red flag (SPEC §5: notes).

Terms are word stems and phrasings from the ruleset. Both the terms and the text
are reduced to Snowball English stems, so "numb", "numbness" and "numbing" are
one term, and a phrasing ("legs giving way") matches its words in a row; a `*`
in a phrasing stands for up to three other words ("lost * weight" matches "lost
a lot of weight"). Negation is not read on purpose: "never had a bladder
problem" still matches, and a person reads the notes within 12 hours.
"""

import re
from functools import lru_cache

import snowballstemmer

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*|\*")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "&": " and "})
GAP = r"(?: \S+){0,3}"  # what `*` stands for: up to three words


_STEMMER = snowballstemmer.stemmer("english")


@lru_cache(maxsize=65_536)
def _stem(word: str) -> str:
    """The Snowball stem, remembered: the pure-Python stemmer was a seventh of an intake's CPU,
    and the words people write repeat (a bounded cache; a word's stem never changes)."""
    return word if word == "*" else str(_STEMMER.stemWord(word))


def _stems(text: str) -> list[str]:
    return [_stem(w) for w in _WORD.findall(text.casefold().translate(_APOSTROPHES))]


class TermMatcher:
    """Finds which of a list of terms occur in a text, on word stems."""

    def __init__(self, terms: tuple[str, ...]) -> None:
        # Each term with its first word and its pattern: a term whose first word is not in
        # the text cannot match, so most patterns are never run (they were most of triage's CPU).
        self._terms: list[tuple[str, str, re.Pattern[str]]] = []
        for term in terms:
            stems = _stems(term)
            if not stems or "*" in (stems[0], stems[-1]):
                raise ValueError(f"notes term {term!r} needs words (and a * only between them)")
            pattern = "".join(GAP if s == "*" else f" {re.escape(s)}" for s in stems)
            self._terms.append((term, stems[0], re.compile(f"(?<!\\S){pattern.lstrip()}(?!\\S)")))

    def found(self, *texts: str | None) -> list[str]:
        """The terms (as written in the ruleset) found in any of the texts, in ruleset order."""
        stemmed = [_stems(text) for text in texts if text]
        words = {word for stems in stemmed for word in stems}
        joined = [" ".join(stems) for stems in stemmed]
        return [
            term
            for term, first, pattern in self._terms
            if first in words and any(pattern.search(text) for text in joined)
        ]
