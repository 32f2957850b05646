"""Weight averaging for open-QA fine-tuning: the last step's weights against moving averages of the trained ones,
each scored on the dev split, from one and the same training run per seed.

A fine-tuning run's last weights carry the last steps' dropout draws and batches (one draw moves dev exact match by
5-7 points on the sample, docs/finetuning.md). Averages at several momenta are kept beside the training, which they
do not change, so every model of a seed comes from the same steps: the comparison is paired with no training noise
between its sides. Each seed runs the preset's recipe (`realm finetune` flags as benchmarks.bench_reader's variant)
in-process, saves final/ (last weights) and final-ema<m>/ per momentum, and evaluates each with `realm evaluate`.
Results: benchmarks/results/weight_averaging.json (per seed and model: dev metrics; per momentum: the paired
difference to the last weights over the seeds, benchmarks.compare_reader's).

Run: python -m benchmarks.bench_weight_averaging --corpus DIR --pretrain DIR [--seeds S ...] [--momenta M ...]
(also --variant NAME, a benchmarks.bench_reader variant, and --out DIR)
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


def answer_changes(runs: list[dict], name: str) -> list[dict]:
    """Per seed: the dev answers `name` gives otherwise than the last weights, and how many went right -> wrong and
    wrong -> right."""
    changes = []
    for run in runs:
        answers = {}  # model -> question -> (answer, right)
        for model in ("last", name):
            path = os.path.join(run["models"][model]["evaluated"], "eval-dev", "predictions.jsonl")
            with open(path, encoding="utf-8") as f:
                answers[model] = {r["question"]: (r["predicted_answer"], r["correct"]) for r in map(json.loads, f)}
        last, other = answers["last"], answers[name]
        changed = [q for q in last if last[q][0] != other[q][0]]
        changes.append(
            {
                "seed": run["seed"],
                "changed": len(changed),
                "right_to_wrong": sum(last[q][1] and not other[q][1] for q in changed),
                "wrong_to_right": sum(other[q][1] and not last[q][1] for q in changed),
            }
        )
    return changes


def summarize(results: dict, momenta: list[float]) -> dict:
    """The paired differences and answer changes of each momentum every recorded seed has."""
    runs = results["runs"]
    names = [f"ema{m:g}" for m in momenta if all(f"ema{m:g}" in r["models"] for r in runs)]
    results["paired_vs_last"] = {n: paired(runs, n) for n in names}
    results["answers_changed_vs_last"] = {n: answer_changes(runs, n) for n in names}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True, metavar="DIR", help="`realm preprocess` output")
    parser.add_argument("--pretrain", required=True, metavar="DIR", help="`realm pretrain` run")
    parser.add_argument("--preset", default="minilm")
    parser.add_argument("--variant", choices=list(VARIANTS), default="cloze300_b16_beam1_numbers")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--momenta", type=float, nargs="+", default=[0.9, 0.95, 0.98, 0.99])
    parser.add_argument("--out", default="outputs/bench-weight-averaging", metavar="DIR")
    parser.add_argument(
        "--summarize-only", action="store_true", help="recompute the summary from the recorded runs, train nothing"
    )
    args = parser.parse_args()
    if not all(0.0 < m < 1.0 for m in args.momenta):
        parser.error("each momentum is between 0 and 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    if args.summarize_only:  # the figures again from the recorded runs' evaluations, nothing trained
        print(write_results(NAME, summarize(read_results(NAME), args.momenta)))
        return
    setting = {"corpus": args.corpus, "pretrain": args.pretrain, "variant": args.variant}
    for seed in args.seeds:
        measured = run_seed(args, seed)
        results = read_results(NAME)
        # Seeds measured earlier in the same setting stay (a seed run again replaces its entry); another setting's
        # runs do not mix with these.
        same = all(results.get(k) == v for k, v in setting.items())
        runs = [r for r in results.get("runs", []) if same and r["seed"] != seed] + [measured]
        runs.sort(key=lambda r: r["seed"])
        results.update(setting, flags=VARIANTS[args.variant], runs=runs)
        print(write_results(NAME, summarize(results, args.momenta)))  # after each seed: a long run keeps its figures


if __name__ == "__main__":
    main()
