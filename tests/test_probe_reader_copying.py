"""The reader-copying probe's extra random masks: what it trains on must be what it says."""

import numpy as np

from benchmarks.probe_reader_copying import add_random_masks

MASK = 103


def test_extra_masks_hide_query_tokens_in_every_candidate_and_become_targets():
    # One query `[CLS] 10 11 [MASK] 13 14 15 16 17 [SEP]` (span at position 3, label 12) + a block, 2 candidates.
    query = [101, 10, 11, MASK, 13, 14, 15, 16, 17, 102]
    block = [20, 21, 22, 102]
    joint = np.array([query + block, [*query, 102, 0, 0, 0]], np.int32)[None]
    batch = {
        "joint_input_ids": joint.copy(),
        "masked_positions": np.array([[3, 0, 0, 0]], np.int32),
        "masked_labels": np.array([[12, 0, 0, 0]], np.int32),
        "masked_weights": np.array([[1.0, 0, 0, 0]], np.float32),
    }
    out = add_random_masks(batch, np.array([len(query)]), 0.5, MASK, np.random.default_rng(0))

    picked = out["masked_positions"][0, 1:4]
    assert out["masked_weights"][0].tolist() == [1.0, 1.0, 1.0, 1.0]  # round(0.5 * 7 free) = 4, cut to the 3 free slots
    assert out["masked_positions"][0, 0] == 3 and out["masked_labels"][0, 0] == 12  # the span is kept first
    assert set(picked) <= set(range(1, 9)) and 3 not in picked and len(set(picked)) == 3
    assert out["masked_labels"][0, 1:4].tolist() == joint[0, 0, picked].tolist()  # labels are the hidden tokens
    for candidate in range(2):
        assert (out["joint_input_ids"][0, candidate, picked] == MASK).all()
        untouched = [p for p in range(joint.shape[2]) if p not in picked]
        assert (out["joint_input_ids"][0, candidate, untouched] == joint[0, candidate, untouched]).all()


def test_no_extra_masks_at_rate_zero():
    joint = np.array([[[101, 10, MASK, 102, 20, 102]]], np.int32)
    batch = {
        "joint_input_ids": joint.copy(),
        "masked_positions": np.array([[2, 0]], np.int32),
        "masked_labels": np.array([[11, 0]], np.int32),
        "masked_weights": np.array([[1.0, 0.0]], np.float32),
    }
    out = add_random_masks(batch, np.array([4]), 0.0, MASK, np.random.default_rng(0))
    assert (out["joint_input_ids"] == joint).all() and out["masked_weights"].tolist() == [[1.0, 0.0]]
