"""Answer recall@k of fine-tuned models' dense retrieval against dense + w * BM25 (realm.retrieval.lexical).

Each model (a `realm finetune` run directory) ranks every block for the split's questions by its own dense score
and by `dense + w * BM25` at each weight, the BM25 index built from its block records and titles exactly as a
model with `retrieval_lexical_weight` builds it; BM25 alone is recorded too. Recall@k (an answer string in one of
the first k blocks) is averaged over the models, and each weight's difference from dense is paired question by
question with its standard error. Only retrieval: what the reader then makes of it is bench_span_rules's
(`--key retrieval_lexical_weight`). Results go to benchmarks/results/lexical_retrieval.json.

Run: python -m benchmarks.bench_lexical_retrieval --runs DIR [DIR ...] [--weights 0.1 0.3 1] [--split dev]
[--against W] [--label NAME]   (--against 0.3: every side paired with dense + 0.3 * BM25 instead of dense alone;
--label: the key the result is stored under, the split's name by default)
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from benchmarks.bench_span_rules import run_labels
from benchmarks.common import read_results, write_results
from benchmarks.compare_reader import average_outcomes, paired_difference

NAME = "lexical_retrieval"
KS = (1, 5, 20, 100)


def recall_outcomes(scores: np.ndarray, hits: np.ndarray, questions: list[str]) -> dict[str, tuple[float, ...]]:
    """Per question, 1.0 or 0.0 for each k: whether an answer is in the k best-scored blocks."""
    order = np.argsort(-scores, axis=1, kind="stable")
    return {q: tuple(float(hits[i, order[i, :k]].any()) for k in KS) for i, q in enumerate(questions)}


def model_outcomes(run_dir: str, split: str, weights: list[float]) -> dict[str, dict]:
    """One model's per-question recall outcomes for dense, BM25 alone and each weight."""
    import tensorflow as tf

    from realm.evaluation.answers import answer_in_text
    from realm.finetuning.questions import sample_questions
    from realm.pretrained import BLOCK_TITLES_NAME, from_pretrained, load_block_titles
    from realm.retrieval.lexical import LexicalIndex

    final = os.path.join(run_dir, "final")
    model = from_pretrained(final)
    records = model.block_records.numpy()
    titles = load_block_titles(os.path.join(final, BLOCK_TITLES_NAME), len(records))
    index = LexicalIndex.build(records, titles).variables()
    questions = sample_questions(split)
    texts = [q.question for q in questions]
    dense = tf.matmul(model.retrieve(tf.constant(texts))[0], model.block_emb, transpose_b=True).numpy()
    lexical = index.scores(tf.constant(texts)).numpy()
    decoded = [r.decode() for r in records]
    hits = np.array([[answer_in_text(t, q.answers, regex=q.regex) for t in decoded] for q in questions])
    sides = {"dense": dense, "bm25": lexical, **{f"dense + {w} * bm25": dense + w * lexical for w in weights}}
    return {side: recall_outcomes(scores, hits, texts) for side, scores in sides.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", required=True, metavar="DIR", help="`realm finetune` run directories")
    parser.add_argument("--weights", nargs="+", type=float, default=[0.1, 0.3, 1.0])
    parser.add_argument("--split", default="dev")
    parser.add_argument("--against", type=float, help="the weight every side is paired with (default: dense alone)")
    parser.add_argument("--label", help="the key the result is stored under (default: the split)")
    args = parser.parse_args()
    if args.against is not None and args.against not in args.weights:
        parser.error(f"--against {args.against} must be one of --weights {args.weights}")

    per_model = [model_outcomes(run, args.split, args.weights) for run in args.runs]
    sides = list(per_model[0])
    averaged = {side: average_outcomes([m[side] for m in per_model]) for side in sides}
    baseline = "dense" if args.against is None else f"dense + {args.against} * bm25"
    result = {
        "command": " ".join(["python -m benchmarks.bench_lexical_retrieval", *sys.argv[1:]]),
        "models": run_labels(args.runs),
        "paired_with": baseline,
        "recall": {
            side: {f"recall@{k}": paired_difference(averaged[baseline], averaged[side], i) for i, k in enumerate(KS)}
            for side in sides
        },
    }
    for side in sides:
        print(
            side,
            {k: f"{v['b']:.3f} ({v['b_minus_a']:+.3f} ± {v['se']:.3f})" for k, v in result["recall"][side].items()},
        )
    results = read_results(NAME)
    results[args.label or args.split] = result
    print("written to", write_results(NAME, results))


if __name__ == "__main__":
    main()
