"""Every preset runs the whole pipeline (kfp.local, every step's executor) end to end on a slice of the sample,
with its own model sizes and recipe and step counts cut to 1-2. `tiny` runs in CI (tests/test_pipeline.py's local
run); `minilm` and `base` take longer than CI allows and are behind the `heavy` marker:

    python -m pytest -m heavy -n 0 tests/test_presets_end_to_end.py

`base` starts from a randomly initialised BERT-base-shaped checkpoint the test writes (no package ships BERT-base
weights), passed as init_checkpoint as a cluster user passes theirs.
"""

from __future__ import annotations

import json
import os

import pytest

from benchmarks.bench_presets import SHORT_RUN, write_question_file, write_random_bert_checkpoint
from tests.conftest import write_sample_slice


@pytest.mark.heavy
@pytest.mark.parametrize("preset", ["minilm", "base"])
def test_every_preset_runs_the_whole_pipeline(preset, tmp_path):
    from pipeline.cli import run_local
    from realm.export.saved_model import answer_locally

    dump = write_sample_slice(tmp_path / "enwiki-slice.xml.bz2", 12)
    params = {**SHORT_RUN, "questions": write_question_file(str(tmp_path / "questions.jsonl"))}
    if preset == "base":
        params["init_checkpoint"] = write_random_bert_checkpoint(str(tmp_path / "bert-base"), "base")
    summary = run_local(str(tmp_path / "out"), preset, dump, params)
    assert summary["pushed_model"], summary
    row = answer_locally(summary["pushed_model"], ["who wrote atlas shrugged"])[0]
    assert isinstance(row["answer"], str) and row["block_titles"]
    run_dir = summary["run_dir"]
    with open(os.path.join(run_dir, "warm-start-op", "executor_output.json")) as f:
        retriever = json.load(f)["artifacts"]["retriever"]["artifacts"][0]
    assert retriever["metadata"]["method"] == "ict"
    with open(os.path.join(retriever["uri"], "embedder", "config.json")) as f:
        assert json.load(f)["hidden_size"] == {"minilm": 384, "base": 768}[preset]
    with open(os.path.join(retriever["uri"], "warm_start.json")) as f:
        assert json.load(f)["bert"] == {"minilm": "minilm", "base": "init_bert"}[preset]
