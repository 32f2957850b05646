"""Answer matching the way the open-QA papers score (ORQA/REALM's `normalize_answer`, DrQA's regex match).

Exact match compares normalised strings: Unicode NFD, lower-case, punctuation removed, the articles
a/an/the removed, whitespace collapsed. CuratedTrec gives answers as regular expressions, matched
case-insensitively from the start of the prediction. Recall@k asks whether any answer occurs in a block,
as a whole-token sequence of the normalised texts.
"""

from __future__ import annotations

import functools
import re
import string
import unicodedata
from collections.abc import Iterable, Sequence

import numpy as np

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    text = unicodedata.normalize("NFD", text).lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, answers: Iterable[str]) -> bool:
    normalized = normalize_answer(prediction)
    return any(normalized == normalize_answer(answer) for answer in answers)


def regex_match(prediction: str, patterns: Iterable[str]) -> bool:
    """CuratedTrec: an answer pattern matches the start of the prediction, ignoring case."""
    for pattern in patterns:
        try:
            compiled = re.compile(pattern, flags=re.IGNORECASE | re.UNICODE | re.MULTILINE)
        except re.error:
            continue  # a few published patterns are not valid Python regexes; they can never match
        if compiled.match(prediction) is not None:
            return True
    return False


def answer_in_text(text: str, answers: Iterable[str], *, regex: bool = False) -> bool:
    """Whether a block contains an answer: as whole normalised tokens, or anywhere by regex for CuratedTrec."""
    if regex:
        return any(_search(pattern, text) for pattern in answers)
    padded = _spaced_normal_form(text)
    # Normalised tokens hold no spaces, so a space-padded needle occurs in the space-padded text exactly where
    # its tokens are a run of whole tokens of the text.
    return any(needle != "  " and needle in padded for needle in map(_spaced_normal_form, answers))


@functools.lru_cache(maxsize=1 << 14)
def _spaced_normal_form(text: str) -> str:
    """The normalised text between two spaces, cached: training and evaluation match answers against the same
    retrieved blocks again and again (100 per question), and normalising them was most of that time."""
    return f" {normalize_answer(text)} "


def _search(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, text, flags=re.IGNORECASE | re.UNICODE | re.MULTILINE) is not None
    except re.error:
        return False


def recall_at_k(hits: Sequence[Sequence[bool]], ks: Sequence[int] = (1, 5, 20, 100)) -> dict[int, float]:
    """hits[q][r]: whether the r-th retrieved block of question q contains an answer -> {k: recall@k}."""
    if not hits:
        return {k: 0.0 for k in ks}
    width = max(len(h) for h in hits)
    matrix = np.zeros((len(hits), width), bool)
    for row, h in enumerate(hits):
        matrix[row, : len(h)] = h
    return {k: float(matrix[:, :k].any(axis=1).mean()) for k in ks}


def answer_token_spans(
    input_ids: Sequence[int],
    answer_ids: Sequence[Sequence[int]],
    sep_id: int,
    block_mask: Sequence[int] | None = None,
) -> list[tuple[int, int]]:
    """(start, end) token positions of every answer occurrence inside the block of `[CLS] q [SEP] block [SEP]`.

    The labelling HF's `RealmRetriever.block_has_answer` does for the reader's training targets. With the
    encoding's `block_mask`, the block is where the mask is 1, which also holds when a title sits before it.
    """
    ids = list(input_ids)
    if block_mask is not None:
        inside = np.flatnonzero(np.asarray(block_mask))
        first_sep, second_sep = (int(inside[0]) - 1, int(inside[-1]) + 1) if inside.size else (0, 1)
    else:
        first_sep = ids.index(sep_id)
        try:
            second_sep = ids.index(sep_id, first_sep + 1)
        except ValueError:
            second_sep = len(ids)
    spans = []
    for answer in answer_ids:
        answer = list(answer)
        if not answer:
            continue
        for start in range(first_sep + 1, second_sep):
            if ids[start : start + len(answer)] == answer and start + len(answer) - 1 < second_sep:
                spans.append((start, start + len(answer) - 1))
    return spans
