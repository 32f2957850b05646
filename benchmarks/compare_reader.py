"""Two fine-tuning recipes compared question by question: the paired difference in exact match and in answer
recall@5, with its standard error, on each split.

Two runs of the ablation differ partly by which questions they happen to get right; comparing each question's
outcome under both recipes (averaged over the runs, e.g. seeds, that each recipe has) removes the share of that
noise the two have in common, so the difference's standard error is smaller than either run's own. Reads the
`predictions.jsonl` that `benchmarks.bench_reader` leaves in each variant's `eval-<split>` directory and writes
benchmarks/results/reader_paired.json, keyed by comparison name.

Run: python -m benchmarks.compare_reader --name NAME --a KEY [KEY ...] --b KEY [KEY ...] [--out DIR]
(KEYs are variant keys of benchmarks/results/reader_ablation.json, e.g. cloze300_b16_beam1_seed1@ict150_refresh50)
"""

from __future__ import annotations

import argparse
import json
import math
import os

from benchmarks.common import read_results, write_results

NAME = "reader_paired"
SPLITS = ("dev", "test")


def outcomes(run_dir: str, split: str) -> dict[str, tuple[float, float]]:
    """question -> (exact match, answer in the top 5 blocks) of one fine-tuned model on one split."""
    return prediction_outcomes(os.path.join(run_dir, f"eval-{split}", "predictions.jsonl"))


def prediction_outcomes(path: str) -> dict[str, tuple[float, float]]:
    """question -> (exact match, answer in the top 5 blocks) from one `realm evaluate` predictions.jsonl."""
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return {r["question"]: (float(r["correct"]), float(answer_in_top_five(r, path))) for r in rows}


def answer_in_top_five(row: dict, path: str) -> bool:
    """Recall@5 of one prediction. Predictions made before `answer_rank` was recorded only say whether an answer
    was in the blocks the reader read: that is recall@5 where the reader read 5, and nothing usable otherwise."""
    if "answer_rank" in row:
        return row["answer_rank"] is not None and row["answer_rank"] <= 5
    read = len(row.get("retrieved_block_ids", ()))
    if read != 5:
        raise ValueError(
            f"{path}: predictions without answer_rank from a reader that read {read} blocks give no recall@5; "
            "evaluate the model again (realm evaluate)"
        )
    return bool(row["answer_in_top_blocks"])


def mean_outcomes(run_dirs: list[str], split: str) -> dict[str, tuple[float, float]]:
    """Each question's outcomes averaged over a recipe's runs; the runs must have answered the same questions."""
    return average_outcomes([outcomes(d, split) for d in run_dirs], f"{split}: the runs {run_dirs}")


def average_outcomes(runs: list[dict[str, tuple[float, ...]]], what: str = "the runs") -> dict[str, tuple[float, ...]]:
    """Each question's outcome tuple averaged over runs that answered the same questions."""
    questions = set(runs[0])
    if any(set(r) != questions for r in runs):
        raise ValueError(f"{what} did not answer the same questions")
    width = len(next(iter(runs[0].values())))
    return {q: tuple(sum(r[q][i] for r in runs) / len(runs) for i in range(width)) for q in questions}


def paired_difference(a: dict, b: dict, index: int) -> dict:
    """Mean of b - a over the questions both answered, its standard error, and each side's mean."""
    questions = sorted(set(a) & set(b))
    if not questions:
        raise ValueError("no question in common")
    diffs = [b[q][index] - a[q][index] for q in questions]
    n = len(diffs)
    mean = sum(diffs) / n
    variance = sum((d - mean) ** 2 for d in diffs) / (n - 1) if n > 1 else 0.0
    return {
        "questions": n,
        "a": round(sum(a[q][index] for q in questions) / n, 4),
        "b": round(sum(b[q][index] for q in questions) / n, 4),
        "b_minus_a": round(mean, 4),
        "se": round(math.sqrt(variance / n), 4),
    }


def compare(a_dirs: list[str], b_dirs: list[str]) -> dict:
    result = {}
    for split in SPLITS:
        if not all(os.path.exists(os.path.join(d, f"eval-{split}")) for d in a_dirs + b_dirs):
            continue
        a, b = mean_outcomes(a_dirs, split), mean_outcomes(b_dirs, split)
        result[split] = {
            "exact_match": paired_difference(a, b, 0),
            "answer_recall@5": paired_difference(a, b, 1),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="the comparison's key in the results file")
    parser.add_argument("--a", nargs="+", required=True, metavar="KEY", help="the first recipe's variant keys")
    parser.add_argument("--b", nargs="+", required=True, metavar="KEY", help="the second recipe's variant keys")
    parser.add_argument("--out", default="outputs/bench-reader", metavar="DIR", help="bench_reader's --out")
    args = parser.parse_args()

    compared = compare([os.path.join(args.out, k) for k in args.a], [os.path.join(args.out, k) for k in args.b])
    if not compared:
        parser.error(f"no split was evaluated by every run under --out {args.out} (eval-dev/ or eval-test/ missing)")
    print(json.dumps(compared, indent=1))
    results = read_results(NAME)
    results.setdefault("comparisons", {})[args.name] = {"a": args.a, "b": args.b, **compared}
    print(write_results(NAME, results))


if __name__ == "__main__":
    main()
