"""Versioned block indexes: atomic publishing, never a half-written index, hot swap, ScaNN vs exact search."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from realm.retrieval import index as block_index


def _embeddings(rng, n=300, d=8):
    return rng.randn(n, d).astype(np.float32)


def test_publish_and_load_latest(tmp_path, rng):
    emb = _embeddings(rng)
    path = block_index.publish_index(str(tmp_path), emb, embedder_step=5)
    assert os.path.basename(path) == "v000000005"
    loaded = block_index.BlockIndex.load_latest(str(tmp_path))
    assert loaded.embedder_step == 5 and loaded.meta["method"] == "exact" and len(loaded) == 300
    ids, scores = loaded.search(emb[:4], k=3)
    np.testing.assert_array_equal(ids, np.argsort(-(emb[:4] @ emb.T), axis=1)[:, :3])
    assert np.all(np.diff(scores, axis=1) <= 0)


def test_nothing_published_yet(tmp_path):
    assert block_index.BlockIndex.load_latest(str(tmp_path)) is None


def test_scann_index_recall(tmp_path, rng):
    # Clustered, embedding-like data (isotropic noise is not what ScaNN is tuned for).
    centers = rng.randn(50, 16).astype(np.float32)
    emb = centers[rng.randint(0, 50, 5000)] + 0.3 * rng.randn(5000, 16).astype(np.float32)
    block_index.publish_index(str(tmp_path), emb, embedder_step=1, method="scann", k=10)
    loaded = block_index.BlockIndex.load_latest(str(tmp_path))
    assert loaded.meta["method"] == "scann"
    queries = emb[:100] + 0.1 * rng.randn(100, 16).astype(np.float32)
    ids, _ = loaded.search(queries, k=10)
    exact = np.argsort(-(queries @ emb.T), axis=1)[:, :10]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, exact, strict=True)])
    assert recall > 0.9, recall


def test_scann_scans_at_least_ten_thousand_blocks_and_a_tenth_of_the_leaves_at_scale():
    """Small corpora have small leaves: a tenth of them is too few blocks to find the exact top 10."""
    small = block_index.ScannParams.for_corpus(690, k=100)
    assert small.num_leaves_to_search == small.num_leaves == 26
    mid = block_index.ScannParams.for_corpus(200_000, k=100)
    assert mid.num_leaves_to_search * 200_000 / mid.num_leaves >= block_index.MIN_BLOCKS_SCANNED
    for blocks, leaves, searched in ((1_000_000, 1000, 100), (13_000_000, 2000, 200)):
        params = block_index.ScannParams.for_corpus(blocks, k=100)
        assert (params.num_leaves, params.num_leaves_to_search) == (leaves, searched)


def test_keeps_newest_versions(tmp_path, rng):
    for step in (1, 2, 3, 4, 5):
        block_index.publish_index(str(tmp_path), _embeddings(rng, 20), embedder_step=step, keep=3)
    assert block_index.list_versions(str(tmp_path)) == ["v000000003", "v000000004", "v000000005"]
    assert block_index.latest_version(str(tmp_path)) == "v000000005"


def test_hot_swap_changes_retrieved_ids(tmp_path, rng):
    emb = _embeddings(rng, 50)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)  # unit vectors: each block is its own best match
    block_index.publish_index(str(tmp_path), emb, embedder_step=1)
    first = block_index.BlockIndex.load_latest(str(tmp_path))
    query = emb[7:8]
    assert first.search(query, 1)[0][0, 0] == 7
    shuffled = emb[::-1].copy()  # a "refreshed" embedder maps block 42 where block 7 was
    block_index.publish_index(str(tmp_path), shuffled, embedder_step=2)
    second = block_index.BlockIndex.load_latest(str(tmp_path))
    assert second.embedder_step == 2 and second.search(query, 1)[0][0, 0] == 42


def test_killed_writer_never_exposes_a_half_written_index(tmp_path, rng):
    emb = _embeddings(rng, 100)
    block_index.publish_index(str(tmp_path), emb, embedder_step=1)
    np.save(tmp_path / "new.npy", emb * 2)
    script = textwrap.dedent(f"""
        import numpy as np
        from realm.retrieval import index
        index.PUBLISH_PAUSE_SECONDS = 60
        index.publish_index({str(tmp_path)!r}, np.load({str(tmp_path / "new.npy")!r}), embedder_step=2)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.time() + 60
    while not any(n.startswith(".staging-v000000002") for n in os.listdir(tmp_path)):
        assert time.time() < deadline and proc.poll() is None, "writer never started staging"
        time.sleep(0.1)
    time.sleep(0.5)  # it is now paused after writing, before publishing
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert block_index.latest_version(str(tmp_path)) == "v000000001"
    loaded = block_index.BlockIndex.load_latest(str(tmp_path))
    np.testing.assert_array_equal(np.asarray(loaded.embeddings), emb)
    assert "v000000002" not in block_index.list_versions(str(tmp_path))
    # A later writer publishes normally despite the leftover staging directory.
    block_index.publish_index(str(tmp_path), emb * 3, embedder_step=3)
    assert block_index.BlockIndex.load_latest(str(tmp_path)).embedder_step == 3


def test_incomplete_version_is_rejected(tmp_path):
    os.makedirs(tmp_path / "v000000009")
    with pytest.raises(block_index.BlockIndexError, match="not a complete index version"):
        block_index.BlockIndex(str(tmp_path / "v000000009"))
