"""Question files for open-domain QA: NQ-open-style JSONL and DPR-style TSV, regex answers for CuratedTrec.

Accepted layouts (one question per line):
- JSONL `{"question": "...", "answer": ["...", ...]}` (NaturalQuestions-Open, and WebQuestions/CuratedTrec as
  ORQA and DrQA distribute them; `answers` is accepted for `answer`, a bare string for a one-answer list);
- TSV/CSV `question<TAB>["answer", ...]` (DPR's `*.qa.csv`).
CuratedTrec's answers are regular expressions: `regex=True`, or automatically for files whose name contains
"trec". The sample corpus ships its own question set (`sample_questions`).

A JSONL line may name its split (`"split": "train"|"dev"|"test"`): the sample set does, so that rewording a
question never moves it between splits; lines without one fall back to a hash of the question text
(`split_of`).
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import os

from realm.errors import RealmError

SPLITS = ("train", "dev", "test")
SAMPLE_QUESTIONS = os.path.join(os.path.dirname(__file__), os.pardir, "data", "sample_qa", "questions.jsonl")


class QuestionFileError(RealmError):
    """A question file is missing or a line of it cannot be read; the message names the file and line."""


@dataclasses.dataclass(frozen=True)
class Question:
    question: str
    answers: tuple[str, ...]
    regex: bool = False
    title: str = ""  # the article the answer comes from, when known (the sample set records it)
    split: str | None = None  # the split the file assigns ("train", "dev", "test"); None: by hash (split_of)
    # The corpus blocks holding a cloze question's sentence (realm.finetuning.cloze): evidence that surely states
    # the answer, which FinetuneConfig.cloze_reads_own_block makes the reader read.
    source_blocks: tuple[int, ...] = ()

    def to_json(self) -> dict:
        return {
            "question": self.question,
            "answer": list(self.answers),
            **({"regex": True} if self.regex else {}),
            **({"split": self.split} if self.split else {}),
        }


def _answers(value, path: str, line_number: int) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(a, str) and a.strip() for a in value):
        raise QuestionFileError(f"{path}:{line_number}: answers must be a non-empty list of strings, got {value!r}")
    return tuple(value)


def _split(value, path: str, line_number: int) -> str | None:
    if value is None:
        return None
    if value not in SPLITS:
        raise QuestionFileError(f"{path}:{line_number}: split must be one of {SPLITS}, got {value!r}")
    return value


def read_questions(path: str, regex: bool | None = None) -> list[Question]:
    """JSONL (`question`, `answer`/`answers`, optional `title`, `split`) or TSV (`question<TAB>answers`, answers a
    Python list or one string) lines, UTF-8."""
    if not os.path.isfile(path):
        raise QuestionFileError(f"{path}: question file not found")
    regex = ("trec" in os.path.basename(path).lower()) if regex is None else regex
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError as exc:
        raise QuestionFileError(
            f"{path}: not UTF-8 text (byte {exc.start}); a question file is JSONL or TSV lines"
        ) from None
    questions = []
    for line_number, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise QuestionFileError(f"{path}:{line_number}: invalid JSON ({exc})") from None
            text = record.get("question")
            answers = record.get("answer", record.get("answers"))
            title = record.get("title", "")
            split = _split(record.get("split"), path, line_number)
        else:
            columns = line.split("\t")
            if len(columns) != 2:
                raise QuestionFileError(
                    f"{path}:{line_number}: {len(columns)} tab-separated column(s); a TSV line is "
                    "QUESTION<TAB>ANSWERS (answers a Python list, e.g. ['Paris'], or one answer)"
                )
            text, answer_field = columns
            try:
                answers = ast.literal_eval(answer_field) if answer_field.startswith("[") else answer_field
            except (ValueError, SyntaxError):
                raise QuestionFileError(f"{path}:{line_number}: cannot read the answer list {answer_field!r}") from None
            title, split = "", None
        if not isinstance(text, str) or not text.strip():
            raise QuestionFileError(f"{path}:{line_number}: no question text")
        questions.append(Question(text.strip(), _answers(answers, path, line_number), regex, title, split))
    if not questions:
        raise QuestionFileError(f"{path}: no questions")
    return questions


def split_of(question: Question) -> str:
    """The fixed split of a question: the one its file names, else 60% train, 20% dev, 20% test by a hash of
    its text (stable for files that never change, but a reworded question would move, hence the field)."""
    if question.split is not None:
        return question.split
    bucket = int(hashlib.sha1(question.question.encode()).hexdigest()[:8], 16) % 10
    return "train" if bucket < 6 else "dev" if bucket < 8 else "test"


def questions_of_split(questions: list[Question], split: str | None, source: str) -> list[Question]:
    """The questions of `split` (None or "all": every one) from a file whose lines name their split; a file
    none of whose lines does is returned whole, since a hash split of someone's evaluation file would silently
    drop four fifths of it. Without this, `realm finetune --questions FILE` trained on a file's dev and test
    lines too."""
    if split in (None, "all"):
        return questions
    if split not in SPLITS:
        raise QuestionFileError(f"unknown split {split!r}; choose one of {SPLITS} or 'all'")
    if all(q.split is None for q in questions):
        return questions
    chosen = [q for q in questions if split_of(q) == split]
    if not chosen:
        raise QuestionFileError(f"{source}: no question of split {split!r} (its lines name their splits)")
    return chosen


def load_questions(spec: str, split: str | None, regex: bool | None = None) -> list[Question]:
    """`spec` "sample" (the sample's question set) or a question file, limited to `split` (questions_of_split)."""
    if spec == "sample":
        return sample_questions(split)
    return questions_of_split(read_questions(spec, regex=regex), split, spec)


def sample_questions(split: str | None = None) -> list[Question]:
    """The question set written for the Wikipedia sample (see realm/data/sample_qa/README.md)."""
    return questions_of_split(read_questions(os.path.normpath(SAMPLE_QUESTIONS), regex=False), split, "sample")


def write_questions(path: str, questions: list[Question]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for question in questions:
            f.write(json.dumps(question.to_json(), ensure_ascii=False) + "\n")
