"""Readers for the TFRecord outputs of `realm preprocess`, as tf.data pipelines."""

from __future__ import annotations

import os

import tensorflow as tf

from realm.data.records import BLOCK_FEATURES, EXAMPLE_FEATURES
from realm.errors import RealmError


def _shard_files(data_dir: str, kind: str) -> list[str]:
    directory = data_dir if os.path.basename(os.path.normpath(data_dir)) == kind else os.path.join(data_dir, kind)
    files = sorted(tf.io.gfile.glob(os.path.join(directory, f"{kind}-*-of-*.tfrecord")))
    if not files:
        raise RealmError(f"{data_dir}: no {kind}/{kind}-*-of-*.tfrecord files; run `realm preprocess` first")
    return files


def read_tfrecords(data_dir: str, kind: str, features: dict) -> tf.data.Dataset:
    """Shards in name order, records in file order: the dataset is deterministic."""
    files = _shard_files(data_dir, kind)
    return tf.data.TFRecordDataset(files).map(
        lambda record: tf.io.parse_single_example(record, features), num_parallel_calls=tf.data.AUTOTUNE
    )


def read_pretraining_examples(data_dir: str) -> tf.data.Dataset:
    """Sentences with salient spans: token_ids, span_starts, span_ends (int64 vectors), doc_uid, text, title, ..."""
    return read_tfrecords(data_dir, "examples", EXAMPLE_FEATURES)


def read_blocks(data_dir: str) -> tf.data.Dataset:
    """The knowledge corpus in block-id order: block_id, doc_uid, title, text, token_ids, title_length."""
    return read_tfrecords(data_dir, "blocks", BLOCK_FEATURES)
