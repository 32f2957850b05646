"""Salient span masking (REALM §3.4): mask one named entity or date of a sentence for the model to recover.

Runs in `tf.data` per example. Randomness is stateless, seeded by (seed, running example index), so a run
that resumes from a checkpoint (which restores the iterator's position) masks exactly the same spans.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

# A query keeps this many of its sentence's blocks (a sentence longer than a block spans several); the query
# is truncated to `query_seq_len` wordpieces, so its masked span lies in the first of them.
MAX_OWN_BLOCKS = 4


@dataclasses.dataclass(frozen=True)
class MaskingConfig:
    query_seq_len: int = 96
    max_masks: int = 10
    cls_id: int = 101
    sep_id: int = 102
    mask_id: int = 103
    pad_id: int = 0
    seed: int = 0


def mask_salient_span(example: dict[str, tf.Tensor], index: tf.Tensor, config: MaskingConfig) -> dict[str, tf.Tensor]:
    """One example -> masked query `[CLS] sentence [SEP]` + masked positions/labels, or `valid=False`.

    example: token_ids [n] (sentence wordpieces), span_starts / span_ends [s] (inclusive wordpiece indices),
    doc_uid (scalar string). A span is eligible if it has at most `max_masks` wordpieces and survives the
    truncation to `query_seq_len`; REALM skips examples with no eligible span.
    """
    tokens = tf.cast(example["token_ids"], tf.int32)[: config.query_seq_len - 2]
    length = tf.shape(tokens)[0]
    starts = tf.cast(example["span_starts"], tf.int32)
    ends = tf.cast(example["span_ends"], tf.int32)
    eligible = (ends - starts + 1 <= config.max_masks) & (ends < length) & (starts >= 0) & (starts <= ends)
    starts, ends = tf.boolean_mask(starts, eligible), tf.boolean_mask(ends, eligible)
    num_spans = tf.shape(starts)[0]
    valid = num_spans > 0
    seed = tf.stack([tf.constant(config.seed, tf.int64), tf.cast(index, tf.int64)])
    choice = tf.random.stateless_uniform([], seed, minval=0, maxval=tf.maximum(num_spans, 1), dtype=tf.int32)
    # A sentinel (0, -1) keeps the gather legal when no span is eligible; it masks nothing.
    start = tf.gather(tf.concat([starts, [0]], 0), tf.where(valid, choice, num_spans))
    end = tf.gather(tf.concat([ends, [-1]], 0), tf.where(valid, choice, num_spans))
    positions = tf.range(length)
    in_span = (positions >= start) & (positions <= end)
    masked_tokens = tf.where(in_span, config.mask_id, tokens)
    query = tf.concat([[config.cls_id], masked_tokens, [config.sep_id]], axis=0)
    pad = config.query_seq_len - tf.shape(query)[0]
    input_ids = tf.pad(query, [[0, pad]], constant_values=config.pad_id)
    attention_mask = tf.pad(tf.ones_like(query), [[0, pad]])
    span_positions = tf.boolean_mask(positions, in_span) + 1  # +1 for [CLS]
    span_labels = tf.boolean_mask(tokens, in_span)
    mask_pad = config.max_masks - tf.shape(span_positions)[0]
    return {
        "query_input_ids": tf.ensure_shape(input_ids, [config.query_seq_len]),
        "query_attention_mask": tf.ensure_shape(attention_mask, [config.query_seq_len]),
        "query_length": length + 2,
        "masked_positions": tf.ensure_shape(tf.pad(span_positions, [[0, mask_pad]]), [config.max_masks]),
        "masked_labels": tf.ensure_shape(tf.pad(span_labels, [[0, mask_pad]]), [config.max_masks]),
        "masked_weights": tf.ensure_shape(
            tf.pad(tf.ones_like(span_positions, tf.float32), [[0, mask_pad]]), [config.max_masks]
        ),
        "doc_uid": example["doc_uid"],
        "own_blocks": _own_blocks(example),
        "valid": valid,
    }


def _own_blocks(example: dict[str, tf.Tensor]) -> tf.Tensor:
    """block_index(es) of the sentence within its article, padded with -1 to MAX_OWN_BLOCKS (all -1 when the
    corpus predates the field)."""
    own = example.get("block_indices")
    own = tf.zeros([0], tf.int32) if own is None else tf.cast(own, tf.int32)[:MAX_OWN_BLOCKS]
    padded = tf.pad(own, [[0, MAX_OWN_BLOCKS - tf.shape(own)[0]]], constant_values=-1)
    return tf.ensure_shape(padded, [MAX_OWN_BLOCKS])


def pretraining_dataset(
    examples: tf.data.Dataset, config: MaskingConfig, batch_size: int, shuffle_buffer: int = 10_000
) -> tf.data.Dataset:
    """Endless, shuffled (seeded), masked, batched examples. Its iterator state is checkpointable."""
    dataset = examples.repeat().shuffle(shuffle_buffer, seed=config.seed, reshuffle_each_iteration=True)
    dataset = dataset.enumerate().map(
        lambda i, ex: mask_salient_span(ex, i, config), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    dataset = dataset.filter(lambda ex: ex["valid"])
    return dataset.batch(batch_size, drop_remainder=True).prefetch(2)


def is_held_out(example: dict[str, tf.Tensor], holdout_every: int) -> tf.Tensor:
    """1 sentence in `holdout_every` (by a hash of doc_uid and sentence index) is kept out of training, so the
    retriever can be evaluated on masked sentences it never trained on. 0 holds out nothing."""
    if holdout_every <= 0:
        return tf.constant(False)
    key = tf.strings.join([example["doc_uid"], tf.strings.as_string(example["sentence_index"])], "/")
    return tf.equal(tf.strings.to_hash_bucket_fast(key, holdout_every), 0)
