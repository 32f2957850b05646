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
import shutil

import pytest

from tests.conftest import write_sample_slice

SHORT_RUN = {
    "ict_steps": 2, "ict_batch_size": 2, "pretrain_steps": 2, "pretrain_batch_size": 1, "refresh_every": 1,
    "mlm_head_fit_steps": 1, "mlm_warmup_steps": 1, "finetune_steps": 2, "finetune_batch_size": 1, "num_shards": 1,
    "searcher_beam_size": 8,
}  # fmt: skip


def write_random_bert_checkpoint(directory: str, preset: str) -> str:
    """A HF-layout BERT directory (config.json, model.safetensors, vocab.txt) shaped like the preset's model, with
    random weights: what `init_checkpoint` reads from a real BERT-base download."""
    from realm.checkpoints.loading import extract_state_dict
    from realm.checkpoints.state_dict import write_safetensors
    from realm.modeling.models import RealmKnowledgeAugEncoder
    from realm.presets import model_config
    from realm.resources import default_vocab_file

    config = model_config(preset)
    encoder = RealmKnowledgeAugEncoder(config).build_for_inference()
    os.makedirs(directory, exist_ok=True)
    fields = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
              "hidden_act", "max_position_embeddings", "type_vocab_size", "layer_norm_eps")  # fmt: skip
    with open(os.path.join(directory, "config.json"), "w", encoding="utf-8") as f:
        json.dump({"model_type": "bert", **{k: getattr(config, k) for k in fields}}, f, indent=2)
    write_safetensors(extract_state_dict(encoder), os.path.join(directory, "model.safetensors"))
    shutil.copy(default_vocab_file(), os.path.join(directory, "vocab.txt"))
    return directory


def write_question_file(path: str, count: int = 4) -> str:
    """A few sample questions: the evaluation of a BERT-base reader over all 103 would dominate the run."""
    from realm.finetuning.questions import sample_questions

    with open(path, "w", encoding="utf-8") as f:
        for question in sample_questions("test")[:count]:
            f.write(json.dumps({"question": question.question, "answers": question.answers}) + "\n")
    return path


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
