"""RealmForOpenQA: parity with transformers' RealmForOpenQA + RealmRetriever, batching, answers as source text."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from realm import pretrained
from tests.conftest import TINY_HF_CONFIG

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

BLOCKS = [
    "Abraham Lincoln was the 16th President of the United States, serving from 1861 until 1865.",
    "Charles Darwin wrote On the Origin of Species, published on 24 November 1859.",
    "The Amazon River in South America is the largest river by discharge volume of water in the world.",
    "Alan Turing was an English mathematician and a founder of theoretical computer science.",
    "Mount Everest, at 8,849 metres, is Earth's highest mountain above sea level.",
    "Marie Curie was the first woman to win a Nobel Prize, in Physics in 1903.",
    "Paris is the capital and most populous city of France.",
    "Ada Lovelace is often regarded as the first computer programmer.",
    "The Great Wall of China was built across the historical northern borders of ancient Chinese states.",
    "Albert Einstein developed the theory of relativity.",
]
QUESTIONS = [
    "who was the 16th president of the united states?",
    "who wrote on the origin of species?",
    "what is the capital of france?",
]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    from realm.resources import default_vocab_file

    torch.manual_seed(11)
    directory = tmp_path_factory.mktemp("openqa")
    config = transformers.RealmConfig(
        **{
            **TINY_HF_CONFIG,
            "vocab_size": 30522,
            "num_block_records": len(BLOCKS),
            "searcher_beam_size": 6,
            "reader_beam_size": 3,
            "reader_seq_len": 48,
            "max_span_width": 5,
        }
    )
    tokenizer = transformers.RealmTokenizer(default_vocab_file())
    records = np.array([b.encode() for b in BLOCKS], dtype=object)
    retriever = transformers.RealmRetriever(block_records=records, tokenizer=tokenizer)
    hf = transformers.RealmForOpenQA(config, retriever=retriever).eval()
    with torch.no_grad():
        hf.block_emb.copy_(torch.randn(len(BLOCKS), config.retriever_proj_size))
    hf.save_pretrained(str(directory), safe_serialization=False)
    np.save(str(directory / "block_records.npy"), records, allow_pickle=True)
    return hf, tokenizer, str(directory)


def _hf_answer(hf, tokenizer, question):
    inputs = tokenizer([question], return_tensors="pt")
    with torch.no_grad():
        question_emb = hf.embedder(**inputs).projected_score
        retrieved = torch.topk(question_emb @ hf.block_emb.T, k=hf.config.searcher_beam_size).indices[0]
        out = hf(**inputs, return_dict=True)
    return retrieved.numpy(), out


def test_open_qa_parity_with_hf(checkpoints):
    hf, tokenizer, directory = checkpoints
    ours = pretrained.from_pretrained(directory)
    assert type(ours).__name__ == "RealmForOpenQA"
    out = ours(QUESTIONS)
    for b, question in enumerate(QUESTIONS):
        retrieved, ref = _hf_answer(hf, tokenizer, question)
        np.testing.assert_array_equal(out["retrieved_block_ids"].numpy()[b], retrieved)
        assert int(out["block_idx"][b]) == int(ref.reader_output.block_idx)
        assert int(out["start_pos"][b]) == int(ref.reader_output.start_pos[0])
        assert int(out["end_pos"][b]) == int(ref.reader_output.end_pos[0])
        # HF returns lower-cased wordpieces; ours returns the source text, which tokenizes to the same ids.
        answer = out["predicted_answer"].numpy()[b].decode()
        hf_answer = tokenizer.decode(ref.predicted_answer_ids)
        assert tokenizer(answer, add_special_tokens=False).input_ids == ref.predicted_answer_ids.tolist()
        predicted_block = BLOCKS[int(out["predicted_block_id"][b])]
        assert answer in predicted_block, (answer, hf_answer)


def test_open_qa_batched_equals_single(checkpoints):
    _, _, directory = checkpoints
    ours = pretrained.from_pretrained(directory)
    batched = ours(QUESTIONS)
    for b, question in enumerate(QUESTIONS):
        single = ours([question])
        for field in ("retrieved_block_ids", "predicted_block_id", "start_pos", "end_pos", "predicted_answer"):
            np.testing.assert_array_equal(batched[field].numpy()[b], single[field].numpy()[0], err_msg=field)
        np.testing.assert_allclose(batched["answer_score"].numpy()[b], single["answer_score"].numpy()[0], atol=1e-4)


def test_open_qa_round_trip_keeps_corpus(checkpoints, tmp_path):
    _, _, directory = checkpoints
    ours = pretrained.from_pretrained(directory)
    pretrained.save_pretrained(ours, str(tmp_path))
    again = pretrained.from_pretrained(str(tmp_path))
    np.testing.assert_array_equal(again.block_emb.numpy(), ours.block_emb.numpy())
    assert [r.decode() for r in again.block_records.numpy()] == BLOCKS
    np.testing.assert_array_equal(
        again(QUESTIONS)["predicted_answer"].numpy(), ours(QUESTIONS)["predicted_answer"].numpy()
    )


def test_open_qa_missing_block_records(checkpoints, tmp_path):
    import shutil

    from realm.errors import CheckpointError

    _, _, directory = checkpoints
    copy = tmp_path / "copy"
    shutil.copytree(directory, copy)
    (copy / "block_records.npy").unlink()
    with pytest.raises(CheckpointError, match=r"block_records\.npy: block records not found"):
        pretrained.from_pretrained(str(copy))


def test_spans_made_of_question_words_are_ruled_out():
    from realm.modeling.layers.heads import span_candidates
    from realm.modeling.span_rules import spans_beyond_the_question
    from realm.tokenization import RealmTokenizer

    tokenizer = RealmTokenizer.from_default_vocab()
    pairs = tokenizer.encode_pairs(
        ["who developed the martial art aikido"], ["Aikido was developed by Morihei Ueshiba."], 32
    )
    allowed = spans_beyond_the_question(
        pairs["input_ids"], pairs["token_type_ids"], pairs["attention_mask"], pairs["block_mask"], 8
    ).numpy()[0]
    starts, ends = (x.numpy() for x in span_candidates(32, 8))
    pieces = pairs["input_ids"].numpy()[0]

    def span(text):
        ids = tokenizer.tokenize([text]).to_list()[0]
        at = next(i for i in range(32) if list(pieces[i : i + len(ids)]) == ids and pairs["block_mask"][0, i])
        return int(np.flatnonzero((starts == at) & (ends == at + len(ids) - 1))[0])

    assert not allowed[span("aikido")] and not allowed[span("developed")]  # all in the question
    assert allowed[span("morihei ueshiba")] and allowed[span("aikido was")]  # a word the question lacks


def test_spans_count_the_question_content_words_they_repeat():
    from realm.modeling.span_rules import question_words_in_spans, vocab_content_words

    def rule(tokenizer, pairs):
        content = tf.constant(vocab_content_words(tokenizer.vocab))
        return question_words_in_spans(
            pairs["input_ids"], pairs["token_type_ids"], pairs["attention_mask"], pairs["block_mask"], content, 8
        )

    question = "the first letter of the latin alphabet derives from which ancient greek letter"
    block = "Alphabet comes from the Late Latin word alphabetum, from alpha, the first Greek letter."
    count = _span_values(rule, question, block)
    assert count("alpha") == 0
    assert count("late latin word alphabetum") == 2  # "latin", and "alphabet" of "alphabet ##um"
    assert count("the first greek letter") == 3  # "the" is no content word
    assert count("comes from the late") == 0  # stop words and words the question lacks


def _span_values(rule, question: str, block: str, width: int = 8):
    """What `rule` ([1, spans] over the question and block) gives each span of the block's words (lower-cased
    text -> value)."""
    from realm.modeling.layers.heads import span_candidates
    from realm.tokenization import RealmTokenizer

    tokenizer = RealmTokenizer.from_default_vocab()
    pairs = tokenizer.encode_pairs([question], [block], 48)
    values = rule(tokenizer, pairs).numpy()[0]
    starts, ends = (x.numpy() for x in span_candidates(48, width))
    pieces = pairs["input_ids"].numpy()[0]

    def at(text):
        ids = tokenizer.tokenize([text]).to_list()[0]
        first = next(i for i in range(48) if list(pieces[i : i + len(ids)]) == ids and pairs["block_mask"][0, i])
        return values[np.flatnonzero((starts == first) & (ends == first + len(ids) - 1))[0]]

    return at


def _allowed_spans(rule, question: str, block: str, width: int = 8):
    """Whether `rule` allows each span of the block's words (lower-cased text -> allowed)."""
    value = _span_values(rule, question, block, width)
    return lambda text: bool(value(text))


def _kind_rule(spans_of_kind, question: str, block: str):
    """Which spans of the block's words an answer-type rule of realm.modeling.span_rules allows for the question."""
    from realm.modeling.span_rules import vocab_token_kinds

    def rule(tokenizer, pairs):
        kinds = tf.constant(vocab_token_kinds(tokenizer.vocab))
        return spans_of_kind(tf.constant([question]), pairs["input_ids"], pairs["block_mask"], kinds, 8)

    return _allowed_spans(rule, question, block)


def _asked_kind(question: str, block: str):
    from realm.modeling.span_rules import spans_of_the_asked_kind

    return _kind_rule(spans_of_the_asked_kind, question, block)


def test_questions_asking_for_a_number_keep_spans_that_start_with_one():
    block = "The AFL began play in 1960 with eight teams, and Aruba in 1636 had some 25,000 people by April 12, 1961."
    for question in ("how many teams did the afl begin play with", "in what year was it", "When was it founded?"):
        allowed = _asked_kind(question, block)
        assert allowed("eight") and allowed("1960") and allowed("25,000") and allowed("april 12, 1961")
        assert allowed("eight teams")  # a number and its unit ("seven months")
        assert not allowed("aruba in 1636") and not allowed("teams") and not allowed("the afl")


def test_questions_asking_for_a_name_keep_spans_with_a_word():
    block = "Einstein worked at the patent office in Bern from 1902 to 1909, in June 1905 writing four papers."
    allowed = _asked_kind("where did einstein work as an examiner", block)
    assert allowed("patent office") and allowed("bern from 1902")
    assert not allowed("1909") and not allowed("june 1905") and not allowed("1909,")
    other = _asked_kind("what did einstein write in 1905", block)  # "what" asks for anything
    assert other("1909") and other("patent office") and other("four papers")


def test_the_answer_type_rule_narrows_answers_but_never_leaves_a_question_without_one(checkpoints):
    _, _, directory = checkpoints
    model = pretrained.from_pretrained(directory)
    questions = ["how many rivers are in south america", "when was paris founded", "who wrote about species"]
    free = [a.decode() for a in model(questions)["predicted_answer"].numpy()]
    model.answer_type_rules = True
    # Every block with a year: numbers are answered with one, names with a word.
    model.set_block_records(np.array([f"{b} It was noted in 1999.".encode() for b in BLOCKS], dtype=object))
    numbers, dates, names = (a.decode() for a in model(questions)["predicted_answer"].numpy())
    assert numbers[0].isdigit() and dates[0].isdigit(), (numbers, dates)
    assert any(c.isalpha() for c in names), names
    # No block with a numeral: no span of the asked kind, so the rule steps aside and the answers stay.
    undigited = ["".join(c for c in b if not c.isdigit()) for b in BLOCKS]
    model.set_block_records(np.array([b.encode() for b in undigited], dtype=object))
    model.answer_type_rules = False
    before = [a.decode() for a in model(questions)["predicted_answer"].numpy()]
    model.answer_type_rules = True
    assert [a.decode() for a in model(questions)["predicted_answer"].numpy()] == before
    assert free  # the original corpus answered too


def _of_a_measure(question: str, block: str):
    from realm.modeling.span_rules import spans_of_a_measure

    return _kind_rule(spans_of_a_measure, question, block)


def test_questions_asking_for_a_measurement_keep_numbers_ending_with_a_unit():
    block = (
        "Seventeen subspecies are known; gestation lasts seven months and the burrow is 13 metres long, 1,023 feet "
        "deep, born on day 3, the second cub."
    )
    for question in ("how long is the gestation period", "How long is the burrow?"):  # a duration or a length
        allowed = _of_a_measure(question, block)
        assert allowed("seven months") and allowed("13 metres") and allowed("1,023 feet")
        assert not allowed("seventeen") and not allowed("seventeen subspecies") and not allowed("13")
        assert not allowed("gestation lasts seven months")  # a measurement starts with its number
        assert not allowed("13 metres long")  # ... and ends with its unit
        assert not allowed("3, the second")  # "second" is the ordinal far more often
    for question in ("how far is the burrow", "how tall is it", "how high", "how deep", "how wide"):  # a length
        allowed = _of_a_measure(question, block)
        assert allowed("13 metres") and allowed("1,023 feet") and not allowed("seven months")
    for question in ("how many subspecies are known", "when was it named", "what lasts seven months"):
        allowed = _of_a_measure(question, block)  # not a measurement: the rule keeps every span
        assert allowed("seventeen") and allowed("13") and allowed("subspecies")


def test_the_measure_rule_answers_with_a_unit_where_one_is_offered_and_steps_aside_otherwise(checkpoints):
    _, _, directory = checkpoints
    model = pretrained.from_pretrained(directory)
    model.answer_type_rules = True
    questions = ["how long did the president serve", "how many rivers are in south america"]
    # Every block offers many bare counts and one measurement: without the rule a count wins, with it the unit.
    counts = "Counts: 3, 5, 8, 13, 21, 34, 55, 89 and 144"
    model.set_block_records(np.array([f"{b} {counts} over seven months.".encode() for b in BLOCKS], dtype=object))
    unruled, counted = (a.decode() for a in model(questions)["predicted_answer"].numpy())
    assert "months" not in unruled, unruled  # the test's premise: the rule has something to change
    model.measure_units = True
    measured, counted_too = (a.decode() for a in model(questions)["predicted_answer"].numpy())
    assert measured.lower().endswith("months") and measured[0].isalnum(), measured
    assert counted_too == counted  # a question asking for no measurement: no change
    # No unit anywhere: the number rule alone decides, as if the measure rule were off.
    model.set_block_records(np.array([f"{b} {counts}.".encode() for b in BLOCKS], dtype=object))
    with_rule = [a.decode() for a in model(questions)["predicted_answer"].numpy()]
    model.measure_units = False
    assert [a.decode() for a in model(questions)["predicted_answer"].numpy()] == with_rule


def test_the_relevance_weight_scales_the_retrieval_score_in_span_scores(checkpoints):
    _, _, directory = checkpoints
    model = pretrained.from_pretrained(directory)
    assert model.relevance_weight == 1.0  # HF's checkpoints: the span's logit plus the block's, as HF predicts
    whole = model(QUESTIONS)
    model.relevance_weight = 0.0
    spans_only = model(QUESTIONS)
    beam = model.config.reader_beam_size
    scores = whole["retrieval_scores"].numpy()[:, :beam, None]
    np.testing.assert_allclose(spans_only["logits"].numpy(), whole["logits"].numpy() - scores, rtol=1e-5, atol=1e-3)
    model.relevance_weight = 0.5
    half = model(QUESTIONS)
    np.testing.assert_allclose(half["logits"].numpy(), whole["logits"].numpy() - scores / 2, rtol=1e-5, atol=1e-3)


def _reader_inputs(seed: int) -> dict:
    """Two questions, three blocks of 12 tokens each, one answer span per block: a tiny reader's inputs."""
    rng = np.random.default_rng(seed)
    return dict(
        input_ids=rng.integers(5, 100, (2, 3, 12)).astype("int32"),
        attention_mask=np.ones((2, 3, 12), "int32"),
        token_type_ids=np.ones((2, 3, 12), "int32"),
        block_mask=np.ones((2, 3, 12), "int32"),
        relevance_score=rng.normal(size=(2, 3)).astype("float32"),
        start_positions=np.full((2, 3, 1), 2, "int32"),
        end_positions=np.full((2, 3, 1), 3, "int32"),
        has_answers=np.ones((2, 3), bool),
    )


def test_a_span_mask_rules_spans_out_of_the_prediction_but_not_the_loss():
    from realm.modeling.models import RealmReader
    from realm.presets import model_config

    reader = RealmReader(model_config("tiny", max_span_width=3)).build_for_inference()
    inputs = _reader_inputs(seed=0)
    free = reader(**inputs)
    best = (np.arange(2), free["block_idx"].numpy(), free["candidate"].numpy())
    mask = np.ones(free["logits"].shape, "float32")
    mask[best] = 0.0  # rule out exactly the span each question would have answered with
    ruled = reader(**inputs, span_mask=mask)
    assert not np.any(
        (ruled["block_idx"].numpy() == free["block_idx"].numpy())
        & (ruled["candidate"].numpy() == free["candidate"].numpy())
    )
    np.testing.assert_allclose(ruled["loss"].numpy(), free["loss"].numpy(), rtol=1e-6)
    np.testing.assert_allclose(ruled["logits"].numpy(), free["logits"].numpy(), rtol=1e-6)
    # The answer's score is the one its span won with, not the best of the spans the mask ruled out.
    chosen = (np.arange(2), ruled["block_idx"].numpy(), ruled["candidate"].numpy())
    np.testing.assert_allclose(ruled["predicted_score"].numpy(), free["logits"].numpy()[chosen], rtol=1e-6)
    assert np.all(ruled["predicted_score"].numpy() < free["predicted_score"].numpy())


def test_per_block_spans_rank_by_realms_factorisation_and_keep_masked_spans_out():
    """REALM's p(z | x) p(s | z, x): within-block log-softmax of the span logits plus the log-softmax of the
    blocks' relevance; the loss and the raw logits stay the joint form's."""
    from realm.modeling.models import RealmReader
    from realm.presets import model_config

    reader = RealmReader(model_config("tiny", max_span_width=3)).build_for_inference()
    inputs = _reader_inputs(seed=1)
    joint = reader(**inputs)
    mask = np.ones(joint["logits"].shape, "float32")
    mask[:, 1, :] = 0.0  # block 1 offers no span at all
    mask[0, 0, 0] = 0.0
    factored = reader(**inputs, span_mask=mask, per_block_spans=True)
    spans = joint["logits"].numpy() - inputs["relevance_score"][:, :, None]
    spans = np.where(mask > 0, spans, -np.inf)
    within = spans - np.log(np.exp(spans).sum(axis=-1, keepdims=True))
    relevance = inputs["relevance_score"] - np.log(np.exp(inputs["relevance_score"]).sum(axis=-1, keepdims=True))
    expected = within + relevance[:, :, None]
    predicted = factored["predicted_logits"].numpy()
    allowed = mask > 0
    np.testing.assert_allclose(predicted[allowed], expected[allowed], rtol=1e-5, atol=1e-5)
    assert np.all(predicted[~allowed] < -1e30)
    chosen = (np.arange(2), factored["block_idx"].numpy(), factored["candidate"].numpy())
    assert np.all(mask[chosen] > 0)
    best = np.where(allowed, expected, -np.inf).reshape(2, -1).max(axis=1)
    np.testing.assert_allclose(factored["predicted_score"].numpy(), best, rtol=1e-5)
    np.testing.assert_allclose(factored["loss"].numpy(), joint["loss"].numpy(), rtol=1e-6)
    np.testing.assert_allclose(factored["logits"].numpy(), joint["logits"].numpy(), rtol=1e-6)


def test_the_width_penalty_ranks_narrower_spans_first_without_touching_the_loss(checkpoints):
    _, _, directory = checkpoints
    model = pretrained.from_pretrained(directory)
    assert model.span_width_penalty == 0.0  # HF's checkpoints: no prior, as HF predicts
    free = model(QUESTIONS)
    widths = (free["end_pos"] - free["start_pos"]).numpy()
    assert widths.max() > 0, "the fixture's reader should pick some wide span, or the test shows nothing"
    model.span_width_penalty = 1e4  # so large that only one-wordpiece spans can win
    narrow = model(QUESTIONS)
    assert np.all((narrow["end_pos"] - narrow["start_pos"]).numpy() == 0)
    np.testing.assert_allclose(narrow["logits"].numpy(), free["logits"].numpy(), rtol=1e-6)
    # Its score is the span's logit with the prior: a one-wordpiece span pays none.
    chosen = (np.arange(len(QUESTIONS)), narrow["block_idx"].numpy(), narrow["candidate"].numpy())
    np.testing.assert_allclose(narrow["answer_score"].numpy(), free["logits"].numpy()[chosen], rtol=1e-6)
    model.span_width_penalty = 0.1
    mild = model(QUESTIONS)
    chosen = (np.arange(len(QUESTIONS)), mild["block_idx"].numpy(), mild["candidate"].numpy())
    mild_widths = (mild["end_pos"] - mild["start_pos"]).numpy()
    expected = free["logits"].numpy()[chosen] - 0.1 * mild_widths
    np.testing.assert_allclose(mild["answer_score"].numpy(), expected, rtol=1e-5, atol=1e-5)


def test_the_question_word_prior_ranks_spans_that_repeat_the_question_last(checkpoints):
    from realm.modeling.span_rules import question_words_in_spans

    _, _, directory = checkpoints
    model = pretrained.from_pretrained(directory)
    assert model.question_word_penalty == 0.0  # HF's checkpoints: no prior, as HF predicts
    # Questions that repeat most of a block, so the fixture's (random) reader picks spans that repeat them.
    questions = [
        "abraham lincoln was the 16th president of the united states serving from 1861 until 1865",
        "paris is the capital and most populous city of france",
        "albert einstein developed the theory of relativity",
    ]
    free = model(questions)
    beam = model.config.reader_beam_size
    read = tf.gather(model.block_records, free["retrieved_block_ids"][:, :beam])  # the blocks the reader read
    pairs = model.tokenizer.encode_pairs(
        tf.repeat(tf.constant(questions), beam), tf.reshape(read, [-1]), model.config.reader_seq_len
    )
    longest = int(tf.reduce_max(tf.reduce_sum(pairs["attention_mask"], axis=-1)))
    repeated = (
        question_words_in_spans(
            *(pairs[k][:, :longest] for k in ("input_ids", "token_type_ids", "attention_mask", "block_mask")),
            model._content_words,
            model.config.max_span_width,
        )
        .numpy()
        .reshape(len(questions), beam, -1)
    )
    chosen = (np.arange(len(questions)), free["block_idx"].numpy(), free["candidate"].numpy())
    assert repeated[chosen].max() > 0, "the fixture's reader should repeat the question, or this shows nothing"
    model.question_word_penalty = 1e4  # so large that a span repeating the question never wins
    strict = model(questions)
    chosen = (np.arange(len(questions)), strict["block_idx"].numpy(), strict["candidate"].numpy())
    assert np.all(repeated[chosen] == 0)
    np.testing.assert_allclose(strict["logits"].numpy(), free["logits"].numpy(), rtol=1e-6)
    model.question_word_penalty = 0.5
    mild = model(questions)
    chosen = (np.arange(len(questions)), mild["block_idx"].numpy(), mild["candidate"].numpy())
    expected = free["logits"].numpy()[chosen] - 0.5 * repeated[chosen]
    np.testing.assert_allclose(mild["answer_score"].numpy(), expected, rtol=1e-5, atol=1e-5)


def test_answers_merge_by_their_normalised_text():
    from realm.modeling.answer_merging import merge_by_answer_text

    texts = tf.constant([["Alpha", "alpha,", "The", "the", "Middle English", "Alpha Centauri"]])
    scores = tf.constant([[1.0, 1.0, 5.0, 5.0, 1.5, 0.5]])
    merged = merge_by_answer_text(scores, texts).numpy()[0]
    np.testing.assert_allclose(merged[:2], 1.0 + np.log(2.0), rtol=1e-6)  # one text, its probabilities summed
    np.testing.assert_allclose(merged[2:], [5.0, 5.0, 1.5, 0.5], rtol=1e-6)  # "the" is no text; the rest alone
    assert merged[0] > merged[4]  # the repeated name outranks the phrase its single mention lost to


def test_spans_a_rule_masked_out_are_never_listed_as_runners_up():
    """A "how many" question whose blocks hold two numbers: the other spans sit at the mask's large negative and
    must not pad the list as answers at 0%."""
    from types import SimpleNamespace

    from realm.modeling.answer_merging import ANSWER_CANDIDATES
    from realm.modeling.layers.attention import large_negative
    from realm.modeling.models.open_qa import RealmForOpenQA

    masked = large_negative(tf.float32)
    logits = tf.constant([[[2.0, masked, 1.0, masked, masked, masked]]])  # [batch, blocks read, spans]
    reader_out = {
        "predicted_logits": logits,
        "candidate_starts": tf.range(6),
        "candidate_ends": tf.range(6),
    }

    def span_texts(block_idx, start_pos, end_pos):
        return tf.gather(tf.constant(["12", "the", "seven", "of", "months", "and"]), start_pos)

    for merge in (100, 0):
        model = SimpleNamespace(answer_merge_top_k=merge)
        ranked = RealmForOpenQA._ranked_answers(model, reader_out, span_texts, 1)
        assert ranked["answer_candidates"].numpy()[0].tolist() == [b"12", b"seven"] + [b""] * (ANSWER_CANDIDATES - 2)
        probabilities = ranked["answer_candidate_probabilities"].numpy()[0]
        np.testing.assert_allclose(probabilities[:2], [1 / (1 + np.exp(-1.0)), 1 / (1 + np.exp(1.0))], rtol=1e-5)
        assert not probabilities[2:].any()


def test_merged_answers_are_the_likeliest_text_among_the_best_spans(checkpoints):
    from realm.modeling.answer_merging import ANSWER_CANDIDATES, normalized_answer_texts

    _, _, directory = checkpoints
    model = pretrained.from_pretrained(directory)
    assert model.answer_merge_top_k == 0  # HF's checkpoints: the best span, as HF predicts
    # Blocks that repeat each other's names, so some answer text is spelled by several spans.
    model.set_block_records(np.array([f"{b} {BLOCKS[0]}".encode() for b in BLOCKS], dtype=object))
    single = model(QUESTIONS)
    model.answer_merge_top_k = 200
    merged = model(QUESTIONS)
    np.testing.assert_allclose(merged["logits"].numpy(), single["logits"].numpy(), rtol=1e-6)
    # Recompute the merge from the spans' own texts: the answer's score is its text's log-sum-exp over the top 200.
    flat = single["logits"].numpy().reshape(len(QUESTIONS), -1)
    starts, ends = single["candidate_starts"].numpy(), single["candidate_ends"].numpy()
    records = model.block_records.numpy()
    pairs = model.tokenizer.encode_pairs(
        tf.repeat(tf.constant(QUESTIONS), model.config.reader_beam_size),
        tf.reshape(tf.gather(records, single["retrieved_block_ids"][:, : model.config.reader_beam_size]), [-1]),
        model.config.reader_seq_len,
    )
    beam, seq = model.config.reader_beam_size, pairs["input_ids"].shape[1]
    token_starts = pairs["block_token_start"].numpy().reshape(len(QUESTIONS), beam, seq)
    token_ends = pairs["block_token_end"].numpy().reshape(len(QUESTIONS), beam, seq)
    for q in range(len(QUESTIONS)):
        top = np.argsort(-flat[q], kind="stable")[:200]
        texts = []
        for i in top:
            block, span = divmod(int(i), len(starts))
            source = records[single["retrieved_block_ids"].numpy()[q, block]]
            texts.append(source[token_starts[q, block, starts[span]] : token_ends[q, block, ends[span]]])
        normalized = normalized_answer_texts(tf.constant(texts)).numpy()
        totals = {}  # a text that normalises to nothing is no answer: each such span stands alone
        for rank, (text, score) in enumerate(zip(normalized, flat[q][top], strict=True)):
            key = text or rank
            totals[key] = np.logaddexp(totals.get(key, -np.inf), score)
        answer = normalized_answer_texts(merged["predicted_answer"][q]).numpy()
        assert answer == max(totals, key=totals.get)
        np.testing.assert_allclose(merged["answer_score"].numpy()[q], totals[answer], rtol=1e-5)
        # The runners-up: the likeliest distinct texts, the answer first, each with its share of all spans' mass.
        likeliest = sorted(totals, key=lambda key: -totals[key])[:ANSWER_CANDIDATES]
        listed = normalized_answer_texts(merged["answer_candidates"][q]).numpy()
        assert [t for t in listed if t] == [k for k in likeliest if isinstance(k, bytes)]
        assert listed[0] == answer
        np.testing.assert_allclose(
            merged["answer_candidate_probabilities"].numpy()[q],
            [np.exp(totals[k] - np.logaddexp.reduce(flat[q])) for k in likeliest],
            rtol=1e-4,
        )
        # Unmerged, the list is each text's best single span, the answer (the best span) first.
        assert single["answer_candidates"].numpy()[q][0] == single["predicted_answer"].numpy()[q]
        assert len(set(normalized_answer_texts(single["answer_candidates"][q]).numpy())) == ANSWER_CANDIDATES
    # Every block ends with BLOCKS[0]: its spans, read in each block, outvote the best single span elsewhere.
    assert list(single["predicted_answer"].numpy()) != list(merged["predicted_answer"].numpy())


def test_blocks_rerank_by_their_articles_best_score_and_keep_realms_order_at_weight_zero():
    from realm.retrieval.article_scores import article_ids_of, rerank_by_article

    articles = tf.constant(article_ids_of(["Aardvark", "Aardvark", "Aardwolf", "Abba"]))
    # Retrieved best first: the aardwolf's block, the aardvark's lead, a third article, the aardvark's later block.
    ids = tf.constant([[2, 0, 3, 1]])
    scores = tf.constant([[10.0, 9.0, 8.0, 4.0]])
    same_scores, same_ids = rerank_by_article(scores, ids, articles, 0.0)
    assert same_ids.numpy().tolist() == [[2, 0, 3, 1]] and same_scores.numpy().tolist() == [[10, 9, 8, 4]]
    smoothed, reranked = rerank_by_article(scores, ids, articles, 0.5)
    # The aardvark's later block: 0.5 * 4 + 0.5 * 9 = 6.5, still behind Abba's 8; each article's best keeps its own.
    assert reranked.numpy().tolist() == [[2, 0, 3, 1]]
    np.testing.assert_allclose(smoothed.numpy(), [[10.0, 9.0, 8.0, 6.5]])
    smoothed, reranked = rerank_by_article(scores, ids, articles, 0.9)
    assert reranked.numpy().tolist() == [[2, 0, 1, 3]]  # 0.1 * 4 + 0.9 * 9 = 8.5: ahead of Abba's 8
    np.testing.assert_allclose(smoothed.numpy(), [[10.0, 9.0, 8.5, 8.0]], rtol=1e-6)


def test_a_model_ranking_by_article_reads_blocks_in_that_order(checkpoints, tmp_path):
    from realm.modeling.models.open_qa import ARTICLE_SCORE_WEIGHT_KEY

    _, _, directory = checkpoints
    model = pretrained.from_pretrained(directory)
    as_retrieved = model(QUESTIONS)
    model.set_block_titles(["one article"] * 5 + [f"article {i}" for i in range(5)])
    model.article_score_weight = 0.9
    by_article = model(QUESTIONS)
    ids, scores = as_retrieved["retrieved_block_ids"].numpy(), as_retrieved["retrieval_scores"].numpy()
    for row, (row_ids, row_scores) in enumerate(zip(ids, scores, strict=True)):
        article = np.where(row_ids < 5, 0, row_ids)  # blocks 0-4 are one article
        best = {a: row_scores[article == a].max() for a in set(article)}
        expected = 0.1 * row_scores + 0.9 * np.array([best[a] for a in article])
        order = np.argsort(-expected, kind="stable")
        assert by_article["retrieved_block_ids"].numpy()[row].tolist() == row_ids[order].tolist()
        np.testing.assert_allclose(by_article["retrieval_scores"].numpy()[row], expected[order], rtol=1e-5)
    # Saved with the weight, loaded as evaluation and the export load it: the titles come back with it.
    model.config.extra[ARTICLE_SCORE_WEIGHT_KEY] = 0.9
    pretrained.save_pretrained(model, str(tmp_path / "saved"))
    loaded = pretrained.from_pretrained(str(tmp_path / "saved"))
    assert loaded.article_score_weight == 0.9
    np.testing.assert_array_equal(
        loaded(QUESTIONS)["retrieved_block_ids"].numpy(), by_article["retrieved_block_ids"].numpy()
    )
    model.set_block_titles([f"article {i}" for i in range(10)])  # every block its own article: REALM's order
    np.testing.assert_array_equal(model(QUESTIONS)["retrieved_block_ids"].numpy(), ids)
    untitled = pretrained.from_pretrained(directory)
    untitled.article_score_weight = 0.9
    with pytest.raises(ValueError, match=r"ranks blocks by article .* but holds no titles"):
        untitled(QUESTIONS)


def test_a_hybrid_model_ranks_blocks_by_dense_plus_weighted_bm25(checkpoints, tmp_path):
    from realm.modeling.models.open_qa import LEXICAL_WEIGHT_KEY
    from realm.retrieval.lexical import LexicalIndex

    _, _, directory = checkpoints
    model = pretrained.from_pretrained(directory)
    dense = model(QUESTIONS)
    titles = [f"article {i}" for i in range(len(BLOCKS))]
    model.set_lexical_index(LexicalIndex.build(BLOCKS, titles))
    model.lexical_weight = 2.0
    hybrid = model(QUESTIONS)
    question_emb = model.retrieve(QUESTIONS)[0].numpy()
    expected = question_emb @ model.block_emb.numpy().T + 2.0 * model.lexical_index.scores(tf.constant(QUESTIONS))
    beam = hybrid["retrieved_block_ids"].shape[1]
    np.testing.assert_array_equal(hybrid["retrieved_block_ids"].numpy(), np.argsort(-expected, axis=1)[:, :beam])
    # atol: scores near 0 differ by float32 rounding between numpy's and TF's products (2.6e-7 on an AVX2 host).
    np.testing.assert_allclose(
        hybrid["retrieval_scores"].numpy(), -np.sort(-expected, axis=1)[:, :beam], rtol=1e-5, atol=1e-5
    )
    # The tiny model's dense ranking is near random; the words the questions share with their blocks decide.
    assert [int(r[0]) for r in hybrid["retrieved_block_ids"].numpy()] == [0, 1, 6]
    assert dense["retrieved_block_ids"].numpy().tolist() != hybrid["retrieved_block_ids"].numpy().tolist()
    # Saved with the weight, loaded as evaluation and the export load it: the index is rebuilt from the blocks.
    model.config.extra[LEXICAL_WEIGHT_KEY] = 2.0
    model.set_block_titles(titles)
    pretrained.save_pretrained(model, str(tmp_path / "saved"))
    loaded = pretrained.from_pretrained(str(tmp_path / "saved"))
    assert loaded.lexical_weight == 2.0 and loaded.lexical_index is not None
    np.testing.assert_array_equal(
        loaded(QUESTIONS)["retrieved_block_ids"].numpy(), hybrid["retrieved_block_ids"].numpy()
    )
    assert pretrained.from_pretrained(directory).lexical_index is None  # dense-only models hold no index
    no_index = pretrained.from_pretrained(directory)
    no_index.lexical_weight = 2.0
    with pytest.raises(ValueError, match=r"adds BM25 to its retrieval .* but holds no lexical index"):
        no_index(QUESTIONS)
    with pytest.raises(ValueError, match="the lexical index holds 2 blocks"):
        no_index.set_lexical_index(LexicalIndex.build(BLOCKS[:2]))
