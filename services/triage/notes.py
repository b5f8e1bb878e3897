"""Free text read for words that suggest a red flag (SPEC §5: notes).

Terms are word stems and phrasings from the ruleset. Both the terms and the text
are reduced to Snowball English stems, so "numb", "numbness" and "numbing" are
one term, and a phrasing ("legs giving way") matches its words in a row; a `*`
in a phrasing stands for up to three other words ("lost * weight" matches "lost
a lot of weight"). Negation is not read on purpose: "never had a bladder
problem" still matches, and a person reads the notes within 12 hours.
"""

import re

import snowballstemmer

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*|\*")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "&": " and "})
GAP = r"(?: \S+){0,3}"  # what `*` stands for: up to three words


def _stems(stemmer: snowballstemmer.stemmer, text: str) -> list[str]:
    words = _WORD.findall(text.casefold().translate(_APOSTROPHES))
    return [w if w == "*" else stemmer.stemWord(w) for w in words]


class TermMatcher:
    """Finds which of a list of terms occur in a text, on word stems."""

    def __init__(self, terms: tuple[str, ...]) -> None:
        self._stemmer = snowballstemmer.stemmer("english")
        self._terms: list[tuple[str, re.Pattern[str]]] = []
        for term in terms:
            stems = _stems(self._stemmer, term)
            if not stems or "*" in (stems[0], stems[-1]):
                raise ValueError(f"notes term {term!r} needs words (and a * only between them)")
            pattern = "".join(GAP if s == "*" else f" {re.escape(s)}" for s in stems)
            self._terms.append((term, re.compile(f"(?<!\\S){pattern.lstrip()}(?!\\S)")))

    def found(self, *texts: str | None) -> list[str]:
        """The terms (as written in the ruleset) found in any of the texts, in ruleset order."""
        stemmed = [" ".join(_stems(self._stemmer, text)) for text in texts if text]
        return [term for term, pattern in self._terms if any(pattern.search(text) for text in stemmed)]
