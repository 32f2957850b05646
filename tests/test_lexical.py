"""realm.retrieval.lexical: BM25 held as an in-graph inverted index, checked against BM25 written out per block."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from realm.retrieval.lexical import K1, B, LexicalIndex, analyze
from realm.retrieval.mips import exact_top_k

TEXTS = [
    "The aardvark (Orycteropus afer) is a medium-sized, burrowing, nocturnal mammal native to Africa.",
    "Aardwolves give birth after a gestation period of between 89 and 92 days.",
    "After a gestation period of seven months, one cub is born. The gestation ends in May.",
    "Málaga is a municipality of Spain; its café culture is old.",
    "",
]
QUESTIONS = [
    "how long is the gestation period of orycteropus afer",
    "which city is MALAGA",
    "what is the zzzzq",
    "",
    "gestation gestation",
]


def bm25_per_block(question: str, texts: list[str]) -> np.ndarray:
    """BM25 (Robertson-Sparck Jones idf with Lucene's +1, K1, B) summed over the question's words, block by block."""
    words = analyze(tf.constant(texts)).to_list()
    average = np.mean([len(w) for w in words])
    scores = np.zeros(len(texts))
    for term in analyze(tf.constant([question])).to_list()[0]:
        df = sum(term in w for w in words)
        idf = math.log(1 + (len(texts) - df + 0.5) / (df + 0.5))
        for i, w in enumerate(words):
            count = w.count(term)
            if count:
                scores[i] += idf * count * (K1 + 1) / (count + K1 * (1 - B + B * len(w) / average))
    return scores


def test_words_are_lower_cased_stripped_of_accents_and_stop_words():
    def hashes(text):
        return analyze(tf.constant([text])).to_list()[0]

    assert hashes("Málaga, the CAFÉ's 3rd!") == hashes("malaga cafe s 3rd")
    assert hashes("What is the") == []
    assert hashes("Orycteropus") != hashes("orycteropu")


def test_scores_equal_bm25_written_out_block_by_block():
    scores = LexicalIndex.build(TEXTS).variables().scores(tf.constant(QUESTIONS)).numpy()
    assert scores.shape == (len(QUESTIONS), len(TEXTS))
    for question, row in zip(QUESTIONS, scores, strict=True):
        np.testing.assert_allclose(row, bm25_per_block(question, TEXTS), rtol=1e-5, atol=1e-6)
    assert scores[0, 0] > 0 and scores[0, 2] > scores[0, 1] > 0  # the Latin name; "gestation" twice beats once
    assert scores[2].tolist() == scores[3].tolist() == [0.0] * len(TEXTS)  # unknown words, no words


def test_titles_are_indexed_with_their_blocks():
    titles = ["Aardvark", "Aardwolf", "Aardvark", "Málaga", "Empty"]
    scores = LexicalIndex.build(TEXTS, titles).variables().scores(tf.constant(["aardvark gestation"])).numpy()[0]
    np.testing.assert_allclose(
        scores,
        bm25_per_block("aardvark gestation", [f"{t} {x}" for t, x in zip(titles, TEXTS, strict=True)]),
        rtol=1e-5,
    )
    assert scores.argmax() == 2  # the aardvark's block on gestation, though its text never names the aardvark
    with pytest.raises(ValueError, match="2 titles for 5 blocks"):
        LexicalIndex.build(TEXTS, titles[:2])
    with pytest.raises(ValueError, match="the 2 blocks hold no words to index"):
        LexicalIndex.build(["", "the of !"])


def test_indexing_in_batches_gives_the_same_index(monkeypatch):
    whole = LexicalIndex.build(TEXTS)
    monkeypatch.setattr("realm.retrieval.lexical.INDEX_BATCH", 2)
    batched = LexicalIndex.build(TEXTS)
    for name in ("words", "offsets", "blocks", "weights"):
        np.testing.assert_array_equal(getattr(whole, name), getattr(batched, name))


def test_scores_run_in_a_traced_function():
    variables = LexicalIndex.build(TEXTS).variables()
    traced = tf.function(variables.scores, input_signature=[tf.TensorSpec([None], tf.string)])
    np.testing.assert_allclose(traced(tf.constant(QUESTIONS)), variables.scores(tf.constant(QUESTIONS)), rtol=1e-6)


@pytest.mark.parametrize("chunk_size", [2, 1 << 16])
def test_a_bias_adds_to_the_dense_scores_before_ranking(chunk_size):
    rng = np.random.default_rng(0)
    queries, blocks = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(7, 4)).astype(np.float32)
    bias = rng.normal(size=(3, 7)).astype(np.float32) * 5
    scores, ids = exact_top_k(
        tf.constant(queries), tf.constant(blocks), 4, chunk_size=chunk_size, bias=tf.constant(bias)
    )
    expected = queries @ blocks.T + bias
    np.testing.assert_array_equal(ids.numpy(), np.argsort(-expected, axis=1)[:, :4])
    np.testing.assert_allclose(scores.numpy(), -np.sort(-expected, axis=1)[:, :4], rtol=1e-5)


def test_the_retrieval_benchmark_counts_an_answer_within_the_first_k_blocks():
    from benchmarks.bench_lexical_retrieval import KS, recall_outcomes

    scores = np.array([[0.1, 0.9, 0.5] + [0.0] * 100, [0.9, 0.1, 0.5] + [0.0] * 100])
    hits = np.zeros_like(scores, dtype=bool)
    hits[:, 1] = True  # the answer is in block 1: ranked first for q0, third for q1
    outcomes = recall_outcomes(scores, hits, ["q0", "q1"])
    assert KS == (1, 5, 20, 100)
    assert outcomes == {"q0": (1.0, 1.0, 1.0, 1.0), "q1": (0.0, 1.0, 1.0, 1.0)}
