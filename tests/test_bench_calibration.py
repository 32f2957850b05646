"""The calibration benchmark's binning: what a printed probability is reported to mean."""

from __future__ import annotations

import pytest

from benchmarks.bench_calibration import calibration_table


def _prediction(probability: float, correct: bool) -> dict:
    return {"question": "q", "correct": correct, "answer_candidates": [{"answer": "a", "probability": probability}]}


def test_answers_fall_into_half_open_bins_and_the_last_bin_keeps_its_top_edge():
    predictions = [_prediction(0.05, False), _prediction(0.1, True), _prediction(0.15, False), _prediction(1.0, True)]
    table = calibration_table(predictions, [0.0, 0.1, 0.5, 1.0])
    assert [row["probability"] for row in table] == ["[0, 0.1)", "[0.1, 0.5)", "[0.5, 1]"]
    assert [row["answers"] for row in table] == [1, 2, 1]
    assert [row["right"] for row in table] == [0, 1, 1]
    assert table[1]["share_right"] == 0.5 and table[1]["se"] == pytest.approx(0.3536, abs=1e-4)


def test_an_empty_bin_has_no_share_and_a_prediction_without_probabilities_is_refused():
    assert calibration_table([_prediction(0.9, True)], [0.0, 0.5, 1.0])[0] == {
        "probability": "[0, 0.5)",
        "answers": 0,
        "right": 0,
        "share_right": None,
        "se": None,
    }
    with pytest.raises(ValueError, match="evaluate anew"):
        calibration_table([{"question": "q", "correct": True}], [0.0, 1.0])
