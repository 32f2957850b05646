"""REALM/ORQA losses against hand computations on small cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from realm.modeling.losses import (
    gold_token_log_probs,
    marginal_log_loss,
    per_candidate_mlm_loss,
    realm_mlm_marginal_loss,
)


def _lse(values):
    m = max(values)
    return m + math.log(sum(math.exp(v - m) for v in values))


def test_marginal_log_loss_by_hand():
    logits = np.array([[1.0, 2.0, 0.5], [0.0, 0.0, 0.0]], np.float32)
    correct = np.array([[True, False, True], [False, False, False]])
    loss = marginal_log_loss(logits, correct).numpy()
    expected = _lse([1.0, 2.0, 0.5]) - _lse([1.0, 0.5])
    assert loss[0] == pytest.approx(expected, abs=1e-6)
    assert loss[1] == 0.0  # nothing correct: no signal, and never NaN


def test_marginal_log_loss_all_correct_is_zero():
    logits = np.random.RandomState(0).randn(4, 6).astype(np.float32)
    np.testing.assert_allclose(marginal_log_loss(logits, np.ones((4, 6), bool)).numpy(), 0.0, atol=1e-6)


def test_realm_mlm_marginal_loss_by_hand():
    # One example, two candidates (null document first), two masked positions of which one counts.
    relevance = np.array([[0.0, math.log(3.0)]], np.float32)  # p(z) = [0.25, 0.75]
    token_log_probs = np.log(np.array([[[0.1, 0.5], [0.4, 0.9]]], np.float32))  # [batch, cand, pos]
    mask = np.array([[1.0, 0.0]], np.float32)
    loss, marginal = realm_mlm_marginal_loss(relevance, token_log_probs, mask)
    expected_pos0 = math.log(0.25 * 0.1 + 0.75 * 0.4)
    assert marginal.numpy()[0, 0] == pytest.approx(expected_pos0, abs=1e-6)
    assert marginal.numpy()[0, 1] == pytest.approx(math.log(0.25 * 0.5 + 0.75 * 0.9), abs=1e-6)
    assert float(loss) == pytest.approx(-expected_pos0, abs=1e-6)


def test_realm_mlm_loss_with_no_masked_positions_is_zero():
    loss, _ = realm_mlm_marginal_loss(
        np.zeros((1, 2), np.float32), np.zeros((1, 2, 3), np.float32), np.zeros((1, 3), np.float32)
    )
    assert float(loss) == 0.0


def test_per_candidate_mlm_loss_by_hand():
    # Two examples, three candidates; the second example's last candidate is padding, its second position unmasked.
    log_probs = np.log(np.array([[[0.1, 0.5], [0.4, 0.9], [0.2, 0.3]], [[0.5, 0.7], [0.8, 0.6], [0.9, 0.9]]]))
    mask = np.array([[1.0, 1.0], [1.0, 0.0]], np.float32)
    valid = np.array([[True, True, True], [True, True, False]])
    counted = [0.1, 0.5, 0.4, 0.9, 0.2, 0.3, 0.5, 0.8]
    expected = -sum(math.log(p) for p in counted) / len(counted)
    loss = per_candidate_mlm_loss(log_probs.astype(np.float32), mask, valid)
    assert float(loss) == pytest.approx(expected, abs=1e-6)
    # Unlike the marginal, a candidate that explains the span badly still carries its full weight.
    _, marginal = realm_mlm_marginal_loss(np.zeros((2, 3), np.float32), log_probs.astype(np.float32), mask)
    assert float(loss) > -float(np.sum(marginal.numpy() * mask) / mask.sum())


def test_gold_token_log_probs_ignores_minus_100():
    logits = np.array([[[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]]], np.float32)
    labels = np.array([[0, -100]])
    out = gold_token_log_probs(logits, labels).numpy()
    assert out[0, 0] == pytest.approx(2.0 - _lse([2.0, 0.0, 0.0]), abs=1e-6)
    assert out[0, 1] == 0.0
