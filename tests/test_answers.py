"""Answer normalisation, exact/regex match, recall@k and has-answer span labelling (vs HF's retriever)."""

from __future__ import annotations

import numpy as np
import pytest

from realm.evaluation.answers import (
    answer_in_text,
    answer_token_spans,
    exact_match,
    normalize_answer,
    recall_at_k,
    regex_match,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The Beatles", "beatles"),
        ("  an   Apple,  a day! ", "apple day"),
        ("Café", "cafe\u0301"),  # NFD splits the accent off as a combining mark, which is kept (as ORQA does)
        ("U.S.A.", "usa"),
        ("Then there", "then there"),  # 'the' only as a whole word
        ("1,000", "1000"),
    ],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


def test_exact_match_tricky_cases():
    assert exact_match("the Eiffel Tower", ["Eiffel Tower"])
    assert exact_match("John Wilkes Booth.", ["john wilkes booth"])
    assert not exact_match("Booth", ["John Wilkes Booth"])
    assert exact_match("1865", ["April 1865", "1865"])
    assert not exact_match("", ["x"])


def test_regex_match_curated_trec():
    assert regex_match("Lincoln was shot", [r"lincoln"])
    assert regex_match("1,000 feet", [r"1,?000"])
    assert not regex_match("President Lincoln", [r"lincoln"])  # anchored at the start, as DrQA's regex_match
    assert not regex_match("x", ["(unclosed"])  # an invalid pattern never matches, never raises


def test_answer_in_text_whole_tokens():
    text = "Abraham Lincoln was assassinated by John Wilkes Booth in 1865."
    assert answer_in_text(text, ["john wilkes booth"])
    assert not answer_in_text(text, ["Wilkes Boo"])
    assert answer_in_text(text, [r"booth\s+in"], regex=True)


def _tokens_hold_a_run(text: str, answer: str) -> bool:
    """The definition answer_in_text implements: the answer's normalised tokens are a run of the text's."""
    tokens, needle = normalize_answer(text).split(), normalize_answer(answer).split()
    return bool(needle) and any(tokens[i : i + len(needle)] == needle for i in range(len(tokens) - len(needle) + 1))


def test_answer_in_text_is_a_run_of_whole_tokens():
    # Word edges, the text's first and last tokens, answers that normalise to nothing, punctuation and articles
    # inside tokens: random texts and answers over words that share prefixes and suffixes.
    words = ["booth", "boo", "th", "ooth", "the", "a", "Wilkes", "wilkes-booth", "1865", "186", "65", "in", "!", "Ü"]
    rng = np.random.default_rng(0)
    for _ in range(3000):
        text = " ".join(rng.choice(words, rng.integers(0, 8)))
        answer = " ".join(rng.choice(words, rng.integers(0, 3)))
        assert answer_in_text(text, [answer]) == _tokens_hold_a_run(text, answer), (text, answer)
    assert not answer_in_text("", [""]) and not answer_in_text("the", ["a"])


def test_recall_at_k_hand_made():
    hits = [[False, True, False], [False, False, False], [True, False, False], [False, False, True]]
    assert recall_at_k(hits, ks=(1, 2, 3)) == {1: 0.25, 2: 0.5, 3: 0.75}


def test_answer_token_spans_match_hf_block_has_answer():
    transformers = pytest.importorskip("transformers")
    from realm.resources import default_vocab_file

    tokenizer = transformers.RealmTokenizerFast(default_vocab_file())
    records = np.array(
        [
            b"Lincoln was shot by John Wilkes Booth. Booth fled.",
            b"Paris is the capital of France.",
            b"Booth Booth John Wilkes Booth",
        ],
        dtype=object,
    )
    retriever = transformers.RealmRetriever(block_records=records, tokenizer=tokenizer)
    question = tokenizer(["who shot lincoln?"]).input_ids
    answers = tokenizer(["John Wilkes Booth", "Booth"], add_special_tokens=False).input_ids
    has_answers, starts, ends, concat = retriever(np.array([0, 1, 2]), question, answers, return_tensors="np")
    for row, ids in enumerate(concat.input_ids):
        spans = answer_token_spans(ids.tolist(), answers, tokenizer.sep_token_id)
        assert bool(spans) == has_answers[row]
        hf_spans = [(s, e) for s, e in zip(starts[row], ends[row], strict=True) if s != -1]
        assert spans == hf_spans
