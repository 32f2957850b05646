"""BM25 over the corpus's words, in-graph, to add to the dense retrieval score (a hybrid retriever).

A dense retriever trained on a few hundred questions embeds a rare name ("orycteropus afer", a film's title) as
little more than its wordpieces' topic, while an exact word match is what finds the block that states it. DPR
(Karpukhin et al. 2020) ranks by `dense + lambda * BM25` for the same reason. On the sample corpus's dev
questions, BM25 alone finds an answer in the first block for 66% of them against 38% for three fine-tuned dense
retrievers, and the sum is better than either at 20 and 100 blocks (docs/finetuning.md,
benchmarks/results/lexical_retrieval.json).

The index is an inverted index held as four tensors (`LexicalIndex`), so ranking runs in the model and the
exported SavedModel with core TF and tensorflow-text ops: a question's words are looked up with `searchsorted` in
the sorted list of the corpus's words, their posting lists gathered and summed per block. Words are hashed into
2^32 buckets, so the model needs no string vocabulary; the analyzer (`analyze`) is the same function at indexing
and at query time.
Memory is one int32 block id and one float32 weight per distinct word of each block (`build` logs the total):
for English Wikipedia's 13M blocks of 288 wordpieces, at an assumed 100 distinct words each, an estimated 10 GB.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

logger = logging.getLogger(__name__)

HASH_BUCKETS = 1 << 32
# Words that carry no match: articles, prepositions and the wh-words every question has (Lucene's English stop
# set plus question words).
_STOP_WORD_LIST = (
    "a an and are as at be been but by did do does for from had has have how if in into is it its many much no not "
    "of on or such that the their then there these they this those to was were what when where which who whom whose "
    "why will with"
)
STOP_WORDS = tuple(_STOP_WORD_LIST.split())
# BM25's term-frequency saturation and length normalisation: Anserini's defaults for passage retrieval.
K1 = 0.9
B = 0.4
INDEX_BATCH = 4096


def analyze(texts: tf.Tensor) -> tf.RaggedTensor:
    """Texts [n] -> their words as int64 hashes, [n, (words)]: lower-cased, accents stripped, split at every
    character that is not a letter or a digit, stop words dropped."""
    import tensorflow_text as tf_text

    normalized = tf_text.normalize_utf8(tf.strings.lower(texts, encoding="utf-8"), "NFD")
    normalized = tf.strings.regex_replace(normalized, r"\p{Mn}", "")  # the accents NFD split off
    words = tf_text.regex_split(normalized, r"[^\pL\pN]+")
    hashes = tf.strings.to_hash_bucket_fast(words, HASH_BUCKETS)
    stop = tf.strings.to_hash_bucket_fast(tf.constant(STOP_WORDS), HASH_BUCKETS)
    is_stop = tf.reduce_any(tf.equal(hashes.flat_values[:, None], stop[None, :]), axis=1)
    return tf.ragged.boolean_mask(hashes, tf.logical_not(hashes.with_flat_values(is_stop)))


@dataclass
class LexicalIndex:
    """BM25 postings sorted by word: `words` [W] (sorted hashes), `offsets` [W + 1] (word i's postings are
    `offsets[i]:offsets[i + 1]`), `blocks` [P] and `weights` [P] (BM25's weight of that word in that block)."""

    words: np.ndarray
    offsets: np.ndarray
    blocks: np.ndarray
    weights: np.ndarray
    num_blocks: int

    @classmethod
    def build(cls, texts, titles=None, k1: float = K1, b: float = B) -> LexicalIndex:
        """Index each block's title and text (a block's words include its article's title, as DPR's BM25 indexes
        them)."""
        texts = [t.decode() if isinstance(t, bytes) else str(t) for t in texts]
        if titles is not None:
            if len(titles) != len(texts):
                raise ValueError(f"{len(titles)} titles for {len(texts)} blocks")
            titles = [t.decode() if isinstance(t, bytes) else str(t) for t in titles]
            texts = [f"{title} {text}" for title, text in zip(titles, texts, strict=True)]
        num_blocks = len(texts)
        if num_blocks == 0:
            raise ValueError("cannot build a lexical index of an empty corpus")
        keys, lengths = [], np.zeros(num_blocks, np.int64)
        for start in range(0, num_blocks, INDEX_BATCH):
            words = analyze(tf.constant(texts[start : start + INDEX_BATCH]))
            row_lengths = words.row_lengths().numpy()
            lengths[start : start + len(row_lengths)] = row_lengths
            rows = np.repeat(np.arange(start, start + len(row_lengths), dtype=np.int64), row_lengths)
            # One int64 per (word, block): the word's 32-bit hash above the block number, so sorting orders the
            # postings by word, then block.
            keys.append((words.flat_values.numpy().astype(np.int64) << 31) | rows)
        keys, term_counts = np.unique(np.concatenate(keys), return_counts=True)
        if not len(keys):
            raise ValueError(f"the {num_blocks} blocks hold no words to index for BM25")
        words, blocks = keys >> 31, (keys & ((1 << 31) - 1)).astype(np.int64)
        unique_words, first, document_counts = np.unique(words, return_index=True, return_counts=True)
        idf = np.log1p((num_blocks - document_counts + 0.5) / (document_counts + 0.5))
        length_norm = k1 * (1 - b + b * lengths / max(lengths.mean(), 1.0))
        weights = np.repeat(idf, document_counts) * term_counts * (k1 + 1) / (term_counts + length_norm[blocks])
        offsets = np.append(first, len(keys)).astype(np.int64)
        logger.info(
            "lexical index: %d blocks, %d distinct words, %d postings (%.1f MB)",
            num_blocks,
            len(unique_words),
            len(keys),
            len(keys) * 8 / 1e6,
        )
        return cls(
            unique_words.astype(np.int64), offsets, blocks.astype(np.int32), weights.astype(np.float32), num_blocks
        )

    def variables(self) -> LexicalIndexVariables:
        return LexicalIndexVariables(self)


class LexicalIndexVariables(tf.Module):
    """A LexicalIndex as non-trainable variables: what a Keras model holds and a SavedModel exports."""

    def __init__(self, index: LexicalIndex):
        super().__init__(name="lexical_index")
        self.num_blocks = index.num_blocks
        self.words = tf.Variable(index.words, trainable=False, name="words")
        self.offsets = tf.Variable(index.offsets, trainable=False, name="offsets")
        self.blocks = tf.Variable(index.blocks, trainable=False, name="blocks")
        self.weights = tf.Variable(index.weights, trainable=False, name="weights")

    def scores(self, questions: tf.Tensor) -> tf.Tensor:
        """BM25 scores of every block for each question, [q, num_blocks] float32 (a repeated word counts again)."""
        terms = analyze(questions)
        flat = terms.flat_values
        num_words = tf.shape(self.words, out_type=tf.int64)[0]
        position = tf.searchsorted(self.words, flat, out_type=tf.int64)
        found = tf.logical_and(position < num_words, tf.gather(self.words, tf.minimum(position, num_words - 1)) == flat)
        position = tf.minimum(position, num_words - 1)
        starts = tf.gather(self.offsets, position)
        lengths = tf.where(found, tf.gather(self.offsets, position + 1) - starts, tf.zeros_like(starts))
        postings = tf.ragged.range(starts, starts + lengths)  # [question words, (postings)]
        question_of_posting = tf.gather(terms.value_rowids(), postings.value_rowids())
        blocks = tf.cast(tf.gather(self.blocks, postings.flat_values), tf.int64)
        num_questions = tf.shape(questions, out_type=tf.int64)[0]
        summed = tf.math.unsorted_segment_sum(
            tf.gather(self.weights, postings.flat_values),
            question_of_posting * self.num_blocks + blocks,
            num_questions * self.num_blocks,
        )
        return tf.reshape(summed, [-1, self.num_blocks])
