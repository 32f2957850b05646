"""Reader ablation: open-QA fine-tuning variants on one pre-trained retriever, scored on the sample questions.

Each variant fine-tunes from the same corpus and `realm pretrain` run (a main-command run's preprocess and
pretrain outputs, or any other), evaluates on the dev split, and only with --test on the test split too (decide on
dev; report test once per change). Recorded per variant: the fine-tuning and evaluation minutes, exact match with
its standard error (binomial, sqrt(p(1-p)/n)), answer recall@k, the reader oracle and exact match by question
type. Results merge into benchmarks/results/reader_ablation.json, keyed by variant name: a variant run again
replaces its entry, the others stay.

Run: python -m benchmarks.bench_reader --corpus DIR --pretrain DIR [--pretrain-label NAME] [--variant NAME ...] [--test]
[--train-questions FILE --train-questions-label NAME] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time

from benchmarks.common import read_results, write_results

NAME = "reader_ablation"


def cloze(steps: int, batch: int, beam: int, wh_first: float = 0.0) -> list[str]:
    """Flags for cloze steps of `batch` corpus questions, each reading `beam` blocks."""
    flags = ["--cloze-steps", str(steps), "--cloze-batch-size", str(batch), "--cloze-reader-beam-size", str(beam)]
    return flags + (["--cloze-wh-first", str(wh_first)] if wh_first else [])


def own_first(cloze_steps: int, beam: int = 1) -> list[str]:
    """minilm's recipe since 40292c8 (cloze250_b16_beam1_numbers_steps100_ownfirst) at other cloze settings."""
    return [*cloze(cloze_steps, 16, beam), "--cloze-numbers", "--steps", "100", "--cloze-reads-own-block"]


OWN_FIRST_RECIPE = own_first(250)

# name -> `realm finetune` flags beyond the preset's fine-tuning on the training questions (minilm: 150 steps,
# batch 4, rate 1e-4) with no cloze steps. minilm's 150 steps are fixed here so that every variant keeps meaning
# what it was measured as: the minilm recipe itself runs 100 since cloze250_b16_beam1_numbers_steps100 (below).
BASE_STEPS = {"minilm": 150}
VARIANTS: dict[str, list[str]] = {
    "no_cloze": [],
    "cloze300": ["--cloze-steps", "300"],
    "cloze600": ["--cloze-steps", "600"],
    "cloze600_steps300": ["--cloze-steps", "600", "--steps", "300"],
    # As many cloze questions as cloze600, 8 a step, each reading 2 blocks instead of 5: 40% of the reading.
    "cloze300_b8_beam2": cloze(300, 8, 2),
    "cloze600_b8_beam2": cloze(600, 8, 2),
    "steps300": ["--steps", "300"],
    "cloze300_b16_beam1": cloze(300, 16, 1),
    "cloze300_b16_beam1_whfirst50": cloze(300, 16, 1, 0.5),
    "cloze450_b16_beam1": cloze(450, 16, 1),
    "cloze450_b16_beam1_whfirst50": cloze(450, 16, 1, 0.5),
    "cloze300_b8_beam2_whfirst50": cloze(300, 8, 2, 0.5),
    # The one schedule over cloze and training steps at half and twice minilm's 1e-4.
    "cloze300_b16_beam1_lr5e-5": [*cloze(300, 16, 1), "--learning-rate", "5e-5"],
    "cloze300_b16_beam1_lr2e-4": [*cloze(300, 16, 1), "--learning-rate", "2e-4"],
    # Quantities as cloze answers too ("how many", "how long"), besides links and dates.
    "cloze300_b16_beam1_numbers": [*cloze(300, 16, 1), "--cloze-numbers"],
    # A third fewer cloze steps (3,200 questions): about 4 minutes off the main command, the margin a slower day
    # needs under its 45 (the cloze steps are its largest share; 450 of them gained nothing over 300). Measured:
    # dev EM -3.7 ± 2.6 and recall@5 -3.2 ± 2.6 over 2 seeds, not adopted (docs/finetuning.md).
    "cloze200_b16_beam1_numbers": [*cloze(200, 16, 1), "--cloze-numbers"],
    # A sixth fewer cloze steps and a third fewer steps on the training questions, for time: minilm's recipe since
    # (its figures: the preset's comment and docs/finetuning.md).
    "cloze250_b16_beam1_numbers_steps100": [*cloze(250, 16, 1), "--cloze-numbers", "--steps", "100"],
    # ... and the reader reads each block's title before its text (DPR's reader input), in training and predicting.
    "cloze250_b16_beam1_numbers_steps100_titles": [
        *cloze(250, 16, 1),
        "--cloze-numbers",
        "--steps",
        "100",
        "--reader-titles",
    ],
    # ... and each cloze question reads its sentence's own block, whatever its rank.
    "cloze250_b16_beam1_numbers_steps100_ownfirst": OWN_FIRST_RECIPE,
    # ... with a fifth fewer cloze steps: each now teaches the reader, so fewer may do.
    "cloze200_b16_beam1_numbers_steps100_ownfirst": own_first(200),
    # ... and the training questions' steps restart the schedule at the recipe's peak instead of inheriting the
    # decayed tail of one schedule over both phases (from 0.4 of the peak to zero).
    "cloze250_b16_beam1_numbers_steps100_ownfirst_qlr1e-4": [*OWN_FIRST_RECIPE, "--question-learning-rate", "1e-4"],
    # ... retrieving by dense + 0.3 * BM25 (realm.retrieval.lexical) in training and when predicting.
    "cloze250_b16_beam1_numbers_steps100_ownfirst_lexical03": [
        *OWN_FIRST_RECIPE,
        *("--lexical-weight", "0.3", "--lexical-training"),
    ],
    # ... the reader alone restarting, the question tower keeping the one schedule's tail.
    "cloze250_b16_beam1_numbers_steps100_ownfirst_qlr1e-4reader": [
        *OWN_FIRST_RECIPE,
        *("--question-learning-rate", "1e-4", "--question-learning-rate-scope", "reader"),
    ],
    # ... the training questions reading 10 blocks, as the model then predicts (it trained on 5 and read 10).
    "cloze250_b16_beam1_numbers_steps100_ownfirst_read10": [
        *OWN_FIRST_RECIPE,
        *("--reader-beam-size", "10", "--predict-reader-beam-factor", "1"),
    ],
    # ... with a fifth more cloze steps: 200 had lost dev EM against 250, so more may still add.
    "cloze300_b16_beam1_numbers_steps100_ownfirst": own_first(300),
    # ... and beside it the best other retrieved block: the reader learns to prefer the block that answers.
    "cloze250_b16_beam2_numbers_steps100_ownfirst": own_first(250, 2),
    # ... and a cloze answer counts only in blocks of its sentence's own article.
    "cloze300_b16_beam1_numbers_own": [*cloze(300, 16, 1), "--cloze-numbers", "--cloze-own-article"],
    # ... and cloze steps train only the reader, the question tower learning from the training questions alone.
    "cloze300_b16_beam1_numbers_readeronly": [*cloze(300, 16, 1), "--cloze-numbers", "--no-cloze-trains-retriever"],
    # Twice minilm's 150 steps on the training questions after the cloze steps, with and without the above.
    "cloze300_b16_beam1_numbers_steps300": [*cloze(300, 16, 1), "--cloze-numbers", "--steps", "300"],
    "cloze300_b16_beam1_numbers_readeronly_steps300": [
        *cloze(300, 16, 1),
        "--cloze-numbers",
        "--no-cloze-trains-retriever",
        "--steps",
        "300",
    ],
    # The reader at twice the question tower's rate (minilm: 2e-4 and 1e-4): one rate of 2e-4 for both lost dev EM
    # and recall@5 alike, so whether the reader alone wants more was open.
    "cloze300_b16_beam1_numbers_readerlr2e-4": [
        *cloze(300, 16, 1),
        "--cloze-numbers",
        "--reader-learning-rate",
        "2e-4",
    ],
}


def finetune_flags(preset: str) -> list[str]:
    """The pipeline's fine-tuning recipe for the preset as `realm finetune` flags, at the variants' base steps."""
    from realm.presets import get, model_config

    recipe = get(preset).recipe
    return [
        "--preset", preset,
        "--steps", str(BASE_STEPS.get(preset, recipe.finetune_steps)),
        "--batch-size", str(recipe.finetune_batch_size),
        "--learning-rate", str(recipe.finetune_learning_rate),
        "--query-seq-len", str(recipe.question_seq_len),
        "--candidate-seq-len", str(recipe.block_max_tokens),
        "--reader-seq-len", str(recipe.reader_seq_len),
        "--searcher-beam-size", str(recipe.searcher_beam_size),
        # No cloze steps; were a variant to add them, questions as the training ones: the batch, the model's
        # reader beam, the wh-word in place. The variants name what they change, so each means what it meant.
        "--cloze-steps", "0",
        "--cloze-batch-size", str(recipe.finetune_batch_size),
        "--cloze-reader-beam-size", str(model_config(preset).reader_beam_size),
        "--cloze-wh-first", "0",
        "--no-cloze-numbers",
        "--no-reader-titles",  # the reader read block texts alone until the _titles variant (below)
        "--no-cloze-reads-own-block",  # cloze questions read blocks as retrieved until the _ownfirst variant
    ]  # fmt: skip


def run_realm(*args: str) -> float:
    """Run a `realm` command; its minutes."""
    started = time.time()
    subprocess.run([sys.executable, "-m", "realm.cli", *args], check=True)
    return round((time.time() - started) / 60, 2)


INFERENCE_SETTINGS = ("exclude_question_spans", "answer_type_rules", "reader_relevance_weight")


def evaluate(model: str, split: str, out: str) -> dict:
    minutes = run_realm("evaluate", "--model", model, "--questions", "sample", "--split", split, "--out", out)
    with open(os.path.join(out, "metrics.json"), encoding="utf-8") as f:
        metrics = json.load(f)
    em, n = metrics["exact_match"], metrics["questions"]
    with open(os.path.join(model, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    return {
        "minutes": minutes,
        # How the model picked its answers (a record without it: no answer-type rule, relevance weight 1).
        "inference": {k: config.get(k) for k in INFERENCE_SETTINGS},
        "questions": n,
        "exact_match": round(em, 4),
        "exact_match_se": round(math.sqrt(em * (1 - em) / n), 4),
        **{k: round(v, 4) for k, v in metrics.items() if k.startswith("recall@") or k == "reader_oracle"},
        "by_question_type": metrics.get("by_question_type", {}),
    }


def cloze_reading(run_dir: str, flags: list[str]) -> dict:
    """How many of the cloze questions had an answer in the blocks their reader read: `has_answer_in_reader` of the
    run's logged cloze steps (each a batch), its mean and range. A question without one gives the reader no loss."""
    cloze_steps = int(flags[flags.index("--cloze-steps") + 1]) if "--cloze-steps" in flags else 0
    if not cloze_steps:
        return {}
    with open(os.path.join(run_dir, "metrics.jsonl"), encoding="utf-8") as f:
        shares = [row["has_answer_in_reader"] for row in map(json.loads, f) if row["step"] <= cloze_steps]
    return {
        "cloze_answer_in_reader": {
            "logged_steps": len(shares),
            "mean": round(sum(shares) / len(shares), 3),
            "min": round(min(shares), 3),
            "max": round(max(shares), 3),
        }
    }


def variant_key(name: str, args: argparse.Namespace) -> str:
    """A variant's key in the results: its name, then the seed and the pre-training label where given."""
    seed = f"_seed{args.seed}" if args.seed else ""
    questions = f"_q-{args.train_questions_label}" if args.train_questions != "sample" else ""
    return name + questions + seed + (f"@{args.pretrain_label}" if args.pretrain_label else "")


def run_variant(name: str, args: argparse.Namespace) -> dict:
    out = os.path.join(args.out, variant_key(name, args))
    shutil.rmtree(out, ignore_errors=True)  # a fresh run, not a resumed one
    flags = [*finetune_flags(args.preset), *VARIANTS[name]]
    minutes = run_realm(
        "finetune", "--data", args.corpus, "--pretrain", args.pretrain, "--out", out,
        "--questions", args.train_questions, "--split", "train", "--seed", str(args.seed), *flags,
    )  # fmt: skip
    result = {"flags": VARIANTS[name], "seed": args.seed, "pretrain": args.pretrain, "finetune_minutes": minutes}
    if args.train_questions != "sample":
        result["train_questions"] = args.train_questions
    result.update(cloze_reading(out, VARIANTS[name]))
    result["dev"] = evaluate(os.path.join(out, "final"), "dev", os.path.join(out, "eval-dev"))
    if args.test:
        result["test"] = evaluate(os.path.join(out, "final"), "test", os.path.join(out, "eval-test"))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True, metavar="DIR", help="`realm preprocess` output")
    parser.add_argument("--pretrain", required=True, metavar="DIR", help="`realm pretrain` run")
    parser.add_argument("--preset", default="minilm")
    parser.add_argument("--variant", nargs="*", choices=list(VARIANTS), default=["no_cloze"])
    parser.add_argument("--test", action="store_true", help="also evaluate on the test split")
    parser.add_argument(
        "--test-only",
        action="store_true",
        help="no fine-tuning: evaluate the variants' models already in --out on the test split (once per change)",
    )
    parser.add_argument(
        "--cloze-reading-only",
        action="store_true",
        help="no fine-tuning: record from the variants' runs in --out how many cloze questions read an answer",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--pretrain-label",
        default="",
        metavar="NAME",
        help="names the --pretrain run in the variants' keys (NAME@LABEL) when it is not the file's pretrain_run",
    )
    parser.add_argument(
        "--train-questions",
        default="sample",
        metavar="FILE",
        help="the questions fine-tuning trains on (their train split); dev and test stay the sample's",
    )
    parser.add_argument(
        "--train-questions-label",
        default="",
        metavar="NAME",
        help="names --train-questions in the variants' keys (NAME_q-LABEL...); required with --train-questions",
    )
    parser.add_argument("--out", default="outputs/bench-reader", metavar="DIR")
    args = parser.parse_args()
    if args.train_questions != "sample" and not args.train_questions_label:
        parser.error("--train-questions needs --train-questions-label, so its runs do not overwrite the sample's")

    for name in args.variant:
        key = variant_key(name, args)
        if args.cloze_reading_only:
            measured = {**_recorded(key), **cloze_reading(os.path.join(args.out, key), VARIANTS[name])}
            print(key, json.dumps(measured.get("cloze_answer_in_reader")))
            print(_record(key, measured, args.pretrain))
            continue
        if args.test_only:
            out = os.path.join(args.out, key)
            measured = _recorded(key)
            measured["test"] = evaluate(os.path.join(out, "final"), "test", os.path.join(out, "eval-test"))
            print(key, "test", json.dumps(measured["test"]))
            print(_record(key, measured, args.pretrain))
            continue
        measured = run_variant(name, args)
        print(key, json.dumps(measured["dev"]))
        print(_record(key, measured, args.pretrain))  # after each variant: a long ablation keeps what it measured


def _recorded(key: str) -> dict:
    return read_results(NAME)["variants"][key]


def _record(key: str, measured: dict, pretrain: str) -> str:
    """Merge one variant into the results file, read just before writing: two ablations side by side keep theirs."""
    results = read_results(NAME)
    results.setdefault("pretrain_run", pretrain)
    results.setdefault("variants", {})[key] = measured
    return write_results(NAME, results)


if __name__ == "__main__":
    main()
