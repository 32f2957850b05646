"""One pre-training run of a preset's recipe, as the pipeline's warm-start and pretrain steps run it, with ICT
steps, the refresh interval and the seed chosen here: the runs the reader ablation fine-tunes from
(`bench_reader --pretrain DIR --pretrain-label LABEL`) when it compares pre-training recipes. One run per recipe
says little (which questions a retriever gets right differs from run to run); runs at several seeds do.

Recorded per label in benchmarks/results/pretrain_recipes.json: the recipe, the warm-start and pre-training
minutes (wall time on this machine) and the last logged pre-training figures.

With --warm-start DIR a run pre-trains from another run's warm start (its ICT retriever) instead of training
one, so recipes that differ only after the warm start are compared from the same start, paired by it.

Run: python -m benchmarks.bench_pretrain_recipe --corpus DIR --out DIR --label NAME [--preset minilm]
[--ict-steps N] [--refresh-every N] [--pretrain-steps N] [--warm-start DIR] [--seed N]
"""

from __future__ import annotations

import argparse
import os
import time

from benchmarks.common import machine, read_results, write_results

NAME = "pretrain_recipes"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", required=True, help="a preprocess step's output directory")
    parser.add_argument("--out", required=True, help="where the run's warm/ and pretrain/ directories go")
    parser.add_argument("--label", required=True, help="the name the run is recorded (and fine-tuned) under")
    parser.add_argument("--preset", default="minilm")
    parser.add_argument("--ict-steps", type=int, default=None, help="default: the preset's")
    parser.add_argument("--refresh-every", type=int, default=None, help="default: the preset's")
    parser.add_argument("--pretrain-steps", type=int, default=None, help="default: the preset's")
    parser.add_argument(
        "--warm-start",
        default="",
        metavar="DIR",
        help="a warm-start step's output to pre-train from (default: train one here, into OUT/warm)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.warm_start and args.ict_steps is not None:
        parser.error("--ict-steps trains a warm start; --warm-start reuses one")

    from components import executors
    from realm.presets import get

    recipe = get(args.preset).recipe
    ict_steps = recipe.ict_steps if args.ict_steps is None else args.ict_steps
    refresh_every = recipe.refresh_every if args.refresh_every is None else args.refresh_every
    pretrain_steps = recipe.pretrain_steps if args.pretrain_steps is None else args.pretrain_steps
    warm_dir = args.warm_start or os.path.join(args.out, "warm")
    started = time.time()
    if not args.warm_start:
        executors.warm_start(
            corpus_dir=args.corpus,
            preset=args.preset,
            init_checkpoint="",
            ict_steps=ict_steps,
            ict_batch_size=recipe.ict_batch_size,
            ict_learning_rate=recipe.ict_learning_rate,
            query_seq_len=recipe.query_seq_len,
            candidate_seq_len=recipe.candidate_seq_len,
            jit_compile=recipe.jit_compile,
            out_dir=warm_dir,
            seed=args.seed,
        )
    warmed = time.time()
    result = executors.pretrain(
        corpus_dir=args.corpus,
        warm_start_dir=warm_dir,
        preset=args.preset,
        steps=pretrain_steps,
        batch_size=recipe.pretrain_batch_size,
        learning_rate=recipe.pretrain_learning_rate,
        refresh_every=refresh_every,
        query_seq_len=recipe.query_seq_len,
        candidate_seq_len=recipe.candidate_seq_len,
        out_dir=os.path.join(args.out, "pretrain"),
        mlm_head_fit_steps=recipe.mlm_head_fit_steps,
        mlm_warmup_steps=recipe.mlm_warmup_steps,
        mlm_warmup_learning_rate=recipe.mlm_warmup_learning_rate,
        jit_compile=recipe.jit_compile,
        seed=args.seed,
    )
    done = time.time()
    runs = read_results(NAME).get("runs", {})
    runs[args.label] = {
        "preset": args.preset,
        "ict_steps": None if args.warm_start else ict_steps,  # a reused warm start's: see its run
        "warm_start": args.warm_start or None,
        "ict_batch_size": recipe.ict_batch_size,
        "refresh_every": refresh_every,
        "pretrain_steps": pretrain_steps,
        "seed": args.seed,
        "warm_start_minutes": round((warmed - started) / 60, 2),
        "pretrain_minutes": round((done - warmed) / 60, 2),
        "pretrain_last": result["metrics"],
        "out": args.out,
    }
    path = write_results(NAME, {"machine": machine(), "runs": runs})
    print(
        f"{args.label}: warm start {(warmed - started) / 60:.1f} min, pre-training {(done - warmed) / 60:.1f} min;"
        f" run in {args.out}, figures in {path}"
    )


if __name__ == "__main__":
    main()
