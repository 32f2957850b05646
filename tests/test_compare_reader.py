"""The paired comparison of two fine-tuning recipes (benchmarks/compare_reader.py)."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks.compare_reader import compare


def _run(tmp_path, name: str, split: str, correct: list[bool], in_top: list[bool]) -> str:
    directory = tmp_path / name / f"eval-{split}"
    directory.mkdir(parents=True)
    rows = [
        {"question": f"q{i}", "correct": c, "answer_in_top_blocks": t}
        for i, (c, t) in enumerate(zip(correct, in_top, strict=True))
    ]
    (directory / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(tmp_path / name)


def test_the_difference_is_paired_question_by_question_and_averaged_over_runs(tmp_path):
    a = _run(tmp_path, "a", "dev", [True, False, False, False], [True, True, False, False])
    b1 = _run(tmp_path, "b1", "dev", [True, True, False, False], [True, True, True, False])
    b2 = _run(tmp_path, "b2", "dev", [True, False, False, False], [True, True, True, False])
    compared = compare([a], [b1, b2])
    assert set(compared) == {"dev"}  # no test split evaluated: none reported
    em = compared["dev"]["exact_match"]
    # Per question b - a: 0, 0.5, 0, 0 -> mean 0.125, sample sd 0.25, se 0.125.
    assert (em["a"], em["b"], em["b_minus_a"]) == (0.25, 0.375, 0.125)
    assert em["se"] == pytest.approx(0.25 / math.sqrt(4), abs=1e-4)
    recall = compared["dev"]["answer_recall@5"]
    assert (recall["b_minus_a"], recall["questions"]) == (0.25, 4)


def test_runs_of_one_recipe_must_have_answered_the_same_questions(tmp_path):
    a = _run(tmp_path, "a", "dev", [True, False], [True, True])
    b1 = _run(tmp_path, "b1", "dev", [True, False], [True, True])
    b2 = _run(tmp_path, "b2", "dev", [True], [True])
    with pytest.raises(ValueError, match="did not answer the same questions"):
        compare([a], [b1, b2])


def test_inference_comparisons_name_each_model_apart_though_pipeline_runs_share_their_last_folders():
    from benchmarks.bench_span_rules import run_labels

    runs = ["/r/main_a/finetune-op/model", "/r/bench/seed1", "/r/main_b/finetune-op/model/"]
    assert run_labels(runs) == ["main_a/finetune-op/model", "seed1", "main_b/finetune-op/model"]
