"""Questions made from the corpus itself, to teach the reader what an answer span is before it sees the few
hand-written training questions (the cloze recipe of unsupervised QA: Lewis et al. 2019, "Unsupervised Question
Answering by Cloze Translation"; Dhingra et al. 2018).

A pre-training example is a sentence with its salient spans (link anchors and dates, `realm.data.spans`). One
span becomes the answer and its place in the sentence a wh-word chosen by simple rules ("Booth shot Lincoln on
April 14, 1865" -> "booth shot lincoln when", answer "April 14, 1865"). Each question names the block holding
its sentence, which fine-tuning has the reader read (FinetuneConfig.cloze_reads_own_block): the reader learns to
line the question up with the text around the answer, which is what reading a hand-written question against its
evidence asks too.

Links and dates rarely make a number the answer, yet people ask "how many" and "how long": with `numbers` on,
quantities a sentence states outside its links and dates ("25,000", "21.7 million", "seven months") are answers
too, asked with "how many", "how long" for a duration or "what percentage". Without them a reader answers "how
many teams" with a team.
"""

from __future__ import annotations

import dataclasses
import logging
import re

import numpy as np

from realm.data.spans import DATE
from realm.finetuning.questions import Question

logger = logging.getLogger(__name__)

MAX_ANSWER_WORDS = 5  # as the sample's answers: longer anchors make poor answers
MIN_QUESTION_WORDS, MAX_QUESTION_WORDS = 5, 40
SCAN_PER_QUESTION = 50  # examples read per question wanted, at most: a full dump is not read to make a few thousand

QUANTITY = "quantity"  # a span kind of cloze questions only (pre-training masks links and dates)
_SCALE = r"(?:hundred|thousand|million|billion|trillion)"
_DURATION_UNITS = r"(?:years?|months?|weeks?|days?|hours?|minutes?|seconds?|centuries|decades?)"
_NUMBER_WORDS = (
    r"(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|sixty"
    r"|seventy|eighty|ninety|hundred)"
)
# Digits, with thousands separators or decimals and an optional scale ("25,000", "21.7 million", "90%"), or a
# number word followed by a scale or a duration unit ("seven months", "two million"): a bare "one" or "two" is
# more often a pronoun or part of a phrase than a quantity.
_QUANTITY = re.compile(
    rf"(?<![\w.,/\u2013-])(?:(?:\d{{1,3}}(?:,\d{{3}})+|\d+(?:\.\d+)?)(?:\s{_SCALE})?"
    rf"(?:\s?%|\s(?:per ?cent|{_DURATION_UNITS}))?"
    rf"|{_NUMBER_WORDS}\s(?:{_SCALE}|{_DURATION_UNITS}))(?![\w%/\u2013-]|[.,]\d)",
    re.IGNORECASE,
)
_DURATION = re.compile(rf"\s{_DURATION_UNITS}$", re.IGNORECASE)
_PERCENT = re.compile(r"(?:%|per ?cent)$", re.IGNORECASE)
_NUMBER = re.compile(r"^[\d.,]+(?:\s+(?:million|billion|thousand|hundred))?$", re.IGNORECASE)
_LEADING_PREPOSITION = re.compile(r"\b(?:in|on|at|since|by|during|from|until|of|to)\s*$", re.IGNORECASE)
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([,.;:!?)\]])")
_SPACE_AFTER_BRACKET = re.compile(r"([(\[])\s+")
_TRAILING_PUNCTUATION = re.compile(r"[\s.;:!?]+$")


def wh_word(answer: str, kind: str) -> str:
    """The question word standing in for an answer of this kind and shape."""
    if kind == DATE:
        return "when"
    if kind == QUANTITY:
        if _DURATION.search(answer):
            return "how long"
        return "what percentage" if _PERCENT.search(answer) else "how many"
    if _NUMBER.match(answer):
        return "how many"
    return "what"


def cloze_question(
    text: str, start: int, end: int, kind: str, wh_first: bool = False, title: str = ""
) -> Question | None:
    """The sentence as a lower-case question with the span [start, end) replaced by a wh-word, or None when the
    sentence or span makes a poor question (too short or long, an answer of more than five words).

    `wh_first` moves the wh-word to the front, as hand-written questions have it ("booth shot lincoln when" ->
    "when booth shot lincoln"): the crude form of Lewis et al.'s wh-movement, without a parser."""
    answer = text[start:end].strip()
    if not answer or len(answer.split()) > MAX_ANSWER_WORDS or not any(c.isalnum() for c in answer):
        return None
    word = wh_word(answer, kind)
    before, after = text[:start], text[end:]
    if word == "when":  # "born on [DATE]" -> "born when"
        before = _LEADING_PREPOSITION.sub("", before)
    question = " ".join((f"{word} {before} {after}" if wh_first else f"{before} {word} {after}").split())
    question = _SPACE_AFTER_BRACKET.sub(r"\1", _SPACE_BEFORE_PUNCTUATION.sub(r"\1", question))
    question = _TRAILING_PUNCTUATION.sub("", question).lower()
    if not MIN_QUESTION_WORDS <= len(question.split()) <= MAX_QUESTION_WORDS:
        return None
    return Question(question, (answer,), title=title, split="cloze")


def quantity_spans(text: str, taken: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Quantities in `text` that overlap none of the `taken` [start, end) spans (its links and dates)."""
    return [
        (m.start(), m.end())
        for m in _QUANTITY.finditer(text)
        if all(m.end() <= start or m.start() >= end for start, end in taken)
    ]


def corpus_questions(
    data_dir: str, count: int, seed: int = 0, wh_first: float = 0.0, numbers: bool = False
) -> list[Question]:
    """`count` cloze questions from the corpus's pre-training examples (a seeded uniform sample of the first
    `SCAN_PER_QUESTION * count` sentences with a salient span, one span each); a `wh_first` fraction of them
    with the wh-word moved to the front; with `numbers`, the sentences' quantities are answers too. Each names the
    blocks holding its sentence (`source_blocks`; none in corpora written before sentences recorded them)."""
    from realm.data.examples import read_pretraining_examples

    if count <= 0:
        return []
    rng = np.random.default_rng(seed)
    reservoir: list[tuple[Question, tuple]] = []
    seen = 0
    for example in read_pretraining_examples(data_dir).take(SCAN_PER_QUESTION * count).as_numpy_iterator():
        text = example["text"].decode("utf-8")
        spans = [
            (int(s), int(e), k.decode())
            for s, e, k in zip(
                example["span_char_starts"], example["span_char_ends"], example["span_kinds"], strict=True
            )
        ]
        if numbers:
            spans += [(s, e, QUANTITY) for s, e in quantity_spans(text, [(s, e) for s, e, _ in spans])]
        if not spans:
            continue
        start, end, kind = spans[int(rng.integers(len(spans)))]
        front = bool(rng.random() < wh_first) if wh_first else False  # no draw when off: samples stay as they were
        question = cloze_question(text, start, end, kind, front, example["title"].decode("utf-8"))
        if question is None:
            continue
        seen += 1
        own = (example["doc_uid"], tuple(int(i) for i in example["block_indices"]))
        if len(reservoir) < count:  # reservoir sampling: every usable sentence equally likely
            reservoir.append((question, own))
        else:
            slot = int(rng.integers(seen))
            if slot < count:
                reservoir[slot] = (question, own)
    if not reservoir:
        logger.warning("%s: no sentence with a salient span makes a cloze question", data_dir)
    logger.info("%d cloze questions from %d usable corpus sentences", len(reservoir), seen)
    return with_source_blocks(data_dir, reservoir)


def with_source_blocks(data_dir: str, reservoir: list[tuple[Question, tuple]]) -> list[Question]:
    """The questions with the block ids of their sentence's (doc_uid, block_index) positions."""
    from realm.data.block_store import BlockStore

    flat = [(doc, position) for _, (doc, positions) in reservoir for position in positions]
    if not flat:
        return [question for question, _ in reservoir]
    ids = iter(BlockStore.open(data_dir).find_blocks([d for d, _ in flat], [p for _, p in flat]).tolist())
    return [
        dataclasses.replace(question, source_blocks=tuple(i for i in (next(ids) for _ in positions) if i >= 0))
        for question, (_, positions) in reservoir
    ]
