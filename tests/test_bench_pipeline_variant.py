"""Whole pipeline runs compared question by question (benchmarks/bench_pipeline_variant.py), on finished runs laid
out as `realm pipeline run --local --out` lays them out."""

from __future__ import annotations

import json
import sys

import pytest

from benchmarks import bench_pipeline_variant, common


def _rows(correct: list[bool], ranks: list[int | None]) -> str:
    fixed = {"predicted_title": "T", "predicted_block_rank": 1}
    rows = [
        {"question": f"q{i}", "gold": [f"g{i}"], "predicted_answer": f"p{i}", "correct": c, "answer_rank": r, **fixed}
        for i, (c, r) in enumerate(zip(correct, ranks, strict=True))
    ]
    return "".join(json.dumps(r) + "\n" for r in rows)


def _metrics(correct: list[bool]) -> str:
    em = sum(correct) / len(correct)
    return json.dumps({"questions": len(correct), "exact_match": em, "recall@5": 1.0, "recall@20": 1.0,
                       "recall@100": 1.0})  # fmt: skip


def _finished_run(root, dev: list[bool], test: list[bool], finetune_minutes: float) -> str:
    run = root / "pipeline_root" / "realm-2026-12-06-20-13-39-1"
    evaluation = run / "evaluate-op" / "evaluation"
    evaluation.mkdir(parents=True)
    (evaluation / "metrics.json").write_text(_metrics(test))
    (evaluation / "predictions.jsonl").write_text(_rows(test, [1] * len(test)))
    corpus = run / "preprocess-op" / "corpus"
    corpus.mkdir(parents=True)
    (corpus / "stats.json").write_text(json.dumps({"blocks": 7}))
    (root / "eval-dev").mkdir()  # evaluated already: nothing is run
    (root / "eval-dev" / "metrics.json").write_text(_metrics(dev))
    (root / "eval-dev" / "predictions.jsonl").write_text(_rows(dev, [1] * len(dev)))
    (root / "console.log").write_text(
        f"[20:14:05] step preprocess: success (0.4 min)\n[20:53:45] step finetune: success ({finetune_minutes} min)\n"
    )
    return str(root)


def test_finished_runs_are_compared_on_dev_and_recorded_with_their_steps_and_test(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "RESULTS_DIR", str(tmp_path / "results"))
    baseline = _finished_run(tmp_path / "base", [True, True, False, False], [True, False], 12.3)
    variant = _finished_run(tmp_path / "variant", [True, False, False, False], [True, True], 18.1)
    argv = ["bench", "--name", "n", "--baseline", baseline, "--out", variant, "--param", "block_lead_names=true"]
    monkeypatch.setattr(sys, "argv", argv)
    bench_pipeline_variant.main()
    entry = json.loads((tmp_path / "results" / "pipeline_variants.json").read_text())["comparisons"]["n"]
    assert entry["dev"]["exact_match"]["b_minus_a"] == pytest.approx(-0.25)  # decided on dev
    assert entry["test"]["exact_match"]["b_minus_a"] == pytest.approx(0.5)  # reported beside it
    assert entry["baseline"]["step_minutes"] == {"preprocess": 0.4, "finetune": 12.3}
    assert entry["variant"]["step_minutes"]["finetune"] == 18.1
    assert entry["variant"]["printed_answers"][0] == {
        "question": "q0", "gold": ["g0"], "answer": "p0", "title": "T", "block_rank": 1,
    }  # fmt: skip
    assert entry["params"] == ["block_lead_names=true"] and entry["runs_per_side"] == 1


def test_an_unfinished_baseline_is_refused_by_name(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "RESULTS_DIR", str(tmp_path / "results"))
    variant = _finished_run(tmp_path / "variant", [True], [True], 1.0)
    argv = ["bench", "--name", "n", "--baseline", str(tmp_path / "nothing"), "--out", variant, "--param", "a=1"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit, match="nothing: no finished pipeline run"):
        bench_pipeline_variant.main()
