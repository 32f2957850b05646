"""Exact maximum inner product search as matmul + top_k, chunked over the corpus so memory stays bounded.

This is the retrieval used inside exported SavedModels (only core TF ops, which TF Serving has) and as the
exact fallback beside ScaNN. Chunking keeps the score matrix at `[queries, chunk_size]` whatever the corpus
size, merging each chunk's top-k into a running top-k.

The default chunk (65,536 blocks) keeps the scores of a batch of 32 questions at 8 MB instead of the 128 MB of
one plain matmul over a 1M-block index, and casts a float16 index to float32 34 MB at a time instead of 512 MB
at once. On a 1M x 128 index (2 CPU cores) it searched in 472 ms per batch of 32 against 460 ms for the single
matmul (+3%), 73 against 104 ms for one question, and faster for a float16 index
(benchmarks/results/half_precision.json, `search_latency_ms`).
"""

from __future__ import annotations

import tensorflow as tf

DEFAULT_CHUNK_SIZE = 1 << 16


def exact_top_k(
    queries: tf.Tensor,
    block_emb: tf.Tensor,
    k: int,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    bias: tf.Tensor | None = None,
):
    """Top-k blocks by inner product. queries [q, d], block_emb [n, d] -> (scores [q, k'], ids [q, k'] int32).

    `bias` [q, n] (optional) is added to every block's score before ranking: a hybrid retriever's lexical score
    (realm.retrieval.lexical).

    k' = min(k, n), static whenever n is, so exported signatures keep a fixed [batch, k'] shape on either path.
    Scores are computed in float32 even for half-precision block embeddings.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive number of blocks, got {chunk_size}")
    queries = tf.cast(queries, tf.float32)
    num_blocks = tf.shape(block_emb)[0]
    static_n = block_emb.shape[0]
    if static_n is not None and static_n <= chunk_size:
        k_eff = min(k, static_n)
        scores = tf.matmul(queries, tf.cast(block_emb, tf.float32), transpose_b=True)
        if bias is not None:
            scores += bias
        top_scores, top_ids = tf.math.top_k(scores, k=k_eff)
        return top_scores, top_ids

    k_eff = tf.minimum(k, num_blocks)
    num_queries = tf.shape(queries)[0]
    num_chunks = (num_blocks + chunk_size - 1) // chunk_size

    def body(i, best_scores, best_ids):
        start = i * chunk_size
        size = tf.minimum(chunk_size, num_blocks - start)
        chunk = tf.cast(block_emb[start : start + size], tf.float32)
        scores = tf.matmul(queries, chunk, transpose_b=True)
        if bias is not None:
            scores += bias[:, start : start + size]
        chunk_scores, chunk_ids = tf.math.top_k(scores, k=tf.minimum(k_eff, size))
        merged_scores = tf.concat([best_scores, chunk_scores], axis=1)
        merged_ids = tf.concat([best_ids, chunk_ids + start], axis=1)
        keep_scores, keep_pos = tf.math.top_k(merged_scores, k=tf.minimum(k_eff, tf.shape(merged_scores)[1]))
        return i + 1, keep_scores, tf.gather(merged_ids, keep_pos, batch_dims=1)

    _, scores, ids = tf.while_loop(
        lambda i, *_: i < num_chunks,
        body,
        (
            tf.constant(0),
            tf.zeros([num_queries, 0], tf.float32),
            tf.zeros([num_queries, 0], tf.int32),
        ),
        shape_invariants=(
            tf.TensorShape([]),
            tf.TensorShape([None, None]),
            tf.TensorShape([None, None]),
        ),
    )
    if static_n is not None:
        # Every chunk contributes min(k', chunk) candidates, so after the last one exactly k' remain.
        static_k = min(k, static_n)
        scores.set_shape([queries.shape[0], static_k])
        ids.set_shape([queries.shape[0], static_k])
    return scores, ids
