"""The paired comparison of two fine-tuning recipes (benchmarks/compare_reader.py)."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks.compare_reader import compare


def _run(tmp_path, name: str, split: str, correct: list[bool], in_top: list[bool]) -> str:
    """A run whose reader read 10 blocks; `in_top`: an answer in the first 5 (else at rank 7, or none)."""
    ranks = [1 if t else (7 if i % 2 else None) for i, t in enumerate(in_top)]
    return _write(tmp_path, name, split, correct, ranks)


def _write(tmp_path, name: str, split: str, correct: list[bool], ranks: list[int | None], **extra) -> str:
    directory = tmp_path / name / f"eval-{split}"
    directory.mkdir(parents=True)
    rows = [
        {
            "question": f"q{i}",
            "correct": c,
            "answer_rank": r,
            "answer_in_top_blocks": r is not None and r <= 10,
            "retrieved_block_ids": list(range(10)),
            **extra,
        }
        for i, (c, r) in enumerate(zip(correct, ranks, strict=True))
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


def test_recall_at_5_counts_answers_in_the_first_5_blocks_not_all_the_blocks_read(tmp_path):
    a = _write(tmp_path, "a", "dev", [False, False], [3, None])
    b = _write(tmp_path, "b", "dev", [False, False], [3, 8])  # the reader read rank 8 too: not recall@5
    recall = compare([a], [b])["dev"]["answer_recall@5"]
    assert (recall["a"], recall["b"], recall["b_minus_a"]) == (0.5, 0.5, 0.0)


def test_older_predictions_give_recall_at_5_only_where_the_reader_read_5_blocks(tmp_path):
    def old_run(name: str, read: int) -> str:
        path = _write(tmp_path, name, "dev", [True, False], [1, 2])
        predictions = tmp_path / name / "eval-dev" / "predictions.jsonl"
        rows = [json.loads(line) for line in predictions.read_text().splitlines()]
        for row in rows:
            del row["answer_rank"]
            row["retrieved_block_ids"] = list(range(read))
        predictions.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return path

    five, ten = old_run("five", 5), old_run("ten", 10)
    assert compare([five], [five])["dev"]["answer_recall@5"]["a"] == 1.0
    with pytest.raises(ValueError, match="read 10 blocks give no recall@5"):
        compare([five], [ten])


def test_inference_comparisons_name_each_model_apart_though_pipeline_runs_share_their_last_folders():
    from benchmarks.bench_span_rules import run_labels

    runs = ["/r/main_a/finetune-op/model", "/r/bench/seed1", "/r/main_b/finetune-op/model/"]
    assert run_labels(runs) == ["main_a/finetune-op/model", "seed1", "main_b/finetune-op/model"]


def test_the_reader_ablation_records_how_many_cloze_questions_read_an_answer(tmp_path):
    """From the run's log: the cloze steps' `has_answer_in_reader` only, not the training questions' after them."""
    from benchmarks.bench_reader import VARIANTS, cloze_reading

    rows = [(10, 0.5), (20, 0.25), (250, 1.0), (260, 0.0), (350, 0.0)]
    with open(tmp_path / "metrics.jsonl", "w") as f:
        for step, share in rows:
            f.write(json.dumps({"step": step, "has_answer_in_reader": share}) + "\n")
    recorded = cloze_reading(str(tmp_path), VARIANTS["cloze250_b16_beam1_numbers_steps100_ownfirst"])
    assert recorded == {"cloze_answer_in_reader": {"logged_steps": 3, "mean": 0.583, "min": 0.25, "max": 1.0}}
    assert cloze_reading(str(tmp_path), VARIANTS["no_cloze"]) == {}


def test_runs_on_other_training_questions_get_keys_of_their_own():
    """A run on another training set must not overwrite (or be paired as) the sample's run of the same variant."""
    import argparse

    from benchmarks.bench_reader import variant_key

    def key(**overrides):
        args = dict(seed=1, pretrain_label="main_x", train_questions="sample", train_questions_label="")
        return variant_key("v", argparse.Namespace(**{**args, **overrides}))

    assert key() == "v_seed1@main_x"
    assert key(train_questions="more.jsonl", train_questions_label="more") == "v_q-more_seed1@main_x"
    assert key(seed=0, pretrain_label="", train_questions="more.jsonl", train_questions_label="more") == "v_q-more"
