"""Float16 block embeddings in the export: memory saved and the change in retrieval recall and EM.

Exports a fine-tuned model twice (float32 and float16 corpus embeddings), then answers the sample test questions
with both SavedModels: size of the variables on disk, recall at the reader beam (an answer in the returned blocks),
exact match, and how often the two return the same blocks.

Run: python -m benchmarks.bench_half_precision --model outputs/finetune/final
"""

from __future__ import annotations

import argparse
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.common import write_results


def _size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def main() -> None:
    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    from realm.evaluation.answers import answer_in_text, exact_match
    from realm.export.saved_model import export_saved_model
    from realm.finetuning.questions import sample_questions
    from realm.pretrained import from_pretrained

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a fine-tuned model directory (`realm finetune` final/)")
    parser.add_argument("--split", default="test")
    args = parser.parse_args()
    questions = sample_questions(args.split)
    records = from_pretrained(args.model, architecture="RealmForOpenQA").block_records.numpy()
    results = {}
    block_ids = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, half in (("float32", False), ("float16", True)):
            path = export_saved_model(args.model, tmp, name, 1, half_precision=half, hub_embedder=False)
            serve = tf.saved_model.load(path).signatures["serving_default"]
            hits, correct, ids = [], [], []
            for start in range(0, len(questions), 16):
                batch = questions[start : start + 16]
                out = serve(question=tf.constant([q.question for q in batch]))
                for q, answer, row in zip(batch, out["answer"].numpy(), out["block_ids"].numpy(), strict=True):
                    hits.append(any(answer_in_text(records[i].decode(), q.answers) for i in row))
                    correct.append(exact_match(answer.decode(), q.answers))
                    ids.append(row.tolist())
            block_ids[name] = ids
            results[name] = {
                "variables_mb": _size(os.path.join(path, "variables")) / 1e6,
                "recall_at_reader_beam": float(np.mean(hits)),
                "exact_match": float(np.mean(correct)),
            }
    results["same_blocks_fraction"] = float(
        np.mean([a == b for a, b in zip(block_ids["float32"], block_ids["float16"], strict=True)])
    )
    results["questions"] = len(questions)
    print(results)
    print("results:", write_results("half_precision", results))


if __name__ == "__main__":
    main()
