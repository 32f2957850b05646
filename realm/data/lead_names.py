"""The other names an article's lead gives its subject, for the heading of every block of the article.

Wikipedia's lead sentence names its subject in bold, with its synonyms in bold too (MOS:BOLDSYN), and a taxon's
scientific name or a foreign-language name in italics inside the parenthesis after it:
"The '''aardvark''' (... ''Orycteropus afer'') is a ...". Only the lead's blocks carry those names; a later block
of the article ("Gestation is seven months") is headed by the title alone, so a question that calls the subject
by another name ("... of orycteropus afer") cannot find it. Heading every block `title (name; name)` gives the
retriever's block embedding what the reader of the lead already knows. The block's text, and what the reader
reads, stay as they were.
"""

from __future__ import annotations

import re

import mwparserfromhell
from mwparserfromhell import nodes as mw

from realm.data.wikitext import fast_prestrip

MAX_NAMES = 3
_FIRST_HEADING = re.compile(r"^=+[^=\n].*=+[ \t]*$", re.M)
# Lines of the lead that are not its prose: files, templates or tables left over, list items, indented lines, tags.
_NOT_PROSE = ("[[", "{", "|", "!", ":", "*", "#", ";", "<", "__")
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"[^\W_]")
_DISAMBIGUATOR = re.compile(r"\s*\([^()]*\)$")


def _first_lead_paragraph(wikitext: str) -> str | None:
    """The lead's first prose line when it names something in bold (templates, comments and references removed).
    Only the text before the first heading is cleaned: the rest of a long article would cost as much again."""
    first_heading = _FIRST_HEADING.search(wikitext)
    lead = wikitext[: first_heading.start()] if first_heading else wikitext
    for line in fast_prestrip(lead, regex_fast_path=False).split("\n"):
        line = line.strip()
        if line and not line.startswith(_NOT_PROSE):
            return line if "'''" in line else None  # a first paragraph without bold names nothing
    return None


def _plain(node: mw.Tag) -> str:
    return _SPACES.sub(" ", node.contents.strip_code(normalize=True, collapse=True)).strip(" ,;:")


def lead_names(wikitext: str, title: str) -> list[str]:
    """Up to MAX_NAMES other names of the article's subject from its lead: bold terms of the first paragraph, and
    capitalised italic terms (scientific, foreign names) in the parenthesis that follows the first bold term.
    The title itself and repeats (case-insensitive) are left out."""
    paragraph = _first_lead_paragraph(wikitext)
    if paragraph is None:
        return []
    try:
        code = mwparserfromhell.parse(paragraph)
    except Exception:  # a lead the parser cannot read gives no names; the article is still processed
        return []
    names: list[str] = []
    seen = {title.casefold(), _DISAMBIGUATOR.sub("", title).casefold()}  # "Animalia (book)": "Animalia" too
    parenthesis: tuple[int, int] | None = None  # character range of the parenthesis after the first bold term
    position = 0
    for node in code.nodes:
        text = str(node)
        if isinstance(node, mw.Tag) and node.wiki_markup == "'''":
            names.append(_plain(node))
            if parenthesis is None:
                after = paragraph[position + len(text) :]
                opening = re.match(r"\s*\(", after)
                if opening:
                    start = position + len(text) + opening.end()
                    parenthesis = (start, _closing_parenthesis(paragraph, start))
        elif isinstance(node, mw.Tag) and node.wiki_markup == "''" and parenthesis and _inside(position, parenthesis):
            name = _plain(node)
            if name[:1].isupper() and len(name) >= 4:
                names.append(name)
        position += len(text)
    kept = []
    for name in names:
        balanced = name.count("(") == name.count(")")
        if balanced and _WORD.search(name) and name.casefold() not in seen:
            seen.add(name.casefold())
            kept.append(name)
    return kept[:MAX_NAMES]


def _inside(position: int, span: tuple[int, int]) -> bool:
    return span[0] <= position < span[1]


def _closing_parenthesis(text: str, start: int) -> int:
    depth = 1
    for i in range(start, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if not depth:
                return i
    return len(text)


def block_heading(title: str, names: list[str]) -> str:
    """`title (name; name)`: what heads each block of the article before its [SEP]."""
    return f"{title} ({'; '.join(names)})" if names else title
