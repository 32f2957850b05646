"""REALM/ORQA marginal likelihood losses as plain functions, unit-testable on hand-computed cases."""

from __future__ import annotations

from keras import ops


def marginal_log_loss(logits, is_correct):
    """-log sum_{correct} softmax(logits) over the last axis, and 0 where nothing is correct.

    ORQA's loss for both the retriever (blocks containing an answer) and the reader (spans matching one).
    The zeroing follows ORQA/HF: a question whose retrieval has no correct block contributes no gradient.
    """
    is_correct = ops.cast(is_correct, "bool")
    any_correct = ops.any(is_correct, axis=-1)
    log_denominator = ops.logsumexp(logits, axis=-1)
    masked = ops.where(is_correct, logits, ops.full_like(logits, -1e30))
    log_numerator = ops.logsumexp(masked, axis=-1)
    return ops.where(any_correct, log_denominator - log_numerator, ops.zeros_like(log_denominator))


def realm_mlm_marginal_loss(relevance_score, mlm_log_probs, mlm_mask):
    """REALM pre-training loss: -mean over masked positions of log sum_z p(z|x) p(y_j|z, x).

    relevance_score [batch, candidates]; mlm_log_probs [batch, candidates, positions] (log p of the gold token
    at each position under each candidate); mlm_mask [batch, positions] (1 for real masked positions).
    Returns (loss, marginal_log_probs [batch, positions]).
    """
    candidate_log_probs = ops.log_softmax(relevance_score, axis=-1)[:, :, None]
    marginal = ops.logsumexp(candidate_log_probs + mlm_log_probs, axis=1)
    mask = ops.cast(mlm_mask, marginal.dtype)
    loss = -ops.sum(marginal * mask) / ops.maximum(ops.sum(mask), 1e-9)
    return loss, marginal


def per_candidate_mlm_loss(mlm_log_probs, mlm_mask, candidate_valid):
    """-mean over valid candidates and masked positions of log p(y_j|z, x): each candidate trained on its own.

    The reader's warm-up objective, before the retriever weighs the candidates. Under the marginal likelihood a
    candidate that explains the span badly gets almost no gradient (its posterior is small), so nothing teaches
    the encoder to fall back on its own knowledge when a block does not hold the span; trained on each block,
    it learns to copy from the block that holds the span and not from the others.
    mlm_log_probs [batch, candidates, positions]; mlm_mask [batch, positions]; candidate_valid [batch, candidates].
    """
    weights = ops.cast(candidate_valid, "float32")[:, :, None] * ops.cast(mlm_mask, "float32")[:, None, :]
    return -ops.sum(ops.cast(mlm_log_probs, "float32") * weights) / ops.maximum(ops.sum(weights), 1e-9)


def gold_token_log_probs(logits, labels, ignore_index: int = -100):
    """log softmax(logits)[label] per position; 0 where the label is `ignore_index` (as CrossEntropy(ignore))."""
    valid = ops.not_equal(labels, ignore_index)
    safe_labels = ops.where(valid, labels, ops.zeros_like(labels))
    log_probs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
    picked = ops.take_along_axis(log_probs, ops.expand_dims(ops.cast(safe_labels, "int32"), -1), axis=-1)
    picked = ops.squeeze(picked, -1)
    return ops.where(valid, picked, ops.zeros_like(picked))
