"""A change that reaches back before fine-tuning (the corpus, the warm start, pre-training) measured on whole
pipeline runs: a baseline run against a run with pipeline parameters changed, question by question on the dev split.

`benchmarks.bench_reader` holds one pre-training run fixed and varies fine-tuning; a corpus or pre-training change
needs the whole DAG again. This runs `realm pipeline run --local --param ...` into `--out` (or reuses a finished
run there), evaluates both runs' fine-tuned models on `--split` (dev decides), pairs each question's outcome
(`benchmarks.compare_reader.paired_difference`) and records, for each run: its parameters, each step's minutes
(from its console), the evaluation step's test metrics (reported, not used to decide) and the first three test
questions' answers, which the main command prints. One run per side: the difference mixes the change with how
that run's pre-training happened to go, and the record says so (`runs_per_side`). Results merge into
benchmarks/results/pipeline_variants.json, keyed by `--name`.

Run: python -m benchmarks.bench_pipeline_variant --name NAME --baseline OUT_DIR --out OUT_DIR \\
    --param NAME=JSON [...] [--baseline-console FILE]
(e.g. the baseline `benchmarks.bench_main_command`'s run: --baseline /tmp/realm-main-command/clone/outputs/pipeline
--baseline-console /tmp/realm-main-command/run.log --out /tmp/pipe-leadnames --param block_lead_names=true)
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys

from benchmarks.bench_main_command import _step_minutes
from benchmarks.bench_reader import run_realm
from benchmarks.common import read_results, write_results
from benchmarks.compare_reader import outcomes, paired_difference, prediction_outcomes

NAME = "pipeline_variants"
PRINTED_QUESTIONS = 3  # the main command prints the pushed model's answers to the first three test questions


def run_dir(out_dir: str) -> str:
    """The newest finished run under a `realm pipeline run --out` directory (its pipeline_root/<run>)."""
    runs = sorted(glob.glob(os.path.join(out_dir, "pipeline_root", "*", "evaluate-op", "evaluation", "metrics.json")))
    if not runs:
        raise SystemExit(f"{out_dir}: no finished pipeline run (pipeline_root/*/evaluate-op/evaluation/metrics.json)")
    return os.path.dirname(os.path.dirname(os.path.dirname(runs[-1])))


def step_minutes(console_log: str) -> dict[str, float]:
    """Each step's minutes as the run's console reported them (`realm pipeline run`'s standard output)."""
    with open(console_log, encoding="utf-8") as f:
        return _step_minutes(f.read())


def run_record(out_dir: str, split: str, console_log: str) -> dict:
    """One run: its parameters, step minutes, test metrics and printed answers, with its model evaluated on `split`
    into <out_dir>/eval-<split> (kept: evaluated once)."""
    run = run_dir(out_dir)
    with open(os.path.join(run, "evaluate-op", "evaluation", "metrics.json"), encoding="utf-8") as f:
        test = json.load(f)
    with open(os.path.join(run, "evaluate-op", "evaluation", "predictions.jsonl"), encoding="utf-8") as f:
        printed = [json.loads(line) for _, line in zip(range(PRINTED_QUESTIONS), f, strict=False)]
    if not os.path.exists(os.path.join(out_dir, f"eval-{split}", "predictions.jsonl")):
        model = os.path.join(run, "finetune-op", "model", "final")
        run_realm("evaluate", "--model", model, "--questions", "sample", "--split", split, "--out",
                  os.path.join(out_dir, f"eval-{split}"))  # fmt: skip
    with open(os.path.join(out_dir, f"eval-{split}", "metrics.json"), encoding="utf-8") as f:
        evaluated = json.load(f)
    with open(os.path.join(run, "preprocess-op", "corpus", "stats.json"), encoding="utf-8") as f:
        corpus = json.load(f)
    return {
        "out": out_dir,
        "run": os.path.basename(run),
        "step_minutes": step_minutes(console_log),
        "blocks": corpus["blocks"],
        split: {k: evaluated[k] for k in ("questions", "exact_match", "recall@5", "recall@20", "recall@100")},
        "test": {k: test[k] for k in ("questions", "exact_match", "recall@5", "recall@20", "recall@100")},
        "printed_answers": [
            {
                "question": p["question"],
                "gold": p["gold"],
                "answer": p["predicted_answer"],
                "title": p.get("predicted_title"),
                "block_rank": p.get("predicted_block_rank"),
            }
            for p in printed
        ],
    }


def test_outcomes(out_dir: str) -> dict[str, tuple[float, float]]:
    """question -> (exact match, answer in the top 5 blocks) from the run's own evaluation step (the test split)."""
    return prediction_outcomes(os.path.join(run_dir(out_dir), "evaluate-op", "evaluation", "predictions.jsonl"))


def run_variant(out_dir: str, params: list[str]) -> None:
    """`realm pipeline run --local` with the changed parameters, unless `out_dir` holds a finished run."""
    try:
        run_dir(out_dir)
        print(f"reusing the finished run in {out_dir}")
        return
    except SystemExit:
        pass
    os.makedirs(out_dir, exist_ok=True)
    command = [sys.executable, "-m", "realm.cli", "pipeline", "run", "--local", "--out", out_dir, "--param", *params]
    with open(os.path.join(out_dir, "console.log"), "w", encoding="utf-8") as console:
        subprocess.run(command, check=True, stdout=console, stderr=subprocess.STDOUT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="the comparison's key in the results file")
    parser.add_argument("--baseline", required=True, metavar="OUT_DIR", help="a finished `realm pipeline run --out`")
    parser.add_argument("--baseline-console", metavar="FILE", help="its console (default: OUT_DIR/console.log)")
    parser.add_argument("--out", required=True, metavar="OUT_DIR", help="the variant's run (made unless finished)")
    parser.add_argument("--param", nargs="+", required=True, metavar="NAME=JSON", help="what the variant changes")
    parser.add_argument("--split", default="dev", choices=("dev",), help="the split that decides")
    args = parser.parse_args()

    run_variant(args.out, args.param)
    baseline_console = args.baseline_console or os.path.join(args.baseline, "console.log")
    baseline = run_record(args.baseline, args.split, baseline_console)
    variant = run_record(args.out, args.split, os.path.join(args.out, "console.log"))
    a, b = outcomes(args.baseline, args.split), outcomes(args.out, args.split)
    entry = {
        "params": args.param,
        "runs_per_side": 1,
        "baseline": baseline,
        "variant": variant,
        args.split: {"exact_match": paired_difference(a, b, 0), "answer_recall@5": paired_difference(a, b, 1)},
    }
    a, b = test_outcomes(args.baseline), test_outcomes(args.out)  # reported once, never used to decide
    entry["test"] = {"exact_match": paired_difference(a, b, 0), "answer_recall@5": paired_difference(a, b, 1)}
    results = read_results(NAME) or {"comparisons": {}}
    results["comparisons"][args.name] = entry
    print(json.dumps(entry, indent=2))
    print(f"-> {write_results(NAME, results)}")


if __name__ == "__main__":
    main()
