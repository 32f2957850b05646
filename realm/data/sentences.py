"""Sentence boundaries for encyclopedic English, by rule.

REALM's queries are single sentences. Wikipedia prose is regular enough that a boundary rule (terminal
punctuation, optional closing quote/bracket, whitespace, then an upper-case letter, digit or opening
quote) with an abbreviation guard gets nearly all boundaries right, at regex speed; statistical splitters
need model downloads we cannot do at run time. Pass `--sentence-splitter module:function` to
`realm preprocess` to use another one.
"""

from __future__ import annotations

import re

# Group 1 is the sentence's last characters: the punctuation and any closing quotes or brackets.
_BOUNDARY = re.compile(r"([.!?][\"'\u201d\u2019)\]]*)\s+(?=[\"'\u201c\u2018(\[]?[A-Z0-9\u00c0-\u024f])")
# The same rule for text without "!" or "?" (nearly every paragraph): a pattern that starts with a literal is
# found by a fast substring search, where the character class is tried at every position (3x slower).
_FULL_STOP_BOUNDARY = re.compile(_BOUNDARY.pattern.replace("[.!?]", r"\.", 1))
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "ft", "gen", "gov", "sen", "rep", "rev", "col",
    "capt", "lt", "sgt", "maj", "cmdr", "adm", "hon", "pres", "no", "vol", "vols", "pp", "p", "ch", "fig",
    "figs", "ed", "eds", "etc", "vs", "v", "ca", "c", "cf", "al", "approx", "est", "inc", "ltd", "co", "corp",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "e.g", "i.e", "u.s",
    "u.k", "u.n", "a.d", "b.c", "ph.d", "op", "nos", "ave", "blvd", "dept", "univ", "assn", "bros", "messrs",
}  # fmt: skip
_LAST_WORD = re.compile(r"([A-Za-z][A-Za-z.]*)\.$")
_INITIALS = re.compile(r"([a-z]\.)+[a-z]")
_LONGEST_ABBREVIATION = max(map(len, _ABBREVIATIONS))


def _is_abbreviation(text: str, dot: int) -> bool:
    before = text[max(0, dot - _LONGEST_ABBREVIATION - 1) : dot]
    if len(before) > _LONGEST_ABBREVIATION and before.isascii() and before.isalpha():
        # The word ends in more letters than any listed abbreviation has, and initials end in ".x": no need to
        # find where it starts (about half of all full stops).
        return False
    match = _LAST_WORD.search(text, max(0, dot - 12), dot + 1)
    if not match:
        return False
    word = match.group(1).lower()
    if word in _ABBREVIATIONS:
        return True
    # Initials ("J. R. R. Tolkien", "U.S.") and single letters.
    return len(word) == 1 or bool(_INITIALS.fullmatch(word))


def split_sentences(text: str) -> list[tuple[int, int]]:
    """[start, end) character ranges of the sentences of one paragraph, whitespace excluded."""
    spans: list[tuple[int, int]] = []
    start = 0
    boundary = _BOUNDARY if "!" in text or "?" in text else _FULL_STOP_BOUNDARY
    for match in boundary.finditer(text):
        if text[match.start()] == "." and _is_abbreviation(text, match.start()):
            continue
        end = match.end()
        sentence_end = match.end(1)  # where `text[:end].rstrip()` ends: the group stops at the whitespace
        if sentence_end > start:
            spans.append((start, sentence_end))
        start = end
    final = len(text.rstrip())
    if final > start:
        spans.append((start, final))
    return spans
