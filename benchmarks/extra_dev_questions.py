"""A second held-out question set for inference-time settings: the 379 questions written for the training-size run.

`benchmarks/data/sample_questions_more_train.jsonl` is the sample set plus 379 questions about the same articles
("More than twice the training questions", docs/finetuning.md); the recipe never trains on those 379 (it reads the
sample's 306), and none teaches a dev or test answer. Four times the sample's 95 dev questions, they shrink the
standard error of an inference-only comparison (bench_span_rules --questions) by half. They are marked `dev` here
so that `--split dev` reads all of them; the sample's own dev split still decides training-side changes, and the
test split stays untouched.

Run: python -m benchmarks.extra_dev_questions   (writes benchmarks/data/extra_dev_questions.jsonl)
"""

from __future__ import annotations

import json
import os

from realm.finetuning.questions import SAMPLE_QUESTIONS

HERE = os.path.dirname(os.path.abspath(__file__))
MORE_TRAIN = os.path.join(HERE, "data", "sample_questions_more_train.jsonl")
SAMPLE = SAMPLE_QUESTIONS  # the sample's question set, where `--questions sample` reads it
OUT = os.path.join(HERE, "data", "extra_dev_questions.jsonl")


def read_jsonl(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def extra_questions(more_train: list[dict], sample: list[dict]) -> list[dict]:
    """The lines of `more_train` that the sample set lacks, as dev questions; a repeated question is an error."""
    in_sample = {q["question"] for q in sample}
    extra = [{**q, "split": "dev"} for q in more_train if q["question"] not in in_sample]
    if len(extra) + len(in_sample) != len(more_train):
        raise ValueError(f"{MORE_TRAIN} does not hold the sample set plus new questions")
    return extra


def main() -> None:
    extra = extra_questions(read_jsonl(MORE_TRAIN), read_jsonl(SAMPLE))
    with open(OUT, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(q, ensure_ascii=False) + "\n" for q in extra)
    print(f"{len(extra)} questions written to {OUT}")


if __name__ == "__main__":
    main()
