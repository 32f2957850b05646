"""Shapes, masking and span bookkeeping of the Keras REALM models on the tiny preset."""

from __future__ import annotations

import numpy as np
import pytest

from realm.modeling.layers.heads import span_candidates
from realm.modeling.models import RealmEmbedder, RealmKnowledgeAugEncoder, RealmReader, RealmScorer
from realm.presets import model_config
from realm.retrieval.mips import exact_top_k


@pytest.fixture(scope="module")
def config():
    return model_config("tiny", vocab_size=50)


def test_embedder_shape_and_padding_invariance(config, rng):
    model = RealmEmbedder(config).build_for_inference()
    ids = rng.randint(1, 50, size=(3, 8)).astype(np.int32)
    out = model(ids)["projected_score"].numpy()
    assert out.shape == (3, config.retriever_proj_size)
    # Padding with masked tokens must not change the embedding.
    padded = np.concatenate([ids, rng.randint(1, 50, size=(3, 5)).astype(np.int32)], axis=1)
    mask = np.concatenate([np.ones((3, 8)), np.zeros((3, 5))], axis=1).astype(np.int32)
    np.testing.assert_allclose(model(padded, mask)["projected_score"].numpy(), out, atol=1e-5)


def test_dropout_only_in_training(config, rng):
    model = RealmEmbedder(config.replace(hidden_dropout_prob=0.5)).build_for_inference()
    ids = rng.randint(1, 50, size=(2, 8)).astype(np.int32)
    a, b = model(ids)["projected_score"].numpy(), model(ids)["projected_score"].numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(model(ids, training=True)["projected_score"].numpy(), a)


def test_scorer_shapes(config, rng):
    model = RealmScorer(config).build_for_inference()
    out = model(rng.randint(1, 50, size=(2, 6)).astype(np.int32), rng.randint(1, 50, size=(2, 4, 9)).astype(np.int32))
    assert out["relevance_score"].shape == (2, 4)
    assert out["candidate_score"].shape == (2, 4, config.retriever_proj_size)
    np.testing.assert_allclose(
        out["relevance_score"].numpy(),
        np.einsum("bd,bnd->bn", out["query_score"].numpy(), out["candidate_score"].numpy()),
        rtol=1e-5,
    )


def test_encoder_gathered_logits_shape(config, rng):
    model = RealmKnowledgeAugEncoder(config).build_for_inference()
    ids = rng.randint(1, 50, size=(2, 3, 10)).astype(np.int32)
    out = model(
        ids,
        relevance_score=np.zeros((2, 3), np.float32),
        masked_positions=np.array([[1, 2], [3, 0]]),
        masked_labels=np.array([[4, 5], [6, 0]]),
        mlm_mask=np.array([[1, 1], [1, 0]], np.float32),
    )
    assert out["logits"].shape == (6, 2, 50)
    assert out["candidate_log_probs"].shape == (2, 3, 2)
    assert np.isfinite(float(out["loss"]))


def test_span_candidates_order():
    starts, ends = span_candidates(4, 2)
    assert starts.numpy().tolist() == [0, 1, 2, 3, 0, 1, 2]
    assert ends.numpy().tolist() == [0, 1, 2, 3, 1, 2, 3]
    starts, _ = span_candidates(2, 5)  # no span wider than the sequence
    assert len(starts.numpy()) == 3


def test_reader_only_picks_spans_inside_the_block(config, rng):
    model = RealmReader(config).build_for_inference()
    beam, seq = 3, 12
    ids = rng.randint(1, 50, size=(2, beam, seq)).astype(np.int32)
    block_mask = np.zeros((2, beam, seq), bool)
    block_mask[:, :, 6:10] = True
    out = model(ids, relevance_score=rng.randn(2, 5).astype(np.float32), block_mask=block_mask)
    assert out["logits"].shape[:2] == (2, beam)
    for b in range(2):
        assert 6 <= int(out["start_pos"][b]) <= int(out["end_pos"][b]) < 10
        assert int(out["end_pos"][b]) - int(out["start_pos"][b]) < config.max_span_width


def test_reader_requires_block_mask(config):
    model = RealmReader(config).build_for_inference()
    with pytest.raises(ValueError, match="block_mask is required"):
        model(np.ones((1, 1, 4), np.int32), relevance_score=np.zeros((1, 1), np.float32))


@pytest.mark.parametrize("chunk_size", [3, 7, 1000])
def test_exact_top_k_chunked_equals_numpy(rng, chunk_size):
    queries = rng.randn(4, 8).astype(np.float32)
    blocks = rng.randn(20, 8).astype(np.float32)
    import tensorflow as tf

    scores, ids = exact_top_k(tf.constant(queries), tf.constant(blocks), k=5, chunk_size=chunk_size)
    full = queries @ blocks.T
    np.testing.assert_array_equal(ids.numpy(), np.argsort(-full, axis=1)[:, :5])
    np.testing.assert_allclose(scores.numpy(), np.sort(full, axis=1)[:, ::-1][:, :5], rtol=1e-5)


def test_exact_top_k_chunked_inside_tf_function(rng):
    import tensorflow as tf

    blocks = tf.Variable(rng.randn(17, 4).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
    def search(q):
        return exact_top_k(q, tf.convert_to_tensor(blocks), k=3, chunk_size=5)

    q = rng.randn(2, 4).astype(np.float32)
    _, ids = search(q)
    np.testing.assert_array_equal(ids.numpy(), np.argsort(-(q @ blocks.numpy().T), axis=1)[:, :3])
