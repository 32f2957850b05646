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
# Every leftover above contains one of these: one character-class scan clears most lines (the alternation above
# is tried at every position).
_MARKUP_CHARACTERS = re.compile(r"[\[\]{}|<!]")

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
    target, anchor = match.groups()
    shown = f"{_ANCHOR_OPEN}{target if anchor is None else anchor}{_ANCHOR_CLOSE}"
    if ":" not in match.group(0):  # most links: no namespace prefix (never dropped) and no URL
        return shown
    if "://" in match.group(0):
        return match.group(0)  # a URL is a node of its own: leave it to the parser
    if _is_dropped_link(target.strip()):
        return _ANCHOR_OPEN + _ANCHOR_CLOSE  # nothing, but it still separates quote runs as the node did
    return shown


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


def _link_prefix(target: str) -> str | None:
    if ":" not in target or target.startswith(":"):
        return None
    return target.split(":", 1)[0].strip().lower()


# A section is assembled as one string in which the sentinels delimit link anchors (nested ones too) and "\n"
# ends a line, so spaces are collapsed and lines split in C; only lines holding an anchor need a Python loop to
# place its range. A sentinel the parser separated from its partner (a pre-resolved link it split into nodes)
# is not an anchor boundary: it is dropped like every other sentinel.
_PAIRED_ANCHOR = re.compile(f"({_ANCHOR_OPEN}[^{_ANCHOR_OPEN}{_ANCHOR_CLOSE}]*{_ANCHOR_CLOSE})")
_SENTINEL_SPLIT = re.compile(f"([{_ANCHOR_OPEN}{_ANCHOR_CLOSE}])")
_ANCHOR_PAIR = _ANCHOR_OPEN + _ANCHOR_CLOSE
# `_SPACES.sub(" ", text)` is "every space that is not " " becomes one, then runs of " " become one": the
# rare characters and the rare runs are found quickly, where `_SPACES` would stop at every word gap.
_UNUSUAL_SPACE = re.compile(r"[\t\u00a0\u2009\u200a\u202f\u3000]")
_DOUBLE_SPACES = re.compile("  +")


def _text_fragment(text: str) -> str:
    """A Text node's contribution: quote runs are markup; its pre-resolved anchors stay between sentinels."""
    if "''" in text:
        text = _APOSTROPHES.sub(_style_quotes, text)
    if _ANCHOR_OPEN in text or _ANCHOR_CLOSE in text:
        sentinels = "".join(_SENTINELS.findall(text))
        if sentinels != _ANCHOR_PAIR * (len(sentinels) // 2) or len(sentinels) % 2:  # one without its partner
            pieces = _PAIRED_ANCHOR.split(text)  # odd indices: whole anchors
            text = "".join(piece if i % 2 else _SENTINELS.sub("", piece) for i, piece in enumerate(pieces))
    return text


def _walk(nodes, parts: list[str]) -> None:
    for node in nodes:
        if isinstance(node, mw.Text):
            parts.append(_text_fragment(str(node.value)))
        elif isinstance(node, mw.Wikilink):
            if _is_dropped_link(str(node.title).strip()):
                continue
            shown = node.text if node.text is not None else node.title
            parts.append(_ANCHOR_OPEN)
            _walk(shown.nodes, parts)
            parts.append(_ANCHOR_CLOSE)
        elif isinstance(node, mw.Tag):
            tag = str(node.tag).strip().lower()
            if tag in _DROPPED_TAGS or node.wiki_markup == "{|":
                continue
            if tag in _LINE_BREAK_TAGS:
                parts.append(" " if tag == "br" else "\n")
            if node.contents is not None and not node.self_closing:
                _walk(node.contents.nodes, parts)
        elif isinstance(node, mw.HTMLEntity):
            parts.append(_SENTINELS.sub("", node.normalize()))
        elif isinstance(node, mw.ExternalLink) and node.title is not None:
            _walk(node.title.nodes, parts)
        # Templates, comments, template arguments and headings (handled by the caller) produce no text.


def _section_lines(parts: list[str]) -> list[tuple[str, list[tuple[int, int]]]]:
    """Non-empty lines of a section, spaces collapsed and trimmed, with the [start, end) range of every anchor.

    An anchor's range starts where its first character lands (after the separating space, unless the anchor
    itself starts with one) and ends before a trailing space. It is kept only when no non-empty line ended
    between its two sentinels, and only when it holds text.
    """
    text = "".join(parts)
    text = _UNUSUAL_SPACE.sub(" ", text)  # with the next line, `_SPACES.sub(" ", text)` at a fraction of the cost
    if "  " in text:
        text = _DOUBLE_SPACES.sub(" ", text)
    lines: list[tuple[str, list[tuple[int, int]]]] = []
    open_anchors: list[tuple[int, int]] = []  # (non-empty lines before the anchor opened, its start)
    for line in text.split("\n"):
        line = line.strip(" ")
        if _ANCHOR_OPEN not in line and _ANCHOR_CLOSE not in line:
            if line:
                lines.append((line, []))
            continue
        plain = line.replace(_ANCHOR_OPEN, "").replace(_ANCHOR_CLOSE, "")
        if "  " in plain or plain.startswith(" ") or plain.endswith(" "):
            plain, links = _anchored_line_with_spaces(line, open_anchors, len(lines))
        else:
            links = _anchored_line(line, plain, open_anchors, len(lines))
        if plain:
            lines.append((plain, links))
    return lines


def _anchored_line(line: str, plain: str, open_anchors: list[tuple[int, int]], lines_before: int) -> list:
    """Anchor ranges of a line whose text without sentinels (`plain`) needs no space collapsed or trimmed, so a
    sentinel's position in `plain` is its index minus the sentinels before it; an anchor ends before a space."""
    if not open_anchors:
        pairs = [match.span() for match in _PAIRED_ANCHOR.finditer(line)]
        if 2 * len(pairs) == len(line) - len(plain):  # every sentinel is in a pair: no nesting, none left open
            links = []
            for count, (open_at, close_after) in enumerate(pairs):
                start = open_at - 2 * count
                end = close_after - 2 * count - 2
                if end and plain[end - 1] == " ":
                    end -= 1
                if end > start:
                    links.append((start, end))
            return links
    links = []
    for count, match in enumerate(_SENTINELS.finditer(line)):
        position = match.start() - count
        if match.group() == _ANCHOR_OPEN:
            open_anchors.append((lines_before, position))
            continue
        opened_lines_before, start = open_anchors.pop()
        end = position - 1 if position and plain[position - 1] == " " else position
        if opened_lines_before == lines_before and end > start:
            links.append((start, end))
    return links


def _anchored_line_with_spaces(line: str, open_anchors: list[tuple[int, int]], lines_before: int) -> tuple:
    """(text, anchor ranges) of a line where spaces meet across sentinels: the text is laid down piece by piece,
    a space between pieces only once and none at either end of the line."""
    pieces: list[str] = []
    links: list[tuple[int, int]] = []
    length = 0
    space_pending = False  # a space goes before the next text, unless the line ends first
    for segment in _SENTINEL_SPLIT.split(line):
        if segment == _ANCHOR_OPEN:
            open_anchors.append((lines_before, length + 1 if space_pending and length else length))
        elif segment == _ANCHOR_CLOSE:
            opened_lines_before, start = open_anchors.pop()
            if opened_lines_before == lines_before and length > start:
                links.append((start, length))
        elif segment:
            if segment[0] == " ":
                space_pending = True
                segment = segment[1:]
                if not segment:
                    continue
            trailing = segment[-1] == " "
            if trailing:
                segment = segment[:-1]
            if space_pending and length:
                pieces.append(" ")
                length += 1
            pieces.append(segment)
            length += len(segment)
            space_pending = trailing
    return "".join(pieces), links


def clean_wikitext(wikitext: str, regex_fast_path: bool = True) -> CleanedText:
    """Plain paragraphs of an article body (lead and sections, minus reference sections).

    `regex_fast_path=False` leaves every link to the parser: slower, same result (the tests check both ways).
    """
    # Style tags are left as text and their apostrophes removed by rule: same text, cheaper parse.
    parsed = mwparserfromhell.parse(fast_prestrip(wikitext, regex_fast_path), skip_style_tags=True)
    lines: list[tuple[str, list[tuple[int, int]]]] = []
    skipping_level = 0  # > 0 while inside a skipped section of that heading level
    section: list = []

    def flush() -> None:
        if section:
            parts: list[str] = []
            _walk(section, parts)
            lines.extend(_section_lines(parts))
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
    for text, links in lines:
        if _MARKUP_CHARACTERS.search(text) and _MARKUP_LEFTOVERS.search(text):
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
