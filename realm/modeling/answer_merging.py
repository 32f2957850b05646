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

_PUNCTUATION = r"[!-/:-@\[-`{-~]"  # string.punctuation, as realm.evaluation.answers.normalize_answer removes it
_ARTICLES = r"\b(a|an|the)\b"


def normalized_answer_texts(texts: tf.Tensor) -> tf.Tensor:
    """`realm.evaluation.answers.normalize_answer` in the graph (without its Unicode NFD step)."""
    texts = tf.strings.lower(texts, encoding="utf-8")
    texts = tf.strings.regex_replace(texts, _PUNCTUATION, "")
    texts = tf.strings.regex_replace(texts, _ARTICLES, " ")
    texts = tf.strings.regex_replace(texts, r"\s+", " ")
    return tf.strings.strip(texts)


def merge_by_answer_text(scores: tf.Tensor, texts: tf.Tensor) -> tf.Tensor:
    """[b, k] log-sum-exp of `scores` [b, k] over the spans whose `texts` [b, k] normalise alike, per span. A span
    whose text normalises to nothing ("the", ",") merges with none: it is no answer, however often it occurs."""
    normalized = normalized_answer_texts(texts)
    same = tf.equal(normalized[:, :, None], normalized[:, None, :])
    same = tf.logical_and(same, tf.not_equal(normalized, "")[:, None, :])
    same = tf.logical_or(same, tf.eye(tf.shape(scores)[1], dtype=tf.bool)[None])
    negative_infinity = tf.constant(float("-inf"), scores.dtype)
    return tf.reduce_logsumexp(tf.where(same, scores[:, None, :], negative_infinity), axis=2)
