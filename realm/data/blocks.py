"""Packing sentences into retrieval blocks (ORQA/REALM): `[CLS] title [SEP] text [SEP]` of at most 288 pieces.

Sentences are added greedily while `3 + len(title) + len(text) <= max_tokens`. A sentence that alone exceeds
the budget is cut into word-aligned pieces (never inside a word, so re-tokenizing a piece's text gives back
exactly its token ids) instead of being truncated: no text is lost.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np


@dataclasses.dataclass
class TokenizedText:
    """A text with its wordpiece ids and each piece's [start, end) byte range in the UTF-8 text."""

    text: str
    ids: np.ndarray
    byte_starts: np.ndarray
    byte_ends: np.ndarray


@dataclasses.dataclass
class Block:
    block_index: int  # position within the document
    text: str
    body_ids: np.ndarray  # wordpieces of `text`, no special tokens
    sentence_indices: tuple[int, ...] = ()  # the document's sentences with text in this block (in order)


def document_uid(title: str, text: str) -> str:
    """Stable id of an article version: SHA-1 of title and cleaned text, as ORQA keyed its documents."""
    return hashlib.sha1(f"{title}\x1f{text}".encode()).hexdigest()


def word_aligned_pieces(sentence: TokenizedText, budget: int, is_continuation: np.ndarray) -> list[TokenizedText]:
    """Cut an over-long sentence into pieces of at most `budget` wordpieces at word starts."""
    pieces: list[TokenizedText] = []
    data = sentence.text.encode("utf-8")
    n = len(sentence.ids)
    start = 0
    while start < n:
        end = min(start + budget, n)
        if end < n:
            cut = end
            while cut > start + 1 and is_continuation[sentence.ids[cut]]:
                cut -= 1
            if cut > start + 1:  # a single word longer than the budget is cut inside (pathological)
                end = cut
        text = data[sentence.byte_starts[start] : sentence.byte_ends[end - 1]].decode("utf-8")
        pieces.append(
            TokenizedText(
                text,
                sentence.ids[start:end],
                sentence.byte_starts[start:end] - sentence.byte_starts[start],
                sentence.byte_ends[start:end] - sentence.byte_starts[start],
            )
        )
        start = end
    return pieces


def pack_blocks(
    title_tokens: int, sentences: list[TokenizedText], max_tokens: int, is_continuation: np.ndarray
) -> list[Block]:
    budget = max_tokens - 3 - title_tokens
    if budget < 1:
        raise ValueError(f"title of {title_tokens} wordpieces leaves no room in a {max_tokens}-piece block")
    blocks: list[Block] = []
    texts: list[str] = []
    ids: list[np.ndarray] = []
    members: list[int] = []
    used = 0

    def flush() -> None:
        nonlocal texts, ids, members, used
        if texts:
            blocks.append(
                Block(len(blocks), " ".join(texts), np.concatenate(ids).astype(np.int32), tuple(dict.fromkeys(members)))
            )
        texts, ids, members, used = [], [], [], 0

    for index, sentence in enumerate(sentences):
        if not len(sentence.ids):
            continue
        parts = [sentence] if len(sentence.ids) <= budget else word_aligned_pieces(sentence, budget, is_continuation)
        for part in parts:
            if used + len(part.ids) > budget:
                flush()
            texts.append(part.text)
            ids.append(part.ids)
            members.append(index)
            used += len(part.ids)
    flush()
    return blocks


def blocks_of_sentences(blocks: list[Block], num_sentences: int) -> list[list[int]]:
    """For each sentence, the block indices holding its text: the trivial retrievals of a query made from it
    (one block, or several when an over-long sentence was cut into pieces)."""
    holders: list[list[int]] = [[] for _ in range(num_sentences)]
    for block in blocks:
        for index in block.sentence_indices:
            holders[index].append(block.block_index)
    return holders
