"""Rules a predicted answer span must follow beyond lying inside its block (which the reader's head enforces).

An answer is what the question asks for, so it is not made of the question's own words: for "who developed the
martial art aikido" the span "Aikido" is never right. A reader trained on a few hundred questions still picks
such spans (it matches the question against the block and stops at the match), so inference rules them out.
"""

from __future__ import annotations

import tensorflow as tf

from realm.modeling.layers.heads import span_candidates

EXCLUDE_QUESTION_SPANS_KEY = "exclude_question_spans"  # RealmConfig.extra: the rule is on for this model


def spans_beyond_the_question(input_ids, token_type_ids, attention_mask, block_mask, max_span_width: int):
    """[n, spans] bool, in `span_candidates` order: True for spans with at least one block wordpiece that is not
    in the question (`[CLS] question [SEP] block [SEP]` rows, the question being segment 0)."""
    question = tf.logical_and(tf.equal(token_type_ids, 0), tf.equal(attention_mask, 1))
    same_piece = tf.equal(input_ids[:, :, None], input_ids[:, None, :])
    in_question = tf.reduce_any(tf.logical_and(same_piece, question[:, None, :]), axis=2)
    new_piece = tf.cast(tf.logical_and(tf.equal(block_mask, 1), tf.logical_not(in_question)), tf.int32)
    before = tf.pad(tf.cumsum(new_piece, axis=1), [[0, 0], [1, 0]])  # before[:, i]: new pieces in [0, i)
    starts, ends = span_candidates(tf.shape(input_ids)[1], max_span_width)
    return tf.gather(before, ends + 1, axis=1) - tf.gather(before, starts, axis=1) > 0
