"""tf.train.Example encodings of blocks and pre-training examples (the TFRecord outputs of `realm preprocess`).

Blocks (`blocks/blocks-SSSSS-of-NNNNN.tfrecord`): block_id, doc_uid, block_index, title, text, token_ids
(`[CLS] title [SEP] text [SEP]`), title_length.

Pre-training examples (`examples/examples-SSSSS-of-NNNNN.tfrecord`): doc_uid, sentence_index, title, text,
token_ids (the sentence's wordpieces, no special tokens), span_starts / span_ends (inclusive wordpiece indices),
span_char_starts / span_char_ends (Python character offsets into `text`), span_kinds ("link", "date", or what
an NER hook returns).
"""

from __future__ import annotations

import tensorflow as tf


def _bytes(values) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode("utf-8") for v in values]))


def _ints(values) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def block_example(block: dict, block_id: int) -> bytes:
    feature = {
        "block_id": _ints([block_id]),
        "doc_uid": _bytes([block["doc_uid"]]),
        "block_index": _ints([block["block_index"]]),
        "title": _bytes([block["title"]]),
        "text": _bytes([block["text"]]),
        "token_ids": _ints(block["token_ids"]),
        "title_length": _ints([block["title_length"]]),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(deterministic=True)


def pretraining_example(example: dict) -> bytes:
    feature = {
        "doc_uid": _bytes([example["doc_uid"]]),
        "sentence_index": _ints([example["sentence_index"]]),
        "block_indices": _ints(example["block_indices"]),
        "title": _bytes([example["title"]]),
        "text": _bytes([example["text"]]),
        "token_ids": _ints(example["token_ids"]),
        "span_starts": _ints(example["span_starts"]),
        "span_ends": _ints(example["span_ends"]),
        "span_char_starts": _ints(example["span_char_starts"]),
        "span_char_ends": _ints(example["span_char_ends"]),
        "span_kinds": _bytes(example["span_kinds"]),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(deterministic=True)


BLOCK_FEATURES = {
    "block_id": tf.io.FixedLenFeature([], tf.int64),
    "doc_uid": tf.io.FixedLenFeature([], tf.string),
    "block_index": tf.io.FixedLenFeature([], tf.int64),
    "title": tf.io.FixedLenFeature([], tf.string),
    "text": tf.io.FixedLenFeature([], tf.string),
    "token_ids": tf.io.RaggedFeature(tf.int64),
    "title_length": tf.io.FixedLenFeature([], tf.int64),
}

EXAMPLE_FEATURES = {
    "doc_uid": tf.io.FixedLenFeature([], tf.string),
    "sentence_index": tf.io.FixedLenFeature([], tf.int64),
    # block_index of the article's block(s) holding the sentence: the trivial retrieval pre-training drops.
    # Empty in corpora written before it existed (the trainer then asks for a re-run of `realm preprocess`).
    "block_indices": tf.io.RaggedFeature(tf.int64),
    "title": tf.io.FixedLenFeature([], tf.string),
    "text": tf.io.FixedLenFeature([], tf.string),
    "token_ids": tf.io.RaggedFeature(tf.int64),
    "span_starts": tf.io.RaggedFeature(tf.int64),
    "span_ends": tf.io.RaggedFeature(tf.int64),
    "span_char_starts": tf.io.RaggedFeature(tf.int64),
    "span_char_ends": tf.io.RaggedFeature(tf.int64),
    "span_kinds": tf.io.RaggedFeature(tf.string),
}
