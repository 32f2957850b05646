"""Wikitext -> plain paragraphs with the character ranges of internal-link anchors.

mwparserfromhell does the parsing; we decide what survives: link anchors as plain text (their ranges become
salient-span candidates), formatting tags' contents, headings as paragraph boundaries. Templates, tables,
references, files/images, categories, interlanguage links, comments and HTML-only blocks are dropped, as are
reference-list sections ("References", "External links", ...) and any line where markup survived parsing
(unbalanced brackets), so no wiki syntax reaches a block.

A cheap regular-expression pass removes comments, references and innermost templates/tables before
mwparserfromhell sees the text: it drops nothing the parser would keep, and cuts parsing time about 3x because
infoboxes and citation templates are a large share of article bytes.
"""

from __future__ import annotations

import dataclasses
import re

import mwparserfromhell
from mwparserfromhell import nodes as mw

# Namespaces whose links are not prose: the link (and its caption) is dropped.
_DROPPED_LINK_PREFIXES = {
    "file", "image", "media", "category", "wikipedia", "wp", "template", "help", "portal", "user", "talk",
    "special", "module", "draft", "mediawiki", "wikt", "wiktionary", "s", "commons", "q", "n", "b", "v", "voy",
}  # fmt: skip
_INTERLANGUAGE = re.compile(r"^[a-z]{2,3}(-[a-z]{2,8})*$")
# Tags whose contents are not running prose.
_DROPPED_TAGS = {
    "ref", "references", "table", "gallery", "math", "chem", "ce", "timeline", "imagemap", "score", "graph",
    "syntaxhighlight", "source", "pre", "code", "hiero", "mapframe", "maplink", "templatedata", "noinclude",
    "includeonly", "onlyinclude", "poem", "inputbox", "categorytree", "div", "blockquote", "sup", "caption",
}  # fmt: skip
_LINE_BREAK_TAGS = {"br", "li", "dt", "dd", "p", "hr"}
_SKIPPED_SECTIONS = {
    "references", "external links", "see also", "further reading", "notes", "bibliography", "sources",
    "footnotes", "citations", "notes and references", "works cited", "general references", "selected works",
    "discography", "filmography", "gallery",
}  # fmt: skip
_MARKUP_LEFTOVERS = re.compile(r"\[\[|\]\]|\{\{|\}\}|\{\||\|\}|<ref|</?[a-zA-Z][a-zA-Z0-9]*[\s/>]|^\s*[|!]")

_COMMENT = re.compile(r"<!--.*?-->", re.S)
_REFERENCE = re.compile(r"<ref\b[^>]*/>|<ref\b[^>/]*>.*?</ref\s*>", re.S | re.I)
_INNER_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")
_INNER_TABLE = re.compile(r"\{\|(?:(?!\{\|).)*?\n\|\}", re.S)
_SPACES = re.compile(r"[ \t\u00a0\u2009\u200a\u202f\u3000]+")


@dataclasses.dataclass
class Paragraph:
    text: str
    links: list[tuple[int, int]]  # [start, end) character ranges of link anchors in `text`


@dataclasses.dataclass
class CleanedText:
    paragraphs: list[Paragraph]
    dropped_markup_lines: int = 0


def _remove_repeatedly(pattern: re.Pattern, text: str) -> str:
    while True:
        text, count = pattern.subn("", text)
        if not count:
            return text


def fast_prestrip(wikitext: str) -> str:
    text = _COMMENT.sub("", wikitext)
    text = _REFERENCE.sub("", text)
    text = _remove_repeatedly(_INNER_TEMPLATE, text)
    return _remove_repeatedly(_INNER_TABLE, text)


class _Builder:
    """Accumulates plain text line by line, collapsing whitespace, and remembers link anchor ranges."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, list[tuple[int, int]]]] = []
        self._parts: list[str] = []
        self._length = 0
        self._links: list[tuple[int, int]] = []
        self._space_pending = False

    @property
    def position(self) -> int:
        return self._length + (1 if self._space_pending and self._length else 0)

    def add(self, text: str) -> None:
        pieces = text.split("\n")
        for i, piece in enumerate(pieces):
            if i:
                self.break_line()
            self._add_inline(piece)

    def _add_inline(self, text: str) -> None:
        if not text:
            return
        text = _SPACES.sub(" ", text)
        if text.startswith(" "):
            self._space_pending = True
            text = text[1:]
        if not text:
            return
        trailing = text.endswith(" ")
        if trailing:
            text = text[:-1]
        if self._space_pending and self._length:
            self._parts.append(" ")
            self._length += 1
        self._parts.append(text)
        self._length += len(text)
        self._space_pending = trailing

    def add_link(self, start: int, end: int) -> None:
        if end > start:
            self._links.append((start, end))

    def break_line(self) -> None:
        if self._parts:
            self.lines.append(("".join(self._parts), self._links))
        self._parts, self._length, self._links, self._space_pending = [], 0, [], False

    @property
    def line_number(self) -> int:
        return len(self.lines)


def _link_prefix(target: str) -> str | None:
    if ":" not in target or target.startswith(":"):
        return None
    return target.split(":", 1)[0].strip().lower()


def _walk(nodes, out: _Builder) -> None:
    for node in nodes:
        if isinstance(node, mw.Text):
            out.add(str(node.value))
        elif isinstance(node, mw.Wikilink):
            target = str(node.title).strip()
            prefix = _link_prefix(target)
            if prefix is not None and (prefix in _DROPPED_LINK_PREFIXES or _INTERLANGUAGE.match(prefix)):
                continue
            line = out.line_number
            start = out.position
            if node.text is not None:
                _walk(node.text.nodes, out)
            else:
                _walk(node.title.nodes, out)  # [[:Category:X]] shows as ":Category:X" minus the colon below
            if out.line_number == line:
                out.add_link(start, out._length)
        elif isinstance(node, mw.Tag):
            tag = str(node.tag).strip().lower()
            if tag in _DROPPED_TAGS or node.wiki_markup == "{|":
                continue
            if tag in _LINE_BREAK_TAGS:
                out.break_line() if tag != "br" else out.add(" ")
            if node.contents is not None and not node.self_closing:
                _walk(node.contents.nodes, out)
        elif isinstance(node, mw.HTMLEntity):
            out.add(node.normalize())
        elif isinstance(node, mw.ExternalLink) and node.title is not None:
            _walk(node.title.nodes, out)
        # Templates, comments, template arguments and headings (handled by the caller) produce no text.


def clean_wikitext(wikitext: str) -> CleanedText:
    """Plain paragraphs of an article body (lead and sections, minus reference sections)."""
    parsed = mwparserfromhell.parse(fast_prestrip(wikitext), skip_style_tags=False)
    out = _Builder()
    skipping_level = 0  # > 0 while inside a skipped section of that heading level
    section: list = []

    def flush() -> None:
        _walk(section, out)
        out.break_line()
        section.clear()

    for node in parsed.nodes:
        if isinstance(node, mw.Heading):
            if skipping_level:
                if node.level <= skipping_level:
                    skipping_level = 0
                else:
                    continue
            else:
                flush()
            title = _SPACES.sub(" ", node.title.strip_code()).strip().lower()
            if title in _SKIPPED_SECTIONS:
                skipping_level = node.level
            continue
        if not skipping_level:
            section.append(node)
    flush()

    paragraphs: list[Paragraph] = []
    dropped = 0
    for text, links in out.lines:
        if _MARKUP_LEFTOVERS.search(text):
            dropped += 1
            continue
        if not any(ch.isalnum() for ch in text):
            continue
        paragraphs.append(Paragraph(text, [(start, _with_link_trail(text, end)) for start, end in links]))
    return CleanedText(paragraphs, dropped)


_LINK_TRAIL = re.compile(r"[a-z]+")  # English Wikipedia's $linkTrail: `[[cel]]s` renders "cels" as one link


def _with_link_trail(text: str, end: int) -> int:
    trail = _LINK_TRAIL.match(text, end)
    return trail.end() if trail else end
