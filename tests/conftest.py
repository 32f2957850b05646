"""Shared test set-up: quiet TensorFlow, deterministic seeds, and helpers to make tiny HF REALM checkpoints."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # bit-stable CPU numerics for parity tests
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.RandomState:
    return np.random.RandomState(1234)


TINY_HF_CONFIG = dict(
    vocab_size=99,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
    retriever_proj_size=16,
    span_hidden_size=12,
    max_span_width=4,
    num_candidates=3,
    reader_beam_size=3,
    searcher_beam_size=5,
    reader_seq_len=24,
    num_block_records=7,
)


def write_sample_slice(path, pages: int) -> str:
    """A bz2 dump of the first `pages` pages of the real Wikipedia sample (a small corpus for integration tests)."""
    import bz2

    from realm.data.pages import iter_raw_pages
    from realm.resources import sample_wikipedia_dump

    data = [raw.data for _, raw in zip(range(pages), iter_raw_pages(sample_wikipedia_dump()), strict=False)]
    path.write_bytes(bz2.compress(b"<mediawiki>\n" + b"".join(data) + b"</mediawiki>\n"))
    return str(path)


@pytest.fixture(scope="module")
def slice_corpus(tmp_path_factory) -> str:
    """The first 100 pages of the sample (about 40 articles, over 300 blocks) through `realm preprocess`: big enough
    for retrieval to matter, small enough for a tiny pre-training run in a minute. Built once per test module."""
    from realm.data.preprocess import PreprocessOptions, run_preprocess

    root = tmp_path_factory.mktemp("slice")
    dump = write_sample_slice(root / "enwiki-slice.xml.bz2", 100)
    out = str(root / "corpus")
    stats = run_preprocess(PreprocessOptions(dump, out, num_shards=2), ["--direct_num_workers=1"])
    assert stats["blocks"] > 300
    return out


def run_metrics(run_dir) -> list[dict]:
    """The per-step records a training run appended to its metrics.jsonl."""
    import json

    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]
