"""Fit a fresh masked-LM head to the warm-start encoder before pre-training reads anything.

Why: the MiniLM warm start ships no MLM head, so pre-training starts from a random one. MiniLM's top layer
still says which wordpiece sits at each position (the tied word embeddings read it back for 61% of the
wordpieces of a block with no head at all), but a random head's dense + LayerNorm scrambles that: it decodes
none of them. A reader then cannot show that it copied a token from a block, even when it did, and the
masked-LM gradient gives its attention nothing to follow (#4: the own-block gain stayed near +0.1 nats).
Training the head alone (encoder frozen) to read each unmasked wordpiece back from its own position restores
the decoding in a few hundred steps; the encoder's weights are not touched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import keras
import numpy as np
import tensorflow as tf

from realm.pretraining.replicas import split_across_replicas

logger = logging.getLogger(__name__)


def head_variables(encoder) -> list[tf.Variable]:
    """The MLM head's own weights: not the word-embedding table it shares with the encoder's input."""
    table = encoder.bert.word_embeddings.embeddings
    return [v for v in encoder.mlm_head.trainable_variables if v is not table]


def token_identity_targets(input_ids: tf.Tensor, attention_mask: tf.Tensor, skip_ids: list[int]) -> tf.Tensor:
    """1.0 where a position holds a real wordpiece to read back: attended, and not [CLS]/[SEP]/[MASK]/[PAD]."""
    keep = tf.cast(attention_mask, tf.bool)
    for token in skip_ids:
        keep &= tf.not_equal(input_ids, token)
    return tf.cast(keep, tf.float32)


def fit_head_to_token_identity(
    encoder,
    batches: Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]],
    steps: int,
    skip_ids: list[int],
    learning_rate: float = 1e-3,
    log_every: int = 50,
    on_log: Callable[[int, float, float], None] | None = None,
    strategy: tf.distribute.Strategy | None = None,
) -> dict[str, float]:
    """Train `encoder.mlm_head` (encoder frozen) to predict every position's own wordpiece.

    `batches` yields (input_ids, attention_mask, token_type_ids) of shape [n, seq]. Returns the loss and top-1
    accuracy of the last step. Adam with its own state: the pre-training optimizer is not touched. Under a
    multi-replica `strategy` each batch is split across the replicas, as the trainer's steps are.
    """
    if steps <= 0:
        return {}
    strategy = strategy or tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    variables = head_variables(encoder)
    with strategy.scope():
        optimizer = keras.optimizers.Adam(learning_rate)
        optimizer.build(variables)

    def replica_step(input_ids, attention_mask, token_type_ids):
        hidden = encoder.bert(input_ids, attention_mask, token_type_ids, training=False)["sequence_output"]
        hidden = tf.stop_gradient(hidden)
        weights = token_identity_targets(input_ids, attention_mask, skip_ids)
        with tf.GradientTape() as tape:
            logits = tf.cast(encoder.mlm_head(hidden), tf.float32)
            nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(input_ids, tf.int32), logits=logits)
            loss = tf.reduce_sum(nll * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)
            scaled = loss / replicas  # the optimizer sums the replicas' gradients
        optimizer.apply(tape.gradient(scaled, variables), variables)
        hits = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), tf.cast(input_ids, tf.int32)), tf.float32)
        accuracy = tf.reduce_sum(hits * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)
        return loss, accuracy

    @tf.function
    def step(batch):
        per_replica = strategy.run(replica_step, args=batch)
        return tuple(strategy.reduce("MEAN", value, axis=None) for value in per_replica)

    loss = accuracy = float("nan")
    for done in range(1, steps + 1):
        loss, accuracy = (float(x) for x in step(split_across_replicas(strategy, tuple(next(batches)))))
        if done % log_every == 0 or done == steps:
            logger.info("MLM head fit %d/%d: loss %.3f, wordpieces read back %.1f%%", done, steps, loss, 100 * accuracy)
            if on_log is not None:
                on_log(done, loss, accuracy)
    return {"loss": loss, "accuracy": accuracy}
