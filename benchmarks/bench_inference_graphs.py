"""What tracing and XLA buy the two forward-only passes of the main command: the refresh sidecar embedding the corpus,
and the evaluate step answering questions.

Training steps gained nothing from XLA on an AVX-512 host (`xla.json`), and on an AVX2-only one a fine-tuning step
neither (an uncommitted probe, docs/finetuning.md); forward passes are another matter, measured here.
- embed: `realm.pretraining.refresh.embed_corpus` over the first `--blocks` blocks of a real corpus, the preset's
  embedder warm-started as the pipeline's is (MiniLM for `minilm`), at the preset's block length and the sidecar's
  batch, traced (`tf.function`) against compiled with XLA (`jit_compile=True`). Each side's first call (tracing,
  compiling) is timed apart from the interleaved rounds after it.
- answer (with `--model`, a fine-tuned `final/` directory): the first `--questions` test questions of the sample
  in batches of 8, the model called eagerly (as `realm.evaluation.openqa.evaluate_model` did before 2026-12-07)
  against one traced `tf.function` (as it does now), with whether both gave the same answers.

Run: python -m benchmarks.bench_inference_graphs --corpus DIR [--model DIR] [--preset minilm]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from benchmarks.bench_refresh import FirstBlocks, warm_started_embedder
from benchmarks.common import interleaved, ratio_of_medians, timing_record, write_results

NAME = "inference_graphs"


def time_embedding(corpus: str, preset: str, blocks_wanted: int, rounds: int) -> dict:
    import tempfile

    from realm.data.block_store import BlockStore
    from realm.presets import get
    from realm.pretraining.config import PretrainConfig
    from realm.pretraining.refresh import embed_corpus

    batch = PretrainConfig.refresh_batch_size  # what the sidecar embeds at
    seq_len = get(preset).recipe.block_max_tokens
    store = BlockStore.open(corpus)
    blocks = FirstBlocks(store, min(blocks_wanted, len(store)))
    with tempfile.TemporaryDirectory(prefix="bench-inference-") as workdir:
        embedder = warm_started_embedder(preset, workdir)
    calls = {
        side: (lambda jit=jit: embed_corpus(embedder, blocks, batch, seq_len, jit_compile=jit))
        for side, jit in (("traced", False), ("xla", True))
    }
    first, outputs = {}, {}
    for side, call in calls.items():
        started = time.perf_counter()
        outputs[side] = call()
        first[side] = time.perf_counter() - started
    durations = interleaved(calls, rounds=rounds, warmup=0)
    return {
        "blocks": len(blocks),
        "block_seq_len": seq_len,
        "batch_size": batch,
        "first_call_seconds": {k: round(v, 2) for k, v in first.items()},
        "blocks_per_second_at_median": {k: round(len(blocks) / float(np.median(v)), 2) for k, v in durations.items()},
        "xla_speedup": round(ratio_of_medians(durations, "traced", "xla"), 3),
        "largest_difference": float(np.abs(outputs["xla"] - outputs["traced"]).max()),
        **timing_record(durations, rounds=rounds, warmup=0),
    }


def time_answering(model_dir: str, questions_wanted: int, rounds: int) -> dict:
    import tensorflow as tf

    from realm.finetuning.questions import sample_questions
    from realm.pretrained import from_pretrained

    model = from_pretrained(model_dir, architecture="RealmForOpenQA")
    questions = [q.question for q in sample_questions("test")][:questions_wanted]
    batches = [tf.constant(questions[i : i + 8]) for i in range(0, len(questions), 8)]
    traced = tf.function(lambda q: model(q), input_signature=[tf.TensorSpec([None], tf.string)])
    sides = {"eager": lambda q: model(q), "traced": traced}

    def answer(side):
        return [sides[side](b) for b in batches]

    first, answers, scores = {}, {}, {}
    for side in sides:
        started = time.perf_counter()
        out = answer(side)
        first[side] = time.perf_counter() - started
        answers[side] = [a for o in out for a in o["predicted_answer"].numpy().tolist()]
        scores[side] = np.concatenate([o["answer_score"].numpy() for o in out])
    durations = interleaved({side: (lambda side=side: answer(side)) for side in sides}, rounds=rounds, warmup=0)
    return {
        "model": model_dir,
        "questions": len(questions),
        "first_call_seconds": {k: round(v, 2) for k, v in first.items()},
        "seconds_per_question_at_median": {
            k: round(float(np.median(v)) / len(questions), 3) for k, v in durations.items()
        },
        "tracing_speedup": round(ratio_of_medians(durations, "eager", "traced"), 3),
        "same_answers": answers["eager"] == answers["traced"],
        "largest_score_difference": float(np.abs(scores["eager"] - scores["traced"]).max()),
        **timing_record(durations, rounds=rounds, warmup=0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True, metavar="DIR", help="`realm preprocess` output (its block store)")
    parser.add_argument("--model", metavar="DIR", help="a fine-tuned RealmForOpenQA (`final/`) to time answering")
    parser.add_argument("--preset", default="minilm")
    parser.add_argument("--blocks", type=int, default=768)
    parser.add_argument("--questions", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()

    results = {"preset": args.preset, "corpus": args.corpus}
    results["embed"] = time_embedding(args.corpus, args.preset, args.blocks, args.rounds)
    print("embed:", results["embed"]["blocks_per_second_at_median"], "speedup", results["embed"]["xla_speedup"])
    if args.model:
        results["answer"] = time_answering(args.model, args.questions, args.rounds)
        print(
            "answer:",
            results["answer"]["seconds_per_question_at_median"],
            "speedup",
            results["answer"]["tracing_speedup"],
            "same answers",
            results["answer"]["same_answers"],
        )
    print(write_results(NAME, results))


if __name__ == "__main__":
    main()
