"""What a printed answer's probability means: how often answers given with a probability in a range are right.

The served model and `realm evaluate` give each answer's probability (the softmax the prediction ranks every span of
every block read by, a text's spans summed; docs/serving.md). A user deciding whether to trust or show an answer
needs to know how that number relates to being right. Each fine-tuned model is evaluated on the split with the
code as it is (so older runs' recorded predictions, made before probabilities existed, are not reused), and the
answers are pooled into probability bins: per bin the answers, how many were right, and that share with its
binomial standard error. Results merge into benchmarks/results/calibration.json, keyed by split and models.

Run: python -m benchmarks.bench_calibration --runs DIR [DIR ...] [--split dev] [--bins 0 0.1 0.2 0.3 0.5 1]
[--set KEY=JSON ...]   (--set: config.json settings the models are evaluated with, e.g. reader_beam_size=20 for
models saved before the default changed; recorded in the results key)
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
import tempfile

from benchmarks.bench_span_rules import evaluate, model_with_settings, run_labels
from benchmarks.common import read_results, write_results

NAME = "calibration"


def answer_probability(prediction: dict) -> float:
    """The probability the answer was given with: the first of its candidates (the answer heads the list)."""
    candidates = prediction.get("answer_candidates") or []
    if not candidates:
        raise ValueError(f"no answer_candidates in the prediction for {prediction['question']!r}: evaluate anew")
    return float(candidates[0]["probability"])


def calibration_table(predictions: list[dict], edges: list[float]) -> list[dict]:
    """Answers pooled into [edges[i], edges[i+1]) bins (the last one closed): answers, right, share right ± se."""
    given = [(answer_probability(p), p) for p in predictions]
    rows = []
    for i, (low, high) in enumerate(itertools.pairwise(edges)):
        last = i == len(edges) - 2
        inside = [p for probability, p in given if low <= probability < high or (last and probability == high)]
        right = sum(bool(p["correct"]) for p in inside)
        share = right / len(inside) if inside else None
        rows.append(
            {
                "probability": f"[{low:g}, {high:g}{']' if last else ')'}",
                "answers": len(inside),
                "right": right,
                "share_right": round(share, 4) if share is not None else None,
                "se": round(math.sqrt(share * (1 - share) / len(inside)), 4) if inside else None,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", required=True, metavar="DIR", help="`realm finetune` run directories")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--bins", nargs="+", type=float, default=[0.0, 0.1, 0.2, 0.3, 0.5, 1.0], metavar="EDGE")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=JSON", help="config.json settings used")
    args = parser.parse_args()
    settings = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    if args.bins != sorted(args.bins) or len(args.bins) < 2:
        parser.error("--bins takes at least two edges, in increasing order")

    pooled, models = [], {}
    with tempfile.TemporaryDirectory(prefix="realm-calibration-") as workdir:
        for run_dir, name in zip(args.runs, run_labels(args.runs), strict=True):
            print(f"{name}: evaluating {args.split}", flush=True)
            model = os.path.join(run_dir, "final")
            if settings:
                model = model_with_settings(model, settings, os.path.join(workdir, f"model-{len(models)}"))
            predictions = evaluate(model, args.split, os.path.join(workdir, str(len(models))))
            pooled += predictions
            right = sum(bool(p["correct"]) for p in predictions)
            models[name] = {"questions": len(predictions), "exact_match": round(right / len(predictions), 4)}
    table = calibration_table(pooled, args.bins)
    results = read_results(NAME) or {}
    key = f"{args.split}: " + ", ".join(models) + "".join(f", {k}={json.dumps(v)}" for k, v in sorted(settings.items()))
    results[key] = {
        "command": " ".join(["python -m benchmarks.bench_calibration", *sys.argv[1:]]),
        "models": models,
        "settings": settings,
        "answers": len(pooled),
        "bins": table,
    }
    path = write_results(NAME, results)
    for row in table:
        share = "-" if row["share_right"] is None else f"{100 * row['share_right']:.1f}% ± {100 * row['se']:.1f}"
        print(f"  p {row['probability']}: {row['answers']} answers, right {share}")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
