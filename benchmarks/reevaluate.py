"""Fine-tuned models evaluated again with other inference settings, laid out as `benchmarks.bench_reader` lays out
its runs, so `benchmarks.compare_reader --out DIR` can pair them with runs evaluated under those settings.

A model fine-tuned before an inference setting existed (the answer-type rule, the relevance weight) was evaluated
without it; a new recipe's runs are evaluated with it. Comparing the two recipes fairly needs the old runs'
predictions under the new settings: each run's `final/` is linked with a config.json that differs only in the
settings (`benchmarks.bench_span_rules.model_with_settings`) and evaluated into DIR/<run>/eval-<split>, <run> being
the shortest trailing part of its path that tells it from the other runs (`bench_span_rules.run_labels`).
A run directory that holds eval-<split> already is left as it is.

Run: python -m benchmarks.reevaluate --runs DIR [DIR ...] --out DIR --set KEY=JSON [KEY=JSON ...] [--split dev]
(e.g. --set answer_type_rules=true reader_relevance_weight=0.5)
"""

from __future__ import annotations

import argparse
import json
import os

from benchmarks.bench_span_rules import evaluate, model_with_settings, run_labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", required=True, metavar="DIR", help="`realm finetune` run directories")
    parser.add_argument("--out", required=True, metavar="DIR", help="where DIR/<run>/eval-<split> go")
    parser.add_argument("--set", nargs="+", required=True, metavar="KEY=JSON", help="the inference settings")
    parser.add_argument("--split", default="dev")
    args = parser.parse_args()
    settings = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    for run_dir, name in zip(args.runs, run_labels(args.runs), strict=True):
        target = os.path.join(args.out, name)
        if os.path.exists(os.path.join(target, f"eval-{args.split}", "predictions.jsonl")):
            print(f"{name}: eval-{args.split} already there, kept")
            continue
        model = os.path.join(target, "final")
        if not os.path.exists(model):
            model_with_settings(os.path.join(run_dir, "final"), settings, model)
        predictions = evaluate(model, args.split, os.path.join(target, f"eval-{args.split}"))
        right = sum(p["correct"] for p in predictions)
        print(f"{name}: {args.split} EM {right / len(predictions):.3f} with {settings}; in {target}", flush=True)


if __name__ == "__main__":
    main()
