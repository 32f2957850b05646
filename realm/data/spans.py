"""Salient spans (REALM §3.4): the named entities and dates a masked-LM query should hide.

REALM found them with a BERT tagger trained on CoNLL-2003 plus a date regex. A Wikipedia dump already marks
its entities and concepts: the anchor texts of internal links. We take those, add dates by regular
expression, and let users plug in any NER model through `SpanFinder` (a callable `text -> [(start, end,
kind)]`, loaded from `module:function`).
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Callable, Iterable

LINK, DATE = "link", "date"

_MONTHS = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December"
    r"|Jan\.?|Feb\.?|Mar\.?|Apr\.?|Jun\.?|Jul\.?|Aug\.?|Sept?\.?|Oct\.?|Nov\.?|Dec\.?)"
)
_YEAR = r"(?:[12]\d{3})"
_ERA = r"(?:\s?(?:BC|BCE|AD|CE)\b)?"
_DATE = re.compile(
    rf"\b(?:"
    rf"{_MONTHS}\s\d{{1,2}}(?:st|nd|rd|th)?,\s{_YEAR}{_ERA}"  # April 14, 1865
    rf"|\d{{1,2}}\s{_MONTHS}\s{_YEAR}{_ERA}"  # 14 April 1865
    rf"|{_MONTHS}\s{_YEAR}{_ERA}"  # April 1865
    rf"|AD\s\d{{1,4}}"  # AD 79
    rf"|\d{{1,4}}\s(?:BC|BCE)\b"  # 44 BC
    rf"|{_YEAR}s"  # 1860s
    rf"|{_YEAR}{_ERA}"  # 1865
    rf")(?!\d|,\d)"
)

SpanFinder = Callable[[str], Iterable[tuple[int, int, str]]]


@dataclasses.dataclass(frozen=True, order=True)
class Span:
    start: int  # characters, [start, end)
    end: int
    kind: str


def date_spans(text: str) -> list[Span]:
    return [Span(m.start(), m.end(), DATE) for m in _DATE.finditer(text)]


def select_spans(candidates: Iterable[Span]) -> list[Span]:
    """Non-overlapping spans, preferring links over dates over others, then longer over shorter."""
    priority = {LINK: 0, DATE: 1}
    ranked = sorted(candidates, key=lambda s: (priority.get(s.kind, 2), -(s.end - s.start), s.start))
    chosen: list[Span] = []
    for span in ranked:
        if span.end <= span.start:
            continue
        if all(span.end <= other.start or span.start >= other.end for other in chosen):
            chosen.append(span)
    return sorted(chosen)


def salient_spans(
    sentence: str, link_ranges: Iterable[tuple[int, int]], extra_finder: SpanFinder | None = None
) -> list[Span]:
    """Link anchors and dates of one sentence (plus the hook's spans), trimmed of surrounding whitespace."""
    candidates = [Span(s, e, LINK) for s, e in link_ranges]
    candidates += date_spans(sentence)
    if extra_finder is not None:
        candidates += [Span(int(s), int(e), str(kind)) for s, e, kind in extra_finder(sentence)]
    trimmed = []
    for span in candidates:
        text = sentence[span.start : span.end]
        start = span.start + (len(text) - len(text.lstrip()))
        end = span.end - (len(text) - len(text.rstrip()))
        if end > start:
            trimmed.append(Span(start, end, span.kind))
    return select_spans(trimmed)


def load_callable(spec: str | None, what: str = "span finder") -> Callable | None:
    """`package.module:function` -> the callable (e.g. a spaCy or HF NER wrapper); None for no hook."""
    if not spec:
        return None
    module_name, _, attribute = spec.partition(":")
    if not attribute:
        raise ValueError(f"{what} {spec!r} must look like 'package.module:function'")
    function = getattr(importlib.import_module(module_name), attribute)
    if not callable(function):
        raise ValueError(f"{what} {spec!r} is not callable")
    return function


def load_span_finder(spec: str | None) -> SpanFinder | None:
    return load_callable(spec, "span finder")
