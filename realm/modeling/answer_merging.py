"""Answers chosen by the probability of their text, not of one span: REALM's p(y | x).

REALM and ORQA train the reader on the marginal likelihood of the answer text, summed over every span in every
retrieved block that reads as the answer; HF (and REALM's released predictor) then answer with the single best
span. The two disagree when a name the blocks repeat ("alpha" in the blocks on Alphabet, A and Alpha) competes
with a phrase that appears once: each mention of the name holds part of its probability, so its best mention can
lose to the one phrase although the name is the likelier answer. Merging the best spans by their normalised text
(the same normalisation that scores exact match: lower case, no punctuation or articles) and summing their
probabilities, a log-sum-exp of their logits, answers with the text the model finds likeliest.
"""

from __future__ import annotations

import tensorflow as tf

# RealmConfig.extra: how many of the best spans (over all blocks read) merge by answer text before the answer is
# chosen; 0 (HF's, and the default for checkpoints without it) answers with the best single span.
ANSWER_MERGE_TOP_K_KEY = "reader_answer_merge_top_k"
# How many distinct answers a prediction lists beside the one it gives (the first), each with its probability.
ANSWER_CANDIDATES = 5

_PUNCTUATION = r"[!-/:-@\[-`{-~]"  # string.punctuation, as realm.evaluation.answers.normalize_answer removes it
_ARTICLES = r"\b(a|an|the)\b"


def normalized_answer_texts(texts: tf.Tensor) -> tf.Tensor:
    """`realm.evaluation.answers.normalize_answer` in the graph (without its Unicode NFD step)."""
    texts = tf.strings.lower(texts, encoding="utf-8")
    texts = tf.strings.regex_replace(texts, _PUNCTUATION, "")
    texts = tf.strings.regex_replace(texts, _ARTICLES, " ")
    texts = tf.strings.regex_replace(texts, r"\s+", " ")
    return tf.strings.strip(texts)


def same_answer_text(texts: tf.Tensor) -> tf.Tensor:
    """[b, k, k]: spans i and j of `texts` [b, k] read as the same answer. A span whose text normalises to nothing
    ("the", ",") is the same as none but itself: it is no answer, however often it occurs."""
    normalized = normalized_answer_texts(texts)
    same = tf.equal(normalized[:, :, None], normalized[:, None, :])
    same = tf.logical_and(same, tf.not_equal(normalized, "")[:, None, :])
    return tf.logical_or(same, tf.eye(tf.shape(texts)[1], dtype=tf.bool)[None])


def first_of_its_text(same: tf.Tensor) -> tf.Tensor:
    """[b, k]: no earlier span reads as the same answer (for spans best first: the text's best span)."""
    earlier = tf.linalg.band_part(tf.ones_like(same[0], tf.int32), -1, 0) - tf.eye(tf.shape(same)[1], dtype=tf.int32)
    return tf.logical_not(tf.reduce_any(tf.logical_and(same, tf.cast(earlier, tf.bool)[None]), axis=2))


def merge_by_answer_text(scores: tf.Tensor, texts: tf.Tensor, same: tf.Tensor | None = None) -> tf.Tensor:
    """[b, k] log-sum-exp of `scores` [b, k] over the spans whose `texts` [b, k] read as the same answer, per span
    (`same`: their same_answer_text, when the caller has it already)."""
    same = same_answer_text(texts) if same is None else same
    negative_infinity = tf.constant(float("-inf"), scores.dtype)
    return tf.reduce_logsumexp(tf.where(same, scores[:, None, :], negative_infinity), axis=2)
