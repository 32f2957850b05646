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
import itertools
import re

import mwparserfromhell
from mwparserfromhell import nodes as mw
from mwparserfromhell.parser import CTokenizer, ParserError, use_c
from mwparserfromhell.parser import tokens as tk
from mwparserfromhell.parser.builder import Builder

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
# Every leftover above contains one of these, so looking for them clears most lines (the alternation above is
# tried at every position). Each is looked for with `in`, a fast search: 3x quicker than a `[...]` regex scan.
_MARKUP_CHARACTERS = "[]{}|<!"

_COMMENT = re.compile(r"<!--.*?-->", re.S)
# Up to the first closing tag: `.*?</ref\s*>` written out as "runs of anything but '<', and any '<' that does not
# start the closing tag" (the same match, without trying the closing tag at every character: 3x faster).
_REFERENCE = re.compile(r"<ref\b[^>]*/>|<ref\b[^>/]*>[^<]*(?:<(?!/ref\s*>)[^<]*)*</ref\s*>", re.I)
_INNER_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")
# From "{|" to the first "\n|}" with no "{|" between (`\{\|(?:(?!\{\|).)*?\n\|\}` with re.S), written out the
# same way: runs of anything but "{" and newline, a "{" not starting "{|", a newline not starting "\n|}".
_INNER_TABLE = re.compile(r"\{\|[^{\n]*(?:(?:\{(?!\|)|\n(?!\|\}))[^{\n]*)*\n\|\}")
_SPACES = re.compile(r"[ \t\u00a0\u2009\u200a\u202f\u3000]+")


@dataclasses.dataclass
class Paragraph:
    text: str
    links: list[tuple[int, int]]  # [start, end) character ranges of link anchors in `text`


@dataclasses.dataclass
class CleanedText:
    paragraphs: list[Paragraph]
    dropped_markup_lines: int = 0


def _remove_repeatedly(pattern: re.Pattern, text: str, opening: str) -> str:
    """Remove innermost matches until none is left; `opening` starts every match, so a text without it needs
    no (further) pass of the regex."""
    while opening in text:
        text, count = pattern.subn("", text)
        if not count:
            break
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
    text = _remove_repeatedly(_INNER_TEMPLATE, text, "{{")
    return _remove_repeatedly(_INNER_TABLE, text, "{|")


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
# `_SPACES.sub(" ", text)` is "every space that is not " " becomes one, then runs of " " become one": the
# rare characters and the rare runs are found quickly, where `_SPACES` would stop at every word gap.
_UNUSUAL_SPACE_CHARACTERS = "\t\u00a0\u2009\u200a\u202f\u3000"
_UNUSUAL_SPACE = re.compile(f"[{_UNUSUAL_SPACE_CHARACTERS}]")
_DOUBLE_SPACES = re.compile("  +")


# Runs of exactly 2, 3 or 5 apostrophes (nearly all runs) become nothing, replaced in C by a literal where a
# callback costs a Python call per run; runs of 4 and 6+ are left to `_style_quotes`. Removing a run never joins
# two others (a non-apostrophe separates them), so the two passes give what one pass of the rule gives. The
# pattern starts with a literal, which the regex engine finds by fast search.
_MARKUP_QUOTES = re.compile(r"'(?<!'')(?:''''|''|')(?!')")


def _sentinels_paired(text: str) -> bool:
    """Whether the sentinels in `text` are all "open, close" pairs, in order: the piece before the first open
    holds no close and each piece after an open holds one (at least one each, with as many closes as opens).
    Found with str methods in C rather than by collecting the sentinels or scanning every character."""
    pieces = text.split(_ANCHOR_OPEN)
    return (
        text.count(_ANCHOR_CLOSE) == len(pieces) - 1
        and _ANCHOR_CLOSE not in pieces[0]
        and all(map(str.__contains__, pieces[1:], itertools.repeat(_ANCHOR_CLOSE)))
    )


def _text_fragment(text: str) -> str:
    """A Text node's contribution: quote runs are markup; its pre-resolved anchors stay between sentinels."""
    if "''" in text:
        text = _MARKUP_QUOTES.sub("", text)
        if "''" in text:
            text = _APOSTROPHES.sub(_style_quotes, text)
    has_sentinels = _ANCHOR_OPEN in text or _ANCHOR_CLOSE in text
    if has_sentinels and not _sentinels_paired(text):  # a sentinel without its partner
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
    # With the next lines, `_SPACES.sub(" ", text)` at a fraction of the cost. Looking for each unusual space
    # with `in` (a fast search per character) is quicker than a character-class scan that usually finds none.
    if any(space in text for space in _UNUSUAL_SPACE_CHARACTERS):
        text = _UNUSUAL_SPACE.sub(" ", text)
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
            # Pair k spans its sentinels' positions less the 2k sentinels before it; its end then moves before a
            # trailing space.
            spans = [(a - 2 * k, b - 2 * k - 2) for k, (a, b) in enumerate(pairs)]
            trimmed = [(a, b - 1 if b and plain[b - 1] == " " else b) for a, b in spans]
            return [(a, b) for a, b in trimmed if b > a]
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


# ------------------------------------------------------------------------------------------- token walk
# mwparserfromhell parses in two steps: its C tokenizer turns the text into a flat, well-nested token stream, and
# a pure-Python Builder turns that into a tree of Node/Wikicode objects, which `_walk` then visits. Building the
# tree cost more than the C tokenizer itself, mostly for nodes that end up as one string (text runs, plain links,
# headings, dropped tags), and visiting it as much again. So the stream is walked directly (build and walk
# together took 3x less): the common shapes are read straight off the tokens and produce exactly what `_walk`
# produces for the node the Builder would make; any other shape is handed to the Builder (that node alone) and
# to `_walk`. `clean_wikitext(..., token_walk=False)` keeps the tree path; the tests check both give one result.
_CLOSING_TOKENS: dict[type, tuple[type, ...]] = {
    tk.TemplateOpen: (tk.TemplateClose,),
    tk.ArgumentOpen: (tk.ArgumentClose,),
    tk.WikilinkOpen: (tk.WikilinkClose,),
    tk.ExternalLinkOpen: (tk.ExternalLinkClose,),
    tk.HTMLEntityStart: (tk.HTMLEntityEnd,),
    tk.HeadingStart: (tk.HeadingEnd,),
    tk.CommentStart: (tk.CommentEnd,),
    tk.TagOpenOpen: (tk.TagCloseSelfclose, tk.TagCloseClose),
}
_TAG_NAME_ENDS = (tk.TagAttrStart, tk.TagCloseOpen, tk.TagCloseSelfclose)


def _tokenize(text: str) -> list:
    """The token stream `mwparserfromhell.parse(text, skip_style_tags=True)` builds its tree from (same choice
    of the C or the Python tokenizer as its Parser; a fresh one per call, as tokenizers are not thread-safe)."""
    if use_c and CTokenizer:
        return CTokenizer().tokenize(text, 0, True)
    from mwparserfromhell.parser.tokenizer import Tokenizer

    return Tokenizer().tokenize(text, 0, True)


def _node_end(tokens: list, i: int) -> int:
    """Index of the last token of the node starting at `tokens[i]`: the stream is well nested, so it is where
    the count of that node's opening and closing tokens returns to zero (what the Builder consumes)."""
    kind = type(tokens[i])
    if kind is tk.Text:
        return i
    closing = _CLOSING_TOKENS.get(kind)
    if closing is None:
        Builder().build([tokens[i]])  # raises the Builder's own ParserError for a token no node starts with
        raise ParserError(f"unexpected {kind.__name__}")
    depth = 0
    for j in range(i, len(tokens)):
        other = type(tokens[j])
        if other is kind:
            depth += 1
        elif other in closing:
            depth -= 1
            if not depth:
                return j
    raise ParserError(f"{kind.__name__} is never closed")


def _built(tokens: list, start: int, end: int):
    """The node the Builder makes of tokens[start..end] (one whole node): what the full tree would hold."""
    return Builder().build(tokens[start : end + 1]).nodes[0]


def _emit_tokens(tokens: list, start: int, stop: int, parts: list[str]) -> None:
    """`_walk` over the nodes of tokens[start:stop] (whole nodes), without building them."""
    i = start
    while i < stop:
        token = tokens[i]
        if type(token) is tk.Text:
            parts.append(_text_fragment(token["text"]))
            i += 1
        else:
            i = _emit_node(tokens, i, parts)


def _emit_node(tokens: list, i: int, parts: list[str]) -> int:
    """Append what `_walk` appends for the (non-text) node starting at tokens[i]; returns the index after it."""
    kind = type(tokens[i])
    if kind is tk.WikilinkOpen:
        return _emit_wikilink(tokens, i, parts)
    if kind is tk.TagOpenOpen:
        return _emit_tag(tokens, i, parts)
    if kind is tk.HTMLEntityStart:
        return _emit_entity(tokens, i, parts)
    end = _node_end(tokens, i)
    if kind is tk.ExternalLinkOpen:
        separator, separators, depth = 0, 0, 0
        for j in range(i + 1, end):
            other = type(tokens[j])
            if other is tk.ExternalLinkOpen:
                depth += 1
            elif other is tk.ExternalLinkClose:
                depth -= 1
            elif other is tk.ExternalLinkSeparator and not depth:
                separator, separators = j, separators + 1
        if separators > 1:
            _walk([_built(tokens, i, end)], parts)
        elif separators:
            _emit_tokens(tokens, separator + 1, end, parts)  # the title; a bare URL shows nothing
    # Templates, template arguments, comments and headings produce no text.
    return end + 1


def _emit_wikilink(tokens: list, i: int, parts: list[str]) -> int:
    kinds = tuple(map(type, tokens[i + 1 : i + 5]))
    if kinds[:2] == (tk.Text, tk.WikilinkClose):
        end, title, shown = i + 2, tokens[i + 1]["text"], tokens[i + 1]["text"]
    elif kinds == (tk.Text, tk.WikilinkSeparator, tk.Text, tk.WikilinkClose):
        end, title, shown = i + 4, tokens[i + 1]["text"], tokens[i + 3]["text"]
    elif kinds[:3] == (tk.Text, tk.WikilinkSeparator, tk.WikilinkClose):
        end, title, shown = i + 3, tokens[i + 1]["text"], None  # an empty anchor
    else:
        end = _node_end(tokens, i)
        _walk([_built(tokens, i, end)], parts)
        return end + 1
    if not _is_dropped_link(title.strip()):
        if shown is None:
            parts += (_ANCHOR_OPEN, _ANCHOR_CLOSE)
        else:
            parts += (_ANCHOR_OPEN, _text_fragment(shown), _ANCHOR_CLOSE)
    return end + 1


def _emit_tag(tokens: list, i: int, parts: list[str]) -> int:
    """A tag whose name is one text token, closed as `<x ...>...</x>` or `<x .../>`, is read off the tokens."""
    # One pass to the closing token, noting this tag's own `>` (TagCloseOpen) and `</` (TagOpenClose).
    depth, close_open, open_close, close_opens, open_closes = 0, -1, -1, 0, 0
    end = -1
    for j in range(i, len(tokens)):
        kind = type(tokens[j])
        if kind is tk.TagOpenOpen:
            depth += 1
        elif kind is tk.TagCloseClose or kind is tk.TagCloseSelfclose:
            depth -= 1
            if not depth:
                end = j
                break
        elif depth == 1:
            if kind is tk.TagCloseOpen:
                close_open, close_opens = j, close_opens + 1
            elif kind is tk.TagOpenClose:
                open_close, open_closes = j, open_closes + 1
    if end < 0:
        raise ParserError("TagOpenOpen is never closed")
    self_closing = type(tokens[end]) is tk.TagCloseSelfclose
    simple = (
        end >= i + 2
        and type(tokens[i + 1]) is tk.Text
        and type(tokens[i + 2]) in _TAG_NAME_ENDS
        and (
            (close_opens == 0 and open_closes == 0)
            if self_closing
            else (close_opens == 1 and open_closes == 1 and close_open < open_close)
        )
    )
    if not simple:
        _walk([_built(tokens, i, end)], parts)
        return end + 1
    tag = tokens[i + 1]["text"].strip().lower()
    if tag in _DROPPED_TAGS or tokens[i].get("wiki_markup") == "{|":
        return end + 1
    if tag in _LINE_BREAK_TAGS:
        parts.append(" " if tag == "br" else "\n")
    if not self_closing:
        _emit_tokens(tokens, close_open + 1, open_close, parts)
    return end + 1


def _emit_entity(tokens: list, i: int, parts: list[str]) -> int:
    """The HTMLEntity node exactly as the Builder makes it, then `_walk`'s treatment."""
    token = tokens[i + 1]
    if isinstance(token, tk.HTMLEntityNumeric):
        token = tokens[i + 2]
        if isinstance(token, tk.HTMLEntityHex):
            node = mw.HTMLEntity(tokens[i + 3].text, named=False, hexadecimal=True, hex_char=token.char)
            end = i + 4
        else:
            node = mw.HTMLEntity(token.text, named=False, hexadecimal=False)
            end = i + 3
    else:
        node = mw.HTMLEntity(token.text, named=True, hexadecimal=False)
        end = i + 2
    parts.append(_SENTINELS.sub("", node.normalize()))
    return end + 1


def _heading_title(tokens: list, start: int, end: int) -> str:
    """`heading.title.strip_code()` of the heading tokens[start..end]; a title of one text token is that text
    with the newline trimming and collapsing strip_code applies to it."""
    if end == start + 1:
        return ""
    if end == start + 2 and type(tokens[start + 1]) is tk.Text:
        title = tokens[start + 1]["text"].strip("\n")
        while "\n\n\n" in title:
            title = title.replace("\n\n\n", "\n\n")
        return title
    return _built(tokens, start, end).title.strip_code()


def _section_title(title: str) -> str:
    return _SPACES.sub(" ", _SENTINELS.sub("", title)).strip().lower()


def _lines_from_tokens(tokens: list) -> list[tuple[str, list[tuple[int, int]]]]:
    """`_lines_from_tree` on the parser's token stream: sections split at top-level headings, skipped ones
    dropped, each walked into its lines."""
    lines: list[tuple[str, list[tuple[int, int]]]] = []
    parts: list[str] = []
    skipping_level = 0  # > 0 while inside a skipped section of that heading level
    i, count = 0, len(tokens)
    while i < count:
        token = tokens[i]
        kind = type(token)
        if kind is tk.Text:
            if not skipping_level:
                parts.append(_text_fragment(token["text"]))
            i += 1
        elif kind is tk.HeadingStart:
            start, end = i, _node_end(tokens, i)
            level = token.level
            i = end + 1
            if skipping_level:
                if level <= skipping_level:
                    skipping_level = 0
                else:
                    continue
            elif parts:
                lines.extend(_section_lines(parts))
                parts = []
            if _section_title(_heading_title(tokens, start, end)) in _SKIPPED_SECTIONS:
                skipping_level = level
        elif skipping_level:
            i = _node_end(tokens, i) + 1
        else:
            i = _emit_node(tokens, i, parts)
    if parts:
        lines.extend(_section_lines(parts))
    return lines


def _lines_from_tree(parsed) -> list[tuple[str, list[tuple[int, int]]]]:
    """Sections split at top-level Heading nodes of the parsed tree, skipped ones dropped, walked into lines."""
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
            if _section_title(node.title.strip_code()) in _SKIPPED_SECTIONS:
                skipping_level = node.level
            continue
        if not skipping_level:
            section.append(node)
    flush()
    return lines


def clean_wikitext(wikitext: str, regex_fast_path: bool = True, token_walk: bool = True) -> CleanedText:
    """Plain paragraphs of an article body (lead and sections, minus reference sections).

    `regex_fast_path=False` leaves every link to the parser, `token_walk=False` builds mwparserfromhell's node
    tree and walks that: slower, same result (the tests check both ways).
    """
    # Style tags are left as text and their apostrophes removed by rule: same text, cheaper parse.
    text = fast_prestrip(wikitext, regex_fast_path)
    if token_walk:
        lines = _lines_from_tokens(_tokenize(text))
    else:
        lines = _lines_from_tree(mwparserfromhell.parse(text, skip_style_tags=True))

    paragraphs: list[Paragraph] = []
    dropped = 0
    for line, links in lines:
        if any(c in line for c in _MARKUP_CHARACTERS) and _MARKUP_LEFTOVERS.search(line):
            dropped += 1
            continue
        if not _ALPHANUMERIC.search(line):
            continue
        paragraphs.append(Paragraph(line, [(start, _with_link_trail(line, end)) for start, end in links]))
    return CleanedText(paragraphs, dropped)


_LINK_TRAIL = re.compile(r"[a-z]+")  # English Wikipedia's $linkTrail: `[[cel]]s` renders "cels" as one link


def _with_link_trail(text: str, end: int) -> int:
    if end >= len(text) or not "a" <= text[end] <= "z":
        return end
    trail = _LINK_TRAIL.match(text, end)
    return trail.end() if trail else end
