"""Weight averaging for open-QA fine-tuning: the last step's weights against moving averages of the trained ones,
each scored on the dev split, from one and the same training run per seed.

A fine-tuning run's last weights carry the last steps' dropout draws and batches (one draw moves dev exact match by
5-7 points on the sample, docs/finetuning.md). Averages at several momenta are kept beside the training, which they
do not change, so every model of a seed comes from the same steps: the comparison is paired with no training noise
between its sides. Each seed runs the preset's recipe (`realm finetune` flags as benchmarks.bench_reader's variant)
in-process, saves final/ (last weights) and final-ema<m>/ per momentum, and evaluates each with `realm evaluate`.
Results: benchmarks/results/weight_averaging.json (per seed and model: dev metrics; per momentum: the paired
difference to the last weights over the seeds, benchmarks.compare_reader's).

Run: python -m benchmarks.bench_weight_averaging --corpus DIR --pretrain DIR [--seeds 0 1] [--momenta 0.9 0.98]
[--variant NAME] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
import time

from benchmarks.bench_reader import VARIANTS, evaluate, finetune_flags
from benchmarks.common import read_results, write_results

NAME = "weight_averaging"


def averaging_finetuner(momenta: list[float]):
    """A Finetuner that also keeps Keras-style moving averages of the trained variables at each momentum (the
    first step's weights, then m * average + (1 - m) * weights after every step) and saves one model per average
    beside final/."""
    import tensorflow as tf

    from realm.finetuning.trainer import Finetuner

    class AveragingFinetuner(Finetuner):
        def _build(self) -> None:
            super()._build()
            self.averages = {m: [tf.Variable(v, trainable=False) for v in self.variables] for m in momenta}
            variables, averages = self.variables, self.averages

            @tf.function
            def update(first):
                for m, shadows in averages.items():
                    keep = tf.where(first, 0.0, m)
                    for shadow, variable in zip(shadows, variables, strict=True):
                        shadow.assign(keep * shadow + (1.0 - keep) * variable)

            train_step, self.steps_taken = self.train_step, 0

            def averaged_step(batch):
                metrics = train_step(batch)
                update(tf.constant(self.steps_taken == 0))
                self.steps_taken += 1
                return metrics

            self.train_step = averaged_step

        def save_final(self, directory: str) -> str:
            final = super().save_final(directory)
            trained = [v.numpy() for v in self.variables]
            for m, shadows in self.averages.items():
                for variable, shadow in zip(self.variables, shadows, strict=True):
                    variable.assign(shadow)
                super().save_final(averaged_dir(directory, m))
            for variable, value in zip(self.variables, trained, strict=True):
                variable.assign(value)
            return final

    return AveragingFinetuner


def averaged_dir(final: str, momentum: float) -> str:
    return os.path.join(os.path.dirname(final), f"final-ema{momentum:g}")


def run_seed(args: argparse.Namespace, seed: int) -> dict:
    from realm.cli import build_parser, finetune_setup

    out = os.path.join(args.out, f"{args.variant}_seed{seed}")
    shutil.rmtree(out, ignore_errors=True)  # a fresh run: a resumed one would have no averages of its first steps
    argv = [
        "finetune", "--data", args.corpus, "--pretrain", args.pretrain, "--out", out,
        "--questions", "sample", "--split", "train", "--seed", str(seed),
        *finetune_flags(args.preset), *VARIANTS[args.variant],
    ]  # fmt: skip
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="realm-init-bert-") as workdir:
        config, questions = finetune_setup(build_parser().parse_args(argv), workdir)
        if config.weight_averaging_momentum:
            raise SystemExit("the recipe already averages weights: final/ would not be the last step's")
        averaging_finetuner(args.momenta)(config, questions).run()
    result = {"seed": seed, "finetune_minutes": round((time.time() - started) / 60, 2), "models": {}}
    models = {"last": os.path.join(out, "final")}
    models.update({f"ema{m:g}": averaged_dir(models["last"], m) for m in args.momenta})
    for name, model in models.items():
        evaluated = os.path.join(out, "evaluated", name)  # eval-dev/ in it, as benchmarks.compare_reader reads
        dev = evaluate(model, "dev", os.path.join(evaluated, "eval-dev"))
        result["models"][name] = {"dir": model, "evaluated": evaluated, "dev": dev}
        print(seed, name, json.dumps(result["models"][name]["dev"]))
    return result


def paired(runs: list[dict], name: str) -> dict:
    """`name`'s dev outcomes against the last weights', question by question, averaged over the seeds."""
    from benchmarks.compare_reader import mean_outcomes, paired_difference

    last = mean_outcomes([r["models"]["last"]["evaluated"] for r in runs], "dev")
    other = mean_outcomes([r["models"][name]["evaluated"] for r in runs], "dev")
    return {"exact_match": paired_difference(last, other, 0), "answer_recall@5": paired_difference(last, other, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True, metavar="DIR", help="`realm preprocess` output")
    parser.add_argument("--pretrain", required=True, metavar="DIR", help="`realm pretrain` run")
    parser.add_argument("--preset", default="minilm")
    parser.add_argument("--variant", choices=list(VARIANTS), default="cloze300_b16_beam1_numbers")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--momenta", type=float, nargs="+", default=[0.9, 0.95, 0.98, 0.99])
    parser.add_argument("--out", default="outputs/bench-weight-averaging", metavar="DIR")
    args = parser.parse_args()
    if not all(0.0 < m < 1.0 for m in args.momenta):
        parser.error("each momentum is between 0 and 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    runs = []
    for seed in args.seeds:
        runs.append(run_seed(args, seed))
        results = read_results(NAME)
        results.update(corpus=args.corpus, pretrain=args.pretrain, variant=args.variant, flags=VARIANTS[args.variant])
        results["runs"] = runs
        results["paired_vs_last"] = {f"ema{m:g}": paired(runs, f"ema{m:g}") for m in args.momenta}
        print(write_results(NAME, results))  # after each seed: a long run keeps what it measured


if __name__ == "__main__":
    main()
