"""Seconds per fine-tuning step, split into making the batch (embed the questions, search, label the blocks) and
the training step itself, for two checkouts of the repository side by side.

What the main command's fine-tuning spends its minutes on, step by step: the preset's recipe (minilm: cloze steps
of 16 corpus questions reading 1 block, then steps of 4 training questions reading 5) from a real pre-training run.
Each side is a checkout (`--side NAME=DIR`: this one, or `git worktree add DIR COMMIT` for an older commit) whose
`realm` package is timed in its own process; the sides run in interleaved rounds (A B, then B A, ...) so that the
machine's drifts fall on both alike. Per process: the model is built once, then `--steps` steps of each phase are
timed after `--warmup` untimed ones (tracing). A step is timed as the pipeline takes it: batch, then train step.

Run: python -m benchmarks.bench_finetune_step --corpus DIR --pretrain DIR --side before=/tmp/wt --side after=.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from benchmarks.common import round_order, write_results

NAME = "finetune_step"

# Runs inside each side's process, on that side's `realm`: only what every commit since 2026-12 offers.
TIMING_SCRIPT = r"""
import json, sys, time
import numpy as np
from realm.finetuning.questions import sample_questions
from realm.finetuning.trainer import FinetuneConfig, Finetuner
from realm.presets import get, model_config

corpus, pretrain, preset, out, steps, warmup = sys.argv[1:7]
steps, warmup = int(steps), int(warmup)
recipe = get(preset).recipe
config = FinetuneConfig(
    output_dir=out, data_dir=corpus, pretrain_dir=pretrain,
    model=model_config(preset, reader_seq_len=recipe.reader_seq_len, searcher_beam_size=recipe.searcher_beam_size),
    steps=recipe.finetune_steps, batch_size=recipe.finetune_batch_size, learning_rate=recipe.finetune_learning_rate,
    cloze_steps=recipe.cloze_steps, cloze_batch_size=recipe.cloze_batch_size,
    cloze_reader_beam_size=recipe.cloze_reader_beam_size, query_seq_len=recipe.question_seq_len,
    candidate_seq_len=recipe.block_max_tokens,
)
trainer = Finetuner(config, sample_questions("train"))
started = time.perf_counter()
trainer._build()
build = time.perf_counter() - started
phases = {}
for phase, first, beam in (("cloze", 0, recipe.cloze_reader_beam_size), ("questions", recipe.cloze_steps, None)):
    batch_s, step_s = [], []
    for step in range(first, first + warmup + steps):
        trainer.step.assign(step)
        t0 = time.perf_counter()
        batch = trainer.prepare_batch(trainer._batch_questions(step), beam)
        t1 = time.perf_counter()
        float(trainer.train_step(batch)["loss"])
        t2 = time.perf_counter()
        if step >= first + warmup:
            batch_s.append(t1 - t0)
            step_s.append(t2 - t1)
    phases[phase] = {"batch_seconds": batch_s, "train_step_seconds": step_s}
print("RESULT " + json.dumps({"build_seconds": build, "phases": phases}))
"""


def time_side(directory: str, args: argparse.Namespace, out: str) -> dict:
    env = {**os.environ, "PYTHONPATH": os.path.abspath(directory), "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, "-c", TIMING_SCRIPT, args.corpus, args.pretrain, args.preset, out]
    done = subprocess.run(
        [*command, str(args.steps), str(args.warmup)],
        cwd=directory,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def commit_of(directory: str) -> str:
    def git(*words: str) -> str:
        return subprocess.run(["git", *words], cwd=directory, capture_output=True, text=True).stdout.strip()

    changed = git("status", "--porcelain", "--untracked-files=no")
    return git("rev-parse", "--short", "HEAD") + ("+changes" if changed else "")


def summarise(runs: list[dict], recipe) -> dict:
    per_step = {}
    for phase, steps in (("cloze", recipe.cloze_steps), ("questions", recipe.finetune_steps)):
        batch = [s for r in runs for s in r["phases"][phase]["batch_seconds"]]
        train = [s for r in runs for s in r["phases"][phase]["train_step_seconds"]]
        total = [b + t for b, t in zip(batch, train, strict=True)]
        per_step[phase] = {
            "steps_timed": len(total),
            "median_batch_seconds": round(statistics.median(batch), 3),
            "median_train_step_seconds": round(statistics.median(train), 3),
            "median_step_seconds": round(statistics.median(total), 3),
            "mean_step_seconds": round(statistics.mean(total), 3),
            # The phase's steps in the recipe at the mean: what it costs the main command, in minutes.
            "recipe_minutes_at_mean": round(steps * statistics.mean(total) / 60, 2),
        }
    return per_step


def main() -> None:
    from realm.presets import get

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True, metavar="DIR", help="`realm preprocess` output")
    parser.add_argument("--pretrain", required=True, metavar="DIR", help="`realm pretrain` run")
    parser.add_argument("--preset", default="minilm")
    parser.add_argument("--side", action="append", required=True, metavar="NAME=DIR", help="a checkout to time")
    parser.add_argument("--rounds", type=int, default=2, help="processes per side, interleaved")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per phase and process")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per phase first (tracing)")
    parser.add_argument("--out", default="outputs/bench-finetune-step", metavar="DIR")
    parser.add_argument("--name", default=NAME, help=f"results file, benchmarks/results/NAME.json (default {NAME})")
    args = parser.parse_args()
    sides = dict(s.split("=", 1) for s in args.side)
    for name, directory in sides.items():
        if not os.path.isdir(os.path.join(directory, "realm")):
            parser.error(f"--side {name}={directory}: no realm package there (a checkout of this repository?)")
    recipe = get(args.preset).recipe
    runs: dict[str, list[dict]] = {name: [] for name in sides}
    for r in range(args.rounds):
        for name in round_order(list(sides), r):
            print(f"round {r + 1}/{args.rounds}: {name} ({sides[name]})", flush=True)
            runs[name].append(time_side(sides[name], args, os.path.join(args.out, f"{name}-{r}")))
    result = {
        "machine": {"cpus": os.cpu_count(), "load_average_after": list(os.getloadavg())},
        "preset": args.preset,
        "corpus": args.corpus,
        "pretrain": args.pretrain,
        "method": f"{args.rounds} interleaved processes per side, {args.warmup} untimed then {args.steps} timed "
        "steps per phase each",
        "sides": {
            name: {
                "directory": sides[name],
                "commit": commit_of(sides[name]),
                "build_seconds": [round(x["build_seconds"], 1) for x in runs[name]],
                **summarise(runs[name], recipe),
            }
            for name in sides
        },
    }
    print(json.dumps(result["sides"], indent=1))
    print(write_results(args.name, result))


if __name__ == "__main__":
    main()
