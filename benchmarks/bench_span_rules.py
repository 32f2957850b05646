"""Inference-time settings measured on fine-tuned models: each model evaluated with a setting at two values.

The span rules of `realm.modeling.span_rules` (the answer-type rule: numbers for "how many" / "when", names for
"who" / "where") and the weight of the retrieval score in the reader's span scores change only which span
inference picks, never training, so their effect is measured on models already fine-tuned (the reader
ablation's variants, `benchmarks.bench_reader --out DIR`): each is evaluated on the split with the config key
at value A and at value B, by copies of its `final/` whose config.json differ only there (and in the `--both`
settings, applied to both). The paired difference over each question's outcome, averaged over the models, is
what decides; per model the exact match either way and the answers that changed. Results merge into
benchmarks/results/span_rules.json, keyed by the comparison.

Run: python -m benchmarks.bench_span_rules --runs DIR [DIR ...] --key KEY --a JSON --b JSON [--both KEY=JSON ...]
[--split dev] [--questions FILE]   (e.g. --key answer_type_rules --a false --b true)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

from benchmarks.bench_reader import run_realm
from benchmarks.common import read_results, write_results
from benchmarks.compare_reader import average_outcomes, paired_difference

NAME = "span_rules"


def model_with_settings(final_dir: str, settings: dict, target: str) -> str:
    """A directory that is `final_dir` but for `settings` in config.json (the weights are linked, not copied)."""
    os.makedirs(target)
    for name in os.listdir(final_dir):
        if name != "config.json":
            os.symlink(os.path.abspath(os.path.join(final_dir, name)), os.path.join(target, name))
    with open(os.path.join(final_dir, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    config.update(settings)
    with open(os.path.join(target, "config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
    return target


def evaluate(model_dir: str, split: str, out: str, questions: str = "sample") -> list[dict]:
    """`realm evaluate` of one model on a question file's split (the sample questions' by default): its predictions."""
    run_realm("evaluate", "--model", model_dir, "--questions", questions, "--split", split, "--out", out)
    with open(os.path.join(out, "predictions.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def measure(run_dir: str, settings_a: dict, settings_b: dict, split: str, questions: str = "sample") -> dict:
    """One fine-tuned model (a `realm finetune` run directory) with settings A and B."""
    with tempfile.TemporaryDirectory(prefix="realm-span-rules-") as workdir:
        runs = []
        for side, settings in (("a", settings_a), ("b", settings_b)):
            model = model_with_settings(os.path.join(run_dir, "final"), settings, os.path.join(workdir, side))
            runs.append(evaluate(model, split, os.path.join(workdir, f"eval-{side}"), questions))
    side_a, side_b = runs
    changed = [
        {"question": a["question"], "gold": a["gold"], "a": a["predicted_answer"], "b": b["predicted_answer"]}
        for a, b in zip(side_a, side_b, strict=True)
        if a["predicted_answer"] != b["predicted_answer"]
    ]
    return {
        "a": {r["question"]: (float(r["correct"]),) for r in side_a},
        "b": {r["question"]: (float(r["correct"]),) for r in side_b},
        "changed": changed,
    }


def run_labels(run_dirs: list[str]) -> list[str]:
    """Each run's shortest trailing path that no other run shares: pipeline runs all end in finetune-op/model."""
    parts = [os.path.normpath(d).split(os.sep) for d in run_dirs]
    labels = []
    for mine in parts:
        depth = 1
        while depth < len(mine) and sum(p[-depth:] == mine[-depth:] for p in parts) > 1:
            depth += 1
        labels.append("/".join(mine[-depth:]))
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", required=True, metavar="DIR", help="`realm finetune` run directories")
    parser.add_argument("--key", required=True, help="the setting's key in config.json (RealmConfig.extra)")
    parser.add_argument("--a", required=True, type=json.loads, help="its value on side A (JSON)")
    parser.add_argument("--b", required=True, type=json.loads, help="its value on side B (JSON)")
    parser.add_argument("--both", nargs="*", default=[], metavar="KEY=JSON", help="settings of both sides")
    parser.add_argument("--split", default="dev")
    parser.add_argument(
        "--questions", default="sample", help="a question file (e.g. benchmarks/data/measure_questions.jsonl)"
    )
    args = parser.parse_args()
    both = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.both)}
    comparison = f"{args.key}: {json.dumps(args.a)} -> {json.dumps(args.b)}" + "".join(
        f", {k}={json.dumps(v)}" for k, v in sorted(both.items())
    )
    # The sample's splits keep their plain names ("@dev"); another file's are named by the file.
    questions_label = args.split if args.questions == "sample" else f"{os.path.basename(args.questions)}:{args.split}"

    models, a_runs, b_runs = {}, [], []
    for run_dir, name in zip(args.runs, run_labels(args.runs), strict=True):
        print(f"{name}: evaluating {questions_label}, {comparison}", flush=True)
        result = measure(run_dir, {**both, args.key: args.a}, {**both, args.key: args.b}, args.split, args.questions)
        a_runs.append(result["a"])
        b_runs.append(result["b"])
        n = len(result["a"])
        models[name] = {
            "exact_match_a": round(sum(c for (c,) in result["a"].values()) / n, 4),
            "exact_match_b": round(sum(c for (c,) in result["b"].values()) / n, 4),
            "answers_changed": len(result["changed"]),
            "changed": result["changed"],
        }
        print(
            f"  EM {models[name]['exact_match_a']:.3f} -> {models[name]['exact_match_b']:.3f}, "
            f"{len(result['changed'])} answers changed",
            flush=True,
        )

    results = read_results(NAME) or {}
    results[f"{comparison} @{questions_label}"] = {
        "command": " ".join(["python -m benchmarks.bench_span_rules", *sys.argv[1:]]),
        "models": models,
        "paired_exact_match": paired_difference(average_outcomes(a_runs), average_outcomes(b_runs), 0),
    }
    path = write_results(NAME, results)
    paired = results[f"{comparison} @{questions_label}"]["paired_exact_match"]
    print(
        f"paired over {paired['questions']} questions and {len(models)} models: EM {paired['a']:.3f} -> "
        f"{paired['b']:.3f} ({paired['b_minus_a']:+.3f} ± {paired['se']:.3f}); written to {path}"
    )


if __name__ == "__main__":
    main()
