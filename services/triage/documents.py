"""The source documents as people read them: each by its article's title (the files are named by
hash), its text in paragraphs, and the passages the ruleset quotes marked so a citation can link
straight to its passage."""

import hashlib
from dataclasses import dataclass
from functools import lru_cache

from services.triage import ruleset

# The title each article gives itself (its headline), read from the documents; a test checks each
# title appears in its document, so a new document cannot go untitled.
TITLES = {
    "000_07e2518f9f46aab7.txt": "Why Does My Lower Back Hurt on One Side When I Run?",
    "001_4d944876ad22fb1c.txt": "Why Does My Lower Back Hurt When I Run? Causes and Solutions",
    "002_af04152357953029.txt": "How Running Causes Back Pain",
    "003_458bfd5d931b6a87.txt": "Lower back pain when running",
    "004_701412f67a0d4aa3.txt": "Why Does My Lower Back Hurt When Running",
}


class UnknownDocument(LookupError):
    """Not one of the source documents."""


@dataclass(frozen=True)
class Piece:
    text: str
    anchor: str | None = None  # set on a quoted passage: its id in the page


@dataclass(frozen=True)
class Document:
    name: str
    title: str
    paragraphs: list[list[Piece]]
    anchors: dict[str, str]  # quote -> the id of the marked passage holding it


def link(name: str, quote: str | None) -> str | None:
    """Where a citation of `quote` in document `name` points: its page, at the passage."""
    if name not in TITLES:
        return None
    where = document(name).anchors.get(quote or "")
    return f"/ui/sources/{name}" + (f"#{where}" if where else "")


def title(name: str) -> str:
    return TITLES.get(name, name)


def anchor(quote: str) -> str:
    """The id of a quoted passage in its document's page (stable: from the quote itself)."""
    return "passage-" + hashlib.sha256(quote.encode()).hexdigest()[:12]


def _quotes(name: str) -> list[str]:
    rules = ruleset.load()
    sources = [s for r in rules.rules for s in r.sources] + list(rules.self_care.sources)
    return sorted({s.quote for s in sources if s.kind == "document" and s.document == name and s.quote}, key=len)


@lru_cache(maxsize=16)
def document(name: str) -> Document:
    if name not in TITLES:
        raise UnknownDocument(name)
    text = (ruleset.SOURCES_DIR / name).read_text(encoding="utf-8")
    quotes = _quotes(name)
    paragraphs = [_marked(p.strip(), quotes) for p in text.split("\n") if p.strip()]
    marked = {piece.anchor: piece.text for pieces in paragraphs for piece in pieces if piece.anchor}
    anchors = {}
    for quote in quotes:
        if anchor(quote) in marked:
            anchors[quote] = anchor(quote)
        else:  # inside a longer quoted passage: point at that one
            holders = [a for a, text in marked.items() if quote in text]
            if holders:
                anchors[quote] = holders[0]
    return Document(name, TITLES[name], paragraphs, anchors)


def _marked(paragraph: str, quotes: list[str]) -> list[Piece]:
    """The paragraph in pieces, each quoted passage in it a piece with its anchor (the longest
    first where quotes overlap; a quote spanning paragraphs is marked where it starts)."""
    for quote in reversed(quotes):
        at = paragraph.find(quote)
        if at < 0:
            first_line = quote.split("\n", 1)[0]
            at, quote_here = (paragraph.find(first_line), first_line) if first_line != quote else (-1, quote)
        else:
            quote_here = quote
        if at >= 0:
            before, after = paragraph[:at], paragraph[at + len(quote_here) :]
            rest = [q for q in quotes if q != quote]
            pieces = _marked(before, rest) if before else []
            pieces.append(Piece(quote_here, anchor(quote)))
            return pieces + (_marked(after, rest) if after else [])
    return [Piece(paragraph)]
