"""Every preset through the whole local pipeline, as a user runs it, with step counts cut to 1-2 per stage.

    python -m benchmarks.bench_presets [--presets tiny minilm base] [--pages 12]

Runs `realm pipeline run --local --preset P --input SLICE --param ...` for each preset on the first `--pages`
pages of the Wikipedia sample; `base` starts from a random BERT-base-shaped checkpoint written here (no package
ships BERT-base weights), passed with `--init-checkpoint` as a cluster user passes theirs. Records each run's
wall time, its exit code and its summary in benchmarks/results/presets.json. `--checkout DIR` runs another
checkout of the project instead, and `--full-recipe` the presets' own step counts on the sample questions: the
two together compare a preset's figures before and after a change.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from benchmarks.common import write_results

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
    """A few sample test questions: a BERT-base reader over all 103 would dominate a smoke run."""
    from realm.finetuning.questions import sample_questions

    with open(path, "w", encoding="utf-8") as f:
        for question in sample_questions("test")[:count]:
            f.write(json.dumps({"question": question.question, "answers": question.answers}) + "\n")
    return path


def run_preset(preset: str, workdir: str, pages: int, checkout: str | None, full_recipe: bool = False) -> dict:
    from tests.conftest import write_sample_slice

    dump = write_sample_slice(_path(workdir, "enwiki-slice.xml.bz2"), pages)
    params = {} if full_recipe else {**SHORT_RUN, "questions": write_question_file(f"{workdir}/questions.jsonl")}
    out_flag = "--output" if checkout else "--out"  # checkouts before 5d056e1 (the one vocabulary) say --output
    command = [sys.executable, "-m", "realm.cli", "pipeline", "run", "--local", "--preset", preset, "--input", dump,
               out_flag, os.path.join(workdir, "out")]  # fmt: skip
    if preset == "base":
        command += ["--init-checkpoint", write_random_bert_checkpoint(os.path.join(workdir, "bert-base"), preset)]
    if params:
        command += ["--param", *(f"{k}={v}" for k, v in params.items())]
    env = {**os.environ, **({"PYTHONPATH": checkout} if checkout else {})}
    started = time.time()
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=checkout or None)
    minutes = round((time.time() - started) / 60, 2)
    summary = _printed_summary(result.stdout)
    failure = None
    if result.returncode:  # the failed step's own log (the task's traceback) is in the middle of the output
        printed = result.stdout + result.stderr
        at = max(printed.rfind("Traceback (most recent call last)"), 0)
        failure = printed[at : at + 4000]
        print(failure, file=sys.stderr)
    stages = _last_logged_metrics(summary["run_dir"]) if summary else {}
    return {
        "command": " ".join(command),
        "exit_code": result.returncode,
        "minutes": minutes,
        "summary": summary,
        "last_logged": stages,
        **({"failure": failure} if failure else {}),
    }


def _last_logged_metrics(run_dir: str) -> dict:
    """Each training step's last logged metrics (loss and co.), to compare two runs beyond their final figures."""
    import glob

    last = {}
    for path in sorted(glob.glob(os.path.join(run_dir, "*-op", "*", "metrics.jsonl"))):
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        if lines:
            step = os.path.relpath(os.path.dirname(os.path.dirname(path)), run_dir)
            timings = ("per_second", "seconds")  # differ from run to run by nature
            last[step] = {k: v for k, v in json.loads(lines[-1]).items() if not any(t in k for t in timings)}
    return last


def _printed_summary(printed: str) -> dict | None:
    """The JSON summary `realm pipeline run` prints (its first line is a lone `{`), else None."""
    start = printed.find("{\n") if printed.startswith("{\n") else printed.find("\n{\n") + 1
    if start <= 0 and not printed.startswith("{\n"):
        return None
    return json.JSONDecoder().raw_decode(printed[start:])[0]


def _path(directory: str, name: str):
    from pathlib import Path

    return Path(directory) / name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["tiny", "minilm", "base"])
    parser.add_argument("--pages", type=int, default=12, help="pages of the sample in the corpus slice")
    parser.add_argument("--checkout", help="another checkout of the project to run instead of this one")
    parser.add_argument("--name", default="presets", help="result file name under benchmarks/results/")
    parser.add_argument(
        "--full-recipe", action="store_true", help="the preset's own step counts and the sample questions"
    )
    args = parser.parse_args()
    runs = {}
    for preset in args.presets:
        with tempfile.TemporaryDirectory(prefix=f"realm-preset-{preset}-") as workdir:
            runs[preset] = run_preset(preset, workdir, args.pages, args.checkout, args.full_recipe)
        print(preset, json.dumps({k: runs[preset][k] for k in ("exit_code", "minutes")}), flush=True)
    recipe = "the presets' own" if args.full_recipe else SHORT_RUN
    print(write_results(args.name, {"pages": args.pages, "checkout": args.checkout, "recipe": recipe, "runs": runs}))


if __name__ == "__main__":
    main()
