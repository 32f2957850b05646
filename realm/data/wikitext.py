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


# Plain links (no nested markup) are resolved before parsing: their anchor is wrapped in two private-use
# sentinels, so the parser sees one run of text instead of a Wikilink node per link (links are most nodes).
_ANCHOR_OPEN, _ANCHOR_CLOSE = "\ue000", "\ue001"
_SENTINELS = re.compile(f"[{_ANCHOR_OPEN}{_ANCHOR_CLOSE}]")
# No character the parser would turn into a node of its own (entities, tags, templates, nested links).
_SIMPLE_LINK = re.compile(r"\[\[([^\[\]{}|<>&\n\ue000\ue001]+)(?:\|([^\[\]{}|<>&\n\ue000\ue001]*))?\]\]")
_ANCHORED = re.compile(f"{_ANCHOR_OPEN}([^{_ANCHOR_CLOSE}]*){_ANCHOR_CLOSE}")
_APOSTROPHES = re.compile(r"'{2,}")
_ALPHANUMERIC = re.compile(r"[^\W_]")  # str.isalnum() for any character
# List markers at line starts (a line break, which the newline before them already is) and <br> (a space).
# `;term : definition` lines are left to the parser: their `:` breaks the line mid-way.
_LIST_MARKERS = re.compile(r"\n[*#:]+")
_LINE_BREAK = re.compile(r"<br\s*/?>", re.I)


def _is_dropped_link(target: str) -> bool:
    prefix = _link_prefix(target)
    return prefix is not None and (prefix in _DROPPED_LINK_PREFIXES or bool(_INTERLANGUAGE.match(prefix)))


def _anchor_simple_link(match: re.Match) -> str:
    target = match.group(1).strip()
    if "://" in match.group(0):
        return match.group(0)  # a URL is a node of its own: leave it to the parser
    if _is_dropped_link(target):
        return _ANCHOR_OPEN + _ANCHOR_CLOSE  # nothing, but it still separates quote runs as the node did
    anchor = match.group(1) if match.group(2) is None else match.group(2)
    return f"{_ANCHOR_OPEN}{anchor}{_ANCHOR_CLOSE}"


def _style_quotes(match: re.Match) -> str:
    """MediaWiki's bold/italic apostrophe runs: 2, 3 and 5 are markup only; 4 and 6+ leave the extras."""
    n = len(match.group(0))
    return "'" if n == 4 else "'" * (n - 5) if n > 5 else ""


def fast_prestrip(wikitext: str, regex_fast_path: bool = True) -> str:
    """Remove or resolve by regular expression what needs no parser; `regex_fast_path=False` keeps links,
    list markers and <br> for the parser (slower, same result)."""
    text = wikitext
    if _ANCHOR_OPEN in text or _ANCHOR_CLOSE in text:
        text = _SENTINELS.sub("", text)  # private-use characters carry no text (BERT drops them too)
    text = _COMMENT.sub("", text)
    text = _REFERENCE.sub("", text)
    if regex_fast_path:
        text = _SIMPLE_LINK.sub(_anchor_simple_link, text)
        text = _LIST_MARKERS.sub("\n", "\n" + text)[1:]
        text = _LINE_BREAK.sub(" ", text)
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

    def add(self, text: str, spaces_collapsed: bool = False) -> None:
        if not spaces_collapsed:
            text = _SPACES.sub(" ", text)
        if "\n" not in text:
            self._add_inline(text)
            return
        for i, piece in enumerate(text.split("\n")):
            if i:
                self.break_line()
            self._add_inline(piece)

    def _add_inline(self, text: str) -> None:
        if not text:
            return
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


def _add_link_text(out: _Builder, add_anchor, *args) -> None:
    """Run `add_anchor(*args)` (which writes the anchor) and record the range it wrote as a link."""
    line = out.line_number
    start = out.position
    add_anchor(*args)
    if out.line_number == line:
        out.add_link(start, out._length)


def _add_text(text: str, out: _Builder) -> None:
    """Plain text, in which anchors of pre-resolved links sit between sentinels and quote runs are markup."""
    if "''" in text:
        text = _APOSTROPHES.sub(_style_quotes, text)
    text = _SPACES.sub(" ", text)  # once per node rather than once per piece
    if _ANCHOR_OPEN not in text:
        out.add(text, spaces_collapsed=True)
        return
    position = 0
    for match in _ANCHORED.finditer(text):
        out.add(text[position : match.start()], spaces_collapsed=True)
        _add_link_text(out, out.add, match.group(1), True)
        position = match.end()
    out.add(_SENTINELS.sub("", text[position:]), spaces_collapsed=True)


def _walk(nodes, out: _Builder) -> None:
    for node in nodes:
        if isinstance(node, mw.Text):
            _add_text(str(node.value), out)
        elif isinstance(node, mw.Wikilink):
            if _is_dropped_link(str(node.title).strip()):
                continue
            shown = node.text if node.text is not None else node.title
            _add_link_text(out, _walk, shown.nodes, out)
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


def clean_wikitext(wikitext: str, regex_fast_path: bool = True) -> CleanedText:
    """Plain paragraphs of an article body (lead and sections, minus reference sections).

    `regex_fast_path=False` leaves every link to the parser: slower, same result (the tests check both ways).
    """
    # Style tags are left as text and their apostrophes removed by rule: same text, cheaper parse.
    parsed = mwparserfromhell.parse(fast_prestrip(wikitext, regex_fast_path), skip_style_tags=True)
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
            title = _SPACES.sub(" ", _SENTINELS.sub("", node.title.strip_code())).strip().lower()
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
        if not _ALPHANUMERIC.search(text):
            continue
        paragraphs.append(Paragraph(text, [(start, _with_link_trail(text, end)) for start, end in links]))
    return CleanedText(paragraphs, dropped)


_LINK_TRAIL = re.compile(r"[a-z]+")  # English Wikipedia's $linkTrail: `[[cel]]s` renders "cels" as one link


def _with_link_trail(text: str, end: int) -> int:
    if end >= len(text) or not "a" <= text[end] <= "z":
        return end
    trail = _LINK_TRAIL.match(text, end)
    return trail.end() if trail else end
