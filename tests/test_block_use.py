"""Which blocks the encoder diagnostic shows each held-out query."""

from __future__ import annotations

import numpy as np

from realm.evaluation.block_use import pick_blocks
from realm.pretraining.candidates import NO_BLOCK


def test_pick_blocks_takes_the_best_ranked_of_each_kind():
    holders = {7, 3}
    assert pick_blocks(5, np.array([9, 3, 7, 2]), holders.__contains__) == [5, 3, 9]
    assert pick_blocks(5, np.array([3, 7, 2]), holders.__contains__) == [5, 3, 2]


def test_pick_blocks_marks_missing_kinds():
    assert pick_blocks(5, np.array([9, 2]), {7}.__contains__) == [5, NO_BLOCK, 9]
    assert pick_blocks(NO_BLOCK, np.array([7]), {7}.__contains__) == [NO_BLOCK, 7, NO_BLOCK]
    assert pick_blocks(5, np.array([], np.int64), {7}.__contains__) == [5, NO_BLOCK, NO_BLOCK]
