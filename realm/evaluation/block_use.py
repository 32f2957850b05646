"""How much the knowledge-augmented encoder takes from the blocks it is shown, on held-out masked sentences.

A retriever's pre-training gradient is only as good as the encoder's per-block predictions p(y|z, x): it is
rewarded for a block exactly when that block makes the masked span more likely than the others do. So before
reading a retriever's recall, read the encoder: the mean log-probability of the masked span's wordpieces given
- the null document (what the encoder knows without a block),
- the sentence's own block (holds the span: the most a copying encoder can gain),
- the best-ranked non-trivial retrieved block that holds the span (what pre-training can reward), and
- the best-ranked non-trivial retrieved block that does not (a distractor: ideally no worse than null).
An encoder that copies scores own ≫ null and span block > null; one that copies blindly scores distractor < null,
and then a retriever learns to prefer the null document.
"""

from __future__ import annotations

import numpy as np

from realm.pretraining.candidates import NO_BLOCK, build_candidates

CANDIDATES = ("null_document", "own_block", "span_block", "distractor_block")


def block_use(
    encoder,
    blocks,
    queries: dict[str, np.ndarray],
    shown: np.ndarray,
    *,
    joint_len: int,
    tokenizer,
    batch_size: int = 16,
) -> dict[str, float]:
    """Mean log p(span wordpiece | query, block) per kind of block, its gain over the null document on the same
    queries (the kinds other than own block exist for different subsets of queries, so only the paired gain
    compares them), and how many queries had one.

    `shown` [n, 3] holds, per query, the block ids of its own block, span block and distractor (NO_BLOCK where
    it has none); the null document is put first by `build_candidates`, as in pre-training.
    """
    sums = np.zeros(len(CANDIDATES))
    gains = np.zeros(len(CANDIDATES))
    counts = np.zeros(len(CANDIDATES), np.int64)
    for start in range(0, len(shown), batch_size):
        sl = slice(start, start + batch_size)
        cands = build_candidates(
            shown[sl],
            queries["query_input_ids"][sl],
            queries["query_length"][sl],
            blocks,
            candidate_len=joint_len,
            joint_len=joint_len,
            cls_id=tokenizer.cls_id,
            sep_id=tokenizer.sep_id,
            pad_id=tokenizer.pad_id,
        )
        weights = queries["masked_weights"][sl].astype(np.float32)
        out = encoder(
            cands.joint_input_ids,
            cands.joint_attention_mask,
            cands.joint_token_type_ids,
            relevance_score=np.where(cands.valid, 0.0, -1e9).astype(np.float32),
            masked_positions=queries["masked_positions"][sl],
            masked_labels=queries["masked_labels"][sl],
            mlm_mask=weights,
        )
        log_probs = np.asarray(out["candidate_log_probs"], np.float64)  # [b, 4, positions]
        per_query = (log_probs * weights[:, None, :]).sum(-1) / np.maximum(weights.sum(-1), 1.0)[:, None]
        sums += np.where(cands.valid, per_query, 0.0).sum(0)
        gains += np.where(cands.valid, per_query - per_query[:, :1], 0.0).sum(0)
        counts += cands.valid.sum(0)
    result = {}
    for name, total, gain, count in zip(CANDIDATES, sums, gains, counts, strict=True):
        result[f"span_log_prob_{name}"] = float(total / count) if count else float("nan")
        if name != "null_document":
            result[f"span_log_prob_gain_{name}"] = float(gain / count) if count else float("nan")
        result[f"queries_with_{name}"] = int(count)
    return result


def pick_blocks(own_block: int, ranked_others: np.ndarray, holds_span) -> list[int]:
    """[own block, first of `ranked_others` holding the span, first not holding it], NO_BLOCK where none."""
    span_block = next((int(b) for b in ranked_others if holds_span(b)), NO_BLOCK)
    distractor = next((int(b) for b in ranked_others if not holds_span(b)), NO_BLOCK)
    return [int(own_block), span_block, distractor]
