"""Fitting a fresh MLM head to read back each wordpiece off a frozen encoder."""

from __future__ import annotations

import numpy as np

from realm.modeling.models import RealmKnowledgeAugEncoder
from realm.presets import model_config
from realm.pretraining.head_fit import fit_head_to_token_identity, head_variables, token_identity_targets

PAD, CLS, SEP, MASK = 0, 1, 2, 3


def random_batches(rng, vocab: int, batch: int = 8, seq: int = 12):
    while True:
        ids = rng.randint(4, vocab, size=(batch, seq))
        ids[:, 0], ids[:, -3] = CLS, SEP
        ids[:, 4] = MASK
        ids[:, -2:] = PAD
        mask = (ids != PAD).astype(np.int32)
        yield ids.astype(np.int32), mask, np.zeros_like(mask)


def test_targets_skip_special_and_padding():
    ids = np.array([[CLS, 7, MASK, 9, SEP, PAD]])
    mask = np.array([[1, 1, 1, 1, 1, 0]])
    weights = token_identity_targets(ids, mask, [CLS, SEP, MASK, PAD]).numpy()
    np.testing.assert_array_equal(weights, [[0, 1, 0, 1, 0, 0]])


def test_fit_teaches_the_head_to_read_back_tokens_and_leaves_the_encoder_alone(rng):
    encoder = RealmKnowledgeAugEncoder(model_config("tiny", vocab_size=40), name="encoder").build_for_inference()
    fitted = {id(v) for v in head_variables(encoder)}
    assert encoder.bert.word_embeddings.embeddings is not None
    assert id(encoder.bert.word_embeddings.embeddings) not in fitted  # the tied table is the encoder's input
    frozen = [v.numpy().copy() for v in encoder.bert.weights]

    batches = random_batches(rng, 40)
    skip = [CLS, SEP, MASK, PAD]
    before = fit_head_to_token_identity(encoder, batches, 1, skip, learning_rate=0.0)
    after = fit_head_to_token_identity(encoder, batches, 150, skip, learning_rate=1e-2)

    assert after["accuracy"] > max(0.8, before["accuracy"] + 0.5), (before, after)
    assert after["loss"] < before["loss"]
    for old, new in zip(frozen, encoder.bert.weights, strict=True):
        np.testing.assert_array_equal(old, new.numpy())
