"""Open-QA fine-tuning and evaluation: question files, labelling, learning on a tiny corpus, metrics, blessing."""

from __future__ import annotations

import bz2
import json
import os

import numpy as np
import pytest

from realm.evaluation.answers import answer_in_text
from realm.evaluation.openqa import BlessingPolicy, bless, run_evaluation
from realm.finetuning.questions import Question, QuestionFileError, read_questions, sample_questions, split_of
from realm.presets import model_config
from realm.pretrained import from_pretrained

ARTICLES = {
    "Zebra Lake": "Zebra Lake is a lake in the Kettle Mountains. Its deepest point is 212 metres below the surface.",
    "Mira Holt": "Mira Holt was a Danish sculptor. She was born in Aarhus in 1871 and died in Paris in 1944.",
    "Quillon Bridge": "The Quillon Bridge crosses the Ferro River. It was designed by the engineer Tomas Weller.",
    "Orvel Station": "Orvel Station is a research base in Antarctica. It was opened in 1957 by a Norwegian team of 14.",
    "Capra Festival": "The Capra Festival is held every August in Lindholm. It celebrates the harvest of plums.",
    "Nessa Moth": "The Nessa moth is an insect native to Madagascar. Its caterpillars feed on vanilla leaves.",
}
QUESTIONS = [
    Question("what is the deepest point of zebra lake", ("212 metres",)),
    Question("where was mira holt born", ("Aarhus",)),
    Question("who designed the quillon bridge", ("Tomas Weller",)),
    Question("when was orvel station opened", ("1957",)),
    Question("in which month is the capra festival held", ("August",)),
    Question("what do nessa moth caterpillars feed on", ("vanilla leaves",)),
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> str:
    from realm.data.preprocess import PreprocessOptions, run_preprocess

    root = tmp_path_factory.mktemp("qa-corpus")
    pages = "".join(
        f"<page><title>{title}</title><ns>0</ns><id>{i}</id><revision><text>{text}</text></revision></page>\n"
        for i, (title, text) in enumerate(ARTICLES.items(), 1)
    )
    dump = root / "tiny.xml.bz2"
    dump.write_bytes(bz2.compress(f"<mediawiki>\n{pages}</mediawiki>\n".encode()))
    run_preprocess(PreprocessOptions(str(dump), str(root / "corpus"), num_shards=1), ["--direct_num_workers=1"])
    return str(root / "corpus")


# ------------------------------------------------------------------------------------------------ questions
def test_question_file_formats(tmp_path):
    jsonl = tmp_path / "nq-open.jsonl"
    jsonl.write_text('{"question": "who wrote it", "answer": ["Ann", "Ann Lee"]}\n{"question": "q2", "answers": "x"}\n')
    assert read_questions(str(jsonl)) == [Question("who wrote it", ("Ann", "Ann Lee")), Question("q2", ("x",))]
    tsv = tmp_path / "curatedtrec-test.qa.csv"
    tsv.write_text("what year was it\t['19[0-9]{2}']\n")
    assert read_questions(str(tsv)) == [Question("what year was it", ("19[0-9]{2}",), regex=True)]


def test_orqa_distributed_webquestions_and_curatedtrec_files(tmp_path):
    """The files as ORQA links them (DrQA's `WebQuestions-*.txt`, `CuratedTrec-*.txt`: one JSON object a line)."""
    from realm.evaluation.answers import regex_match

    webquestions = tmp_path / "WebQuestions-test.txt"
    webquestions.write_text(
        '{"question": "what is the name of justin bieber brother?", "answer": ["Jazmyn Bieber", "Jaxon Bieber"]}\n'
        '{"question": "what character did natalie portman play in star wars?", "answer": ["Padm\\u00e9 Amidala"]}\n'
    )
    questions = read_questions(str(webquestions))
    assert [q.answers for q in questions] == [("Jazmyn Bieber", "Jaxon Bieber"), ("Padmé Amidala",)]
    assert not any(q.regex for q in questions)
    trec = tmp_path / "CuratedTrec-test.txt"
    trec.write_text(
        '{"question": "What is the largest city in the world?", "answer": ["Tokyo|Mexico City|S.o Paulo"]}\n'
        '{"question": "How many calories are there in a Big Mac?", "answer": ["5[43]0"]}\n'
    )
    questions = read_questions(str(trec))
    assert all(q.regex for q in questions)  # automatic for CuratedTrec file names
    assert regex_match("Mexico City", questions[0].answers) and regex_match("São Paulo", questions[0].answers)
    assert regex_match("540", questions[1].answers) and not regex_match("560", questions[1].answers)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"question": "q"}\n', r"bad\.jsonl:1: answers must be a non-empty list"),
        ('{"question": "q", "answer": ["a"]}\n{"question": \n', r"bad\.jsonl:2: invalid JSON"),
        ('{"question": "", "answer": ["a"]}\n', r"bad\.jsonl:1: no question text"),
        ("\n", r"bad\.jsonl: no questions"),
    ],
)
def test_bad_question_files_name_file_and_line(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(QuestionFileError, match=message):
        read_questions(str(path))


def test_sample_question_set_is_large_fixed_and_answerable():
    questions = sample_questions()
    assert len(questions) >= 300
    assert len({q.question for q in questions}) == len(questions)
    splits = {s: sample_questions(s) for s in ("train", "dev", "test")}
    assert sum(len(v) for v in splits.values()) == len(questions)
    assert all(split_of(q) == s for s, qs in splits.items() for q in qs)
    assert min(len(v) for v in splits.values()) >= 40


# -------------------------------------------------------------------------------------------- fine-tuning
TINY_QA_MODEL = model_config("tiny", searcher_beam_size=6, reader_beam_size=2, reader_seq_len=48, max_span_width=4)


def _finetune(corpus, out, steps, **overrides):
    from realm.finetuning.trainer import FinetuneConfig, Finetuner

    config = FinetuneConfig(
        output_dir=out,
        data_dir=corpus,
        model=TINY_QA_MODEL,
        steps=steps,
        batch_size=6,
        learning_rate=overrides.pop("learning_rate", 3e-3),
        warmup_steps=5,
        query_seq_len=16,
        candidate_seq_len=48,
        log_every=10,
        checkpoint_every=overrides.pop("checkpoint_every", 100),
        **overrides,
    )
    return Finetuner(config, QUESTIONS).run()


def test_label_batch_marks_answer_blocks_and_spans():
    from realm.finetuning.trainer import label_batch
    from realm.tokenization import RealmTokenizer

    tokenizer = RealmTokenizer.from_default_vocab()
    texts = [[ARTICLES["Mira Holt"], ARTICLES["Zebra Lake"]]]
    labels = label_batch(tokenizer, [QUESTIONS[1]], texts, reader_beam=2, seq_len=48)
    assert labels["has_answers"].tolist() == [[True, False]]
    start, end = labels["start_positions"][0, 0, 0], labels["end_positions"][0, 0, 0]
    ids = labels["input_ids"][0, 0]
    assert tokenizer.decode(ids[start : end + 1]).numpy()[0].decode() == "aarhus"
    assert labels["start_positions"][0, 1].tolist() == [-1] * labels["start_positions"].shape[-1]
    regex = label_batch(tokenizer, [Question("when", ("18[0-9]{2}",), regex=True)], texts, 2, 48)
    assert regex["has_answers"].tolist() == [[True, False]] and regex["start_positions"][0, 0, 0] > 0


def test_finetuning_learns_the_training_questions(corpus, tmp_path):
    _finetune(corpus, str(tmp_path / "before"), steps=0)
    before = run_evaluation(str(tmp_path / "before" / "final"), QUESTIONS, str(tmp_path / "eval-before"))
    last = _finetune(corpus, str(tmp_path / "after"), steps=150)
    after = run_evaluation(str(tmp_path / "after" / "final"), QUESTIONS, str(tmp_path / "eval-after"))
    with open(tmp_path / "after" / "metrics.jsonl") as f:
        losses = [json.loads(line)["loss"] for line in f]
    assert losses[-1] < 0.6 * losses[0], losses
    assert after["metrics"]["exact_match"] >= before["metrics"]["exact_match"] + 0.3, (before, after)
    assert after["metrics"]["exact_match"] >= 0.5 and last["step"] == 150
    # The question length it trained with (16, not ORQA's 64) is saved with it: evaluation and export read as it did.
    reloaded = from_pretrained(str(tmp_path / "after" / "final"))
    assert reloaded.query_seq_len == 16 and reloaded.exclude_question_spans  # and it keeps the span rules
    assert reloaded.answer_type_rules and reloaded.measure_units and reloaded.relevance_weight == 0.25
    assert reloaded.answer_merge_top_k == 100  # answers by the likeliest text
    # Trained reading 2 blocks, it predicts reading four times as many, at most the 6 its search returns.
    assert reloaded.config.reader_beam_size == 6
    with open(tmp_path / "eval-after" / "metrics.json") as f:
        assert json.load(f)["reader_beam_size"] == 6
    for name in ("predictions.jsonl", "metrics.json", "report.md", "blessing.json", "recall_at_k.png"):
        assert os.path.exists(tmp_path / "eval-after" / name), name
    with open(tmp_path / "eval-after" / "predictions.jsonl") as f:
        rows = [json.loads(line) for line in f]
    first = rows[0]
    assert set(first) >= {"question", "gold", "predicted_answer", "score", "retrieved_block_ids", "retrieved_titles"}
    for row in rows:  # the answer heads the likeliest answers it was chosen from
        assert row["answer_candidates"][0]["answer"] == row["predicted_answer"]
        assert 0 < row["answer_candidates"][0]["probability"] <= 1
    with open(tmp_path / "eval-after" / "metrics.json") as f:
        metrics = json.load(f)
    for k in (1, 5):  # each question's answer rank gives the split's recall@k (comparisons pair questions on it)
        found = [r["answer_rank"] is not None and r["answer_rank"] <= k for r in rows]
        assert sum(found) / len(rows) == pytest.approx(metrics[f"recall@{k}"]), k
    assert all(t in ARTICLES for t in first["retrieved_titles"])


def test_blessing_thresholds_and_baseline(tmp_path):
    metrics = {"exact_match": 0.30, "recall@5": 0.5}
    assert bless(metrics, BlessingPolicy(min_exact_match=0.2))["blessed"]
    below = bless(metrics, BlessingPolicy(min_exact_match=0.31))  # the same threshold test, failing by 0.01
    assert not below["blessed"] and below["reasons"][0] == "exact match 0.3000 < threshold 0.3100"
    assert bless(metrics, BlessingPolicy(min_exact_match=0.30))["blessed"]  # at the threshold is enough
    refused = bless(metrics, BlessingPolicy(min_exact_match=0.2, min_recall={5: 0.6}))
    assert not refused["blessed"] and "recall@5" in refused["reasons"][0]
    baseline = tmp_path / "blessed.json"
    baseline.write_text(json.dumps({"exact_match": 0.35}))
    worse = bless(metrics, BlessingPolicy(baseline_metrics=str(baseline), tolerance=0.01))
    assert not worse["blessed"] and "last blessed" in worse["reasons"][0]
    assert bless(metrics, BlessingPolicy(baseline_metrics=str(baseline), tolerance=0.1))["blessed"]


def test_the_seed_fixes_the_fresh_weights(corpus, tmp_path):
    """`seed` fixes the freshly initialised heads (not only the data order), so a run can be repeated."""
    import numpy as np

    from realm.finetuning.trainer import FinetuneConfig, Finetuner

    def initial_weights(seed, name):
        config = FinetuneConfig(
            output_dir=str(tmp_path / name), data_dir=corpus, model=model_config("tiny", reader_seq_len=48), seed=seed
        )
        finetuner = Finetuner(config, QUESTIONS)
        finetuner._build()
        return finetuner.model.get_weights()

    first, again, other = initial_weights(0, "a"), initial_weights(0, "b"), initial_weights(1, "c")
    assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(first, other, strict=True))


def test_finetuning_resumes_from_its_checkpoint(corpus, tmp_path):
    out = str(tmp_path / "run")
    _finetune(corpus, out, steps=2)
    last = _finetune(corpus, out, steps=4)
    with open(os.path.join(out, "metrics.jsonl")) as f:
        assert [json.loads(line)["step"] for line in f] == [1, 2, 3, 4]  # the second run went on from step 2
    assert last["step"] == 4
    assert sorted(os.listdir(os.path.join(out, "index"))) == ["LATEST", "v000000000"]  # the fixed index, reused


@pytest.mark.parametrize("source_class", ["RealmReader", "RealmKnowledgeAugEncoder", "RealmForOpenQA", "RealmEmbedder"])
def test_reader_starts_from_a_converted_checkpoint(tmp_path, source_class):
    """`--init-reader`: a converted HF/Google reader, encoder or open-QA model seeds fine-tuning."""
    import numpy as np

    from realm.finetuning.trainer import FinetuneConfig, FinetuningError, init_open_qa_model
    from realm.modeling import models
    from realm.pretrained import save_pretrained

    config = model_config("tiny", reader_seq_len=48, num_block_records=3)
    source = getattr(models, source_class)(config.replace(architecture=source_class))
    if source_class == "RealmForOpenQA":
        source.set_block_records(np.array([b"a", b"b", b"c"], dtype=object))
    source = source.build_for_inference()
    directory = save_pretrained(source, str(tmp_path / "source"))
    finetune = FinetuneConfig(output_dir=str(tmp_path / "run"), data_dir="", model=config, init_reader=directory)
    if source_class == "RealmEmbedder":
        with pytest.raises(FinetuningError, match="a RealmEmbedder cannot start a reader"):
            init_open_qa_model(finetune, 3)
        return
    model = init_open_qa_model(finetune, 3)

    def same(a, b) -> bool:
        return all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights(), strict=True))

    reader = getattr(source, "reader", source)
    assert same(model.reader.bert, reader.bert) and same(model.reader.mlm_head, reader.mlm_head)
    if source_class != "RealmKnowledgeAugEncoder":
        assert same(model.reader, reader)  # the span head too
    if source_class == "RealmForOpenQA":
        assert same(model.embedder, source.embedder)


def test_pretraining_index_is_reused_only_when_it_matches(tmp_path, monkeypatch):
    import numpy as np
    import tensorflow as tf

    import realm.pretraining.refresh as refresh
    from realm.finetuning.trainer import FinetuneConfig, load_block_embeddings
    from realm.retrieval.index import publish_index

    run = tmp_path / "pretrain"
    checkpoint = tf.train.Checkpoint(step=tf.Variable(7))
    tf.train.CheckpointManager(checkpoint, str(run / "checkpoints"), max_to_keep=1).save(checkpoint_number=7)
    stored = np.random.default_rng(0).normal(size=(12, 4)).astype(np.float32)
    publish_index(str(run / "index"), stored, embedder_step=7, extra_meta={"block_seq_len": 64})
    fresh = np.zeros((12, 4), np.float32)
    monkeypatch.setattr(refresh, "embed_corpus", lambda embedder, blocks, batch, length: fresh)

    class Blocks:  # a block store's size and longest block
        def __init__(self, count, longest):
            self.count, self.longest = count, longest

        def __len__(self):
            return self.count

        def longest_block(self):
            return self.longest

    def embeddings(blocks=12, length=64, longest=200):
        config = FinetuneConfig(output_dir=str(tmp_path / "ft"), data_dir="", pretrain_dir=str(run))
        config.candidate_seq_len = length
        return load_block_embeddings(config, None, Blocks(blocks, longest))

    np.testing.assert_array_equal(embeddings(), stored)
    assert embeddings(length=288) is fresh  # blocks embedded shorter than fine-tuning reads them
    np.testing.assert_array_equal(embeddings(length=288, longest=64), stored)  # both lengths hold every block
    assert embeddings(blocks=13) is fresh  # another corpus
    publish_index(str(run / "index"), stored, embedder_step=5, extra_meta={"block_seq_len": 64})
    assert embeddings() is fresh  # not the final embedder's


def test_question_files_that_are_not_questions_are_one_clear_error(tmp_path, capsys):
    from realm.cli import main

    binary = tmp_path / "questions.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(QuestionFileError, match="not UTF-8 text"):
        read_questions(str(binary))
    three = tmp_path / "three.tsv"
    three.write_text("who wrote it\tb\tc\n")  # once read as the one answer "b\tc"
    with pytest.raises(QuestionFileError, match=r"three.tsv:1: 3 tab-separated column\(s\)"):
        read_questions(str(three))
    assert main(["evaluate", "--model", str(tmp_path), "--out", str(tmp_path / "o"), "--questions", str(binary)]) == 2
    assert "not UTF-8 text" in capsys.readouterr().err


def test_a_batch_with_no_answer_in_reach_says_so_instead_of_showing_a_zero_loss():
    """ORQA's loss only counts blocks that hold an answer: with none retrieved it is 0 by construction, which the
    tiny pipeline run logged on every step as if something were broken."""
    from realm.finetuning.trainer import describe_finetuning_step

    nothing = {"loss": 0.0, "retriever_loss": 0.0, "reader_loss": 0.0, "has_answer_in_search": 0.0}
    assert "no retrieved block holds an answer" in describe_finetuning_step(nothing)
    some = {"loss": 2.5, "retriever_loss": 1.0, "reader_loss": 1.5, "has_answer_in_search": 0.75}
    assert describe_finetuning_step(some).endswith("answers retrieved for 75% of the batch")


# ------------------------------------------------------------------------------------------- cloze questions
@pytest.mark.parametrize(
    ("text", "span", "kind", "question"),
    [
        (
            "Booth shot Lincoln on April 14, 1865 at Ford's Theatre.",
            "April 14, 1865",
            "date",
            "booth shot lincoln when at ford's theatre",
        ),
        ("The bridge was designed by Tomas Weller.", "Tomas Weller", "link", "the bridge was designed by what"),
        ("The lake has 212 islands and two towns.", "212", "other", "the lake has how many islands and two towns"),
        ("Unlike other insectivores, it has a snout.", "insectivores", "link", "unlike other what, it has a snout"),
    ],
)
def test_cloze_questions_put_a_wh_word_in_the_answers_place(text, span, kind, question):
    from realm.finetuning.cloze import cloze_question

    start = text.index(span)
    made = cloze_question(text, start, start + len(span), kind)
    assert made is not None and made.question == question and made.answers == (span,)


def test_cloze_questions_can_put_the_wh_word_first_as_people_ask():
    from realm.finetuning.cloze import cloze_question

    text = "Booth shot Lincoln on April 14, 1865 at Ford's Theatre."
    start = text.index("April")
    made = cloze_question(text, start, start + len("April 14, 1865"), "date", wh_first=True)
    assert made is not None and made.question == "when booth shot lincoln at ford's theatre"


def test_corpus_questions_put_the_asked_fraction_wh_first(corpus):
    from realm.finetuning.cloze import corpus_questions

    in_place = corpus_questions(corpus, 100)
    assert corpus_questions(corpus, 100, wh_first=0.0) == in_place  # off: the same sample as before the option
    assert all(q.question.startswith("when ") for q in corpus_questions(corpus, 100, wh_first=1.0))
    assert not any(q.question.startswith("when ") for q in in_place)


@pytest.mark.parametrize(
    ("text", "quantity", "question"),
    [
        ("Some 25,000 Cuban soldiers arrived to help the MPLA.", "25,000", "some how many cuban soldiers arrived"),
        ("An estimated 21.7 million people had it that year.", "21.7 million", "an estimated how many people had"),
        (
            "After a gestation period of seven months, one cub is born.",
            "seven months",
            "a gestation period of how long",
        ),
        ("About 90% of the country is covered by desert today.", "90%", "about what percentage of the country"),
    ],
)
def test_cloze_quantities_are_asked_with_how_many_or_how_long(text, quantity, question):
    from realm.finetuning.cloze import QUANTITY, cloze_question, quantity_spans

    spans = quantity_spans(text, [])
    assert [text[s:e] for s, e in spans] == [quantity]
    made = cloze_question(text, *spans[0], QUANTITY)
    assert made is not None and question in made.question and made.answers == (quantity,)


def test_cloze_quantities_skip_codes_ranges_and_taken_spans():
    from realm.finetuning.cloze import quantity_spans

    text = "ISBN 0-582-02173-1 lists caesium-137 at 0.5–1.5 ppm; in 1989 it had 12 wings."
    year = text.index("1989")
    assert [text[s:e] for s, e in quantity_spans(text, [(year, year + 4)])] == ["12"]  # the year is a date span
    assert not quantity_spans("One of the largest lakes has two islands.", [])  # bare number words: not quantities


def test_corpus_questions_ask_for_the_corpus_quantities_when_asked_to(corpus):
    from realm.finetuning.cloze import corpus_questions

    # Quantities in sentences with a salient span (the pre-training examples): "a norwegian team of how many".
    for numbers, asked in ((False, set()), (True, {("14",)})):
        questions = [q for seed in range(8) for q in corpus_questions(corpus, 100, seed=seed, numbers=numbers)]
        assert {q.answers for q in questions if "how many" in q.question} == asked


def test_cloze_questions_skip_long_answers_and_short_sentences():
    from realm.finetuning.cloze import cloze_question

    text = "It was named after the Royal Society for the Protection of Birds in 1901."
    long_span = "Royal Society for the Protection of Birds"
    assert cloze_question(text, text.index(long_span), text.index(long_span) + len(long_span), "link") is None
    assert cloze_question("Born in 1871.", 8, 12, "date") is None  # three words left: no question


def test_corpus_questions_are_a_seeded_sample_of_the_corpus(corpus):
    from realm.finetuning.cloze import corpus_questions

    every = corpus_questions(corpus, 100)  # the tiny corpus's dates make two; asking for more gives those
    assert len(every) == 2 and corpus_questions(corpus, 0) == []
    text = " ".join(ARTICLES.values())
    assert all(q.answers[0] in text and q.answers[0].lower() not in q.question for q in every)
    picks = [corpus_questions(corpus, 1, seed=seed) for seed in range(8)]
    assert picks[0] == corpus_questions(corpus, 1, seed=0)  # seeded
    assert {p[0] for p in picks} == set(every)  # and a sample: each usable sentence gets picked


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_a_wh_first_fraction_outside_0_to_1_is_refused(fraction, tmp_path):
    from realm.finetuning.trainer import FinetuneConfig, Finetuner, FinetuningError

    config = FinetuneConfig(output_dir=str(tmp_path), data_dir=str(tmp_path), cloze_wh_first=fraction)
    with pytest.raises(FinetuningError, match=rf"cloze_wh_first={fraction}: .* from 0 to 1"):
        Finetuner(config, QUESTIONS)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"lexical_weight": -0.3}, r"lexical_weight=-0.3: .* 0 or more"),
        ({"lexical_training": True}, r"lexical_training needs a lexical_weight above 0"),
    ],
)
def test_a_negative_bm25_weight_or_hybrid_training_without_one_is_refused(settings, message, tmp_path):
    from realm.finetuning.trainer import FinetuneConfig, Finetuner, FinetuningError

    config = FinetuneConfig(output_dir=str(tmp_path), data_dir=str(tmp_path), **settings)
    with pytest.raises(FinetuningError, match=message):
        Finetuner(config, QUESTIONS)


def test_cloze_steps_come_first_then_the_training_questions(corpus, tmp_path):
    from realm.finetuning.trainer import FinetuneConfig, Finetuner

    config = FinetuneConfig(
        output_dir=str(tmp_path / "run"),
        data_dir=corpus,
        model=model_config("tiny", reader_seq_len=48),
        steps=2,
        cloze_steps=2,
        batch_size=2,
    )
    finetuner = Finetuner(config, QUESTIONS)
    finetuner.cloze = finetuner._cloze_questions()
    assert finetuner.total_steps == 4 and 1 <= len(finetuner.cloze) <= 4  # the tiny corpus makes only a few
    assert [q.split for step in (0, 1) for q in finetuner._batch_questions(step)] == ["cloze"] * 4
    assert all(q in QUESTIONS for step in (2, 3) for q in finetuner._batch_questions(step))


def _built_cloze_finetuner(corpus, tmp_path, **overrides):
    """A built tiny Finetuner that reads 2 of 6 retrieved blocks, for stepping cloze and question batches by hand."""
    from realm.finetuning.trainer import FinetuneConfig, Finetuner

    config = FinetuneConfig(
        output_dir=str(tmp_path / "run"),
        data_dir=corpus,
        model=model_config("tiny", searcher_beam_size=6, reader_beam_size=2, reader_seq_len=48),
        steps=1,
        batch_size=2,
        query_seq_len=16,
        candidate_seq_len=48,
        **overrides,
    )
    finetuner = Finetuner(config, QUESTIONS)
    finetuner._build()
    return finetuner


@pytest.mark.parametrize("trains_retriever", [True, False])
def test_cloze_steps_train_the_question_tower_only_when_asked(corpus, tmp_path, trains_retriever):
    import numpy as np

    finetuner = _built_cloze_finetuner(
        corpus, tmp_path, cloze_steps=2, learning_rate=1e-2, warmup_steps=0, cloze_trains_retriever=trains_retriever
    )

    def weights():
        return [v.numpy().copy() for v in finetuner.model.embedder.trainable_variables], [
            v.numpy().copy() for v in finetuner.model.reader.span_scorer.trainable_variables
        ]

    def moved(before, after):
        return any(not np.array_equal(x, y) for x, y in zip(before, after, strict=True))

    start = weights()
    for step in range(2):  # the cloze steps
        finetuner.train_step(finetuner.prepare_batch(finetuner._batch_questions(step), 2))
        finetuner.step.assign(step + 1)
    after_cloze = weights()
    assert moved(start[1], after_cloze[1])  # the reader learns from cloze steps either way
    assert moved(start[0], after_cloze[0]) == trains_retriever
    finetuner.train_step(finetuner.prepare_batch(finetuner._batch_questions(2)))  # a training question's step
    assert moved(after_cloze[0], weights()[0])  # ... which trains the question tower in both cases


def test_reader_only_steps_score_blocks_with_the_embeddings_the_batch_was_searched_with(corpus, tmp_path):
    import numpy as np

    finetuner = _built_cloze_finetuner(corpus, tmp_path, cloze_steps=1)
    batch = finetuner.prepare_batch(finetuner._batch_questions(0), 2)
    # The frozen tower's forward pass on the batch's questions, as a reader-only step would have run it (eager
    # and traced runs of it may differ in the last bit).
    tower = finetuner.model.embedder(batch["query_ids"], batch["query_mask"], training=False)["projected_score"]
    np.testing.assert_allclose(batch["question_emb"], tower.numpy(), rtol=1e-5, atol=1e-6)
    # ... and the step scores the blocks with exactly those: other embeddings, another retriever loss.
    taken = finetuner.train_step(dict(batch))
    finetuner.step.assign(0)
    other = finetuner.train_step(dict(batch, question_emb=np.zeros_like(batch["question_emb"])))
    assert float(taken["retriever_loss"]) != float(other["retriever_loss"])


def test_an_answer_counts_only_in_the_blocks_allowed():
    from realm.finetuning.trainer import label_batch
    from realm.tokenization import RealmTokenizer

    tokenizer = RealmTokenizer.from_default_vocab()
    question = Question("it was opened in 1957 by a norwegian team of how many", ("14",), title="Orvel Station")
    texts = [["Orvel Station opened with a team of 14.", "Zebra Lake has 14 islands."]]
    free = label_batch(tokenizer, [question], texts, reader_beam=2, seq_len=64)
    assert free["has_answers"].tolist() == [[True, True]] and (free["start_positions"][0, :, 0] >= 0).all()
    own = label_batch(tokenizer, [question], texts, reader_beam=2, seq_len=64, counts=[[True, False]])
    assert own["has_answers"].tolist() == [[True, False]]
    assert own["start_positions"][0, 0, 0] >= 0 and (own["start_positions"][0, 1] == -1).all()


def test_cloze_questions_name_their_sentences_article(corpus):
    from realm.finetuning.cloze import corpus_questions

    questions = corpus_questions(corpus, 100, numbers=True)
    assert questions and all(q.title in ARTICLES and q.answers[0] in ARTICLES[q.title] for q in questions)


def test_cloze_questions_name_the_blocks_holding_their_sentence(corpus):
    from realm.data.block_store import BlockStore
    from realm.finetuning.cloze import corpus_questions

    store = BlockStore.open(corpus)
    questions = corpus_questions(corpus, 100, numbers=True)
    assert questions and all(q.source_blocks for q in questions)
    for question in questions:
        assert set(store.titles(list(question.source_blocks))) == {question.title}
        assert any(answer_in_text(t, question.answers) for t in store.texts(list(question.source_blocks)))


@pytest.mark.parametrize("reads_own_block", [True, False])
def test_cloze_questions_read_their_own_block_first_when_asked(corpus, tmp_path, reads_own_block):
    import numpy as np

    finetuner = _built_cloze_finetuner(corpus, tmp_path, cloze_steps=3, cloze_reads_own_block=reads_own_block)
    cloze = [q for step in range(3) for q in finetuner._batch_questions(step)]
    # The tiny model's random question tower ranks blocks at random: its first block is rarely the own one.
    searched, _ = finetuner.index.search(
        np.asarray(finetuner.embed_questions(**_query_inputs(finetuner, cloze)), np.float32), 6
    )
    batch = finetuner.prepare_batch(cloze, 1)
    firsts = [int(b) for b in searched[:, 0]]
    own = [q.source_blocks[0] for q in cloze]
    if reads_own_block:
        assert batch["has_answers"][:, 0].all()
        np.testing.assert_array_equal(batch["retrieved_emb"][:, 0], finetuner.block_emb[own])
    else:
        assert firsts != own  # as retrieved: the own block first only where the tower put it there
        np.testing.assert_array_equal(batch["retrieved_emb"][:, 0], finetuner.block_emb[firsts])
    questions = finetuner.prepare_batch(finetuner._batch_questions(3))  # training questions: blocks as retrieved
    assert questions["retrieved_emb"].shape[1] == 6


def _query_inputs(finetuner, questions):
    from realm.finetuning.trainer import encode_questions

    encoded = encode_questions(finetuner.tokenizer, [q.question for q in questions], finetuner.config.query_seq_len)
    return {"ids": encoded["input_ids"], "mask": encoded["attention_mask"]}


def test_training_batches_are_read_up_to_their_longest_pair():
    from realm.finetuning.trainer import label_batch
    from realm.tokenization import RealmTokenizer

    tokenizer = RealmTokenizer.from_default_vocab()
    texts = [[ARTICLES["Mira Holt"], ARTICLES["Zebra Lake"]]]
    labels = label_batch(tokenizer, [QUESTIONS[1]], texts, reader_beam=2, seq_len=200)
    longest = labels["attention_mask"].sum(-1).max()
    assert labels["input_ids"].shape == (1, 2, longest) and longest < 60
    assert labels["attention_mask"][0].min(0).max() == 1 and labels["attention_mask"][0, :, -1].max() == 1


def test_training_questions_are_read_up_to_the_longest_with_the_same_embeddings():
    from realm.finetuning.trainer import encode_questions
    from realm.modeling.models import RealmEmbedder
    from realm.tokenization import RealmTokenizer

    tokenizer = RealmTokenizer.from_default_vocab()
    embedder = RealmEmbedder(model_config("tiny"))
    questions = [q.question for q in QUESTIONS[:3]] + ["who"]
    trimmed = encode_questions(tokenizer, questions, 64)
    padded = tokenizer.encode_queries(questions, 64)
    longest = max(len(tokenizer.tokenize([q]).to_list()[0]) for q in questions) + 2  # [CLS] ... [SEP]
    assert trimmed["input_ids"].shape == (4, longest) and longest < 30
    np.testing.assert_allclose(
        embedder(trimmed["input_ids"], trimmed["attention_mask"])["projected_score"],
        embedder(padded["input_ids"], padded["attention_mask"])["projected_score"],
        atol=1e-5,
    )


# ----------------------------------------------------------------------------------------- evaluation report
@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("who assassinated abraham lincoln", "who"),
        ("in which year did the war end", "when"),
        ("on what date was it signed", "when"),
        ("the letter derives from which greek letter", "what"),
        ("how many moons does it have", "how many"),
        ("where was he born", "where"),
        ("name the river", "other"),
    ],
)
def test_question_types(question, kind):
    from realm.evaluation.openqa import question_type

    assert question_type(question) == kind


def test_report_shows_exact_match_by_type_and_ten_questions_with_their_blocks():
    from realm.evaluation.openqa import answer_excerpt, exact_match_by_type, report_markdown

    predictions = [
        {
            "question": f"who built tower {i}" if i % 2 else f"when was tower {i} built",
            "gold": ["Ann Lee"] if i % 2 else ["1901"],
            "predicted_answer": "Ann Lee" if i % 4 == 1 else "1902",
            "correct": i % 4 == 1,
            "predicted_title": f"Tower {i}",
            "predicted_block_id": i,
            "predicted_block_rank": 1 + i % 5,
            "predicted_block_retrieval_score": 10.0 - i,
            "predicted_block_excerpt": answer_excerpt(f"Tower {i} was built by Ann Lee in 1902.", "Ann Lee"),
            "answer_candidates": [
                {"answer": "Ann Lee" if i % 4 == 1 else "1902", "probability": 0.5},
                {"answer": "1901", "probability": 0.125},
            ],
        }
        for i in range(12)
    ]
    by_type = exact_match_by_type(predictions)
    assert by_type == {"who": {"questions": 6, "exact_match": 0.5}, "when": {"questions": 6, "exact_match": 0.0}}
    metrics = {"questions": 12, "exact_match": 0.25, "reader_oracle": 0.5, "reader_beam_size": 5, "recall@5": 0.5}
    report = report_markdown({**metrics, "by_question_type": by_type}, predictions, {"blessed": True, "reasons": []})
    assert "| who | 6 | 50.0% |" in report and "| when | 6 | 0.0% |" in report
    rows = [line for line in report.splitlines() if line.startswith("| who built") or line.startswith("| when was")]
    assert len(rows) == 10
    excerpt = "Tower 1 (retrieved #2, score 9.00): Tower 1 was built by **Ann Lee** in 1902."
    assert rows[1] == f"| who built tower 1 | Ann Lee (50%) | Ann Lee | yes | 1901 (12%) | {excerpt} |"


def test_the_reader_learns_at_its_own_rate(corpus, tmp_path):
    """reader_learning_rate 0 holds the reader still while the question tower learns at the full rate."""
    _finetune(corpus, str(tmp_path / "before"), steps=0)
    _finetune(corpus, str(tmp_path / "after"), steps=3, reader_learning_rate=0.0)
    before, after = (from_pretrained(str(tmp_path / run / "final")) for run in ("before", "after"))

    def largest_move(network_a, network_b):
        return max(
            float(np.max(np.abs(a.numpy() - b.numpy())))
            for a, b in zip(network_a.trainable_variables, network_b.trainable_variables, strict=True)
        )

    assert largest_move(before.embedder, after.embedder) > 1e-3  # 3 steps at 3e-3
    # Only the decoupled weight decay (scheduled rate x 0.01, at most 9e-5 x |w| over 3 steps) moves the reader.
    assert largest_move(before.reader, after.reader) < 1e-4


def test_a_reader_rate_beside_a_zero_tower_rate_is_refused_before_training(corpus, tmp_path):
    with pytest.raises(ValueError, match="needs learning_rate > 0"):
        _finetune(corpus, str(tmp_path / "run"), steps=1, learning_rate=0.0, reader_learning_rate=1e-3)


@pytest.mark.parametrize("question_rate", [None, 1e-3])
def test_the_training_questions_restart_the_rate_after_the_cloze_steps_when_asked(corpus, tmp_path, question_rate):
    from realm.finetuning.trainer import FinetuneConfig, Finetuner
    from realm.pretraining.schedule import WarmupLinearDecay

    config = FinetuneConfig(
        output_dir=str(tmp_path / "run"),
        data_dir=corpus,
        model=TINY_QA_MODEL,
        cloze_steps=30,
        steps=20,
        learning_rate=1e-4,
        warmup_steps=10,
        question_learning_rate=question_rate,
    )
    finetuner = Finetuner(config, QUESTIONS)
    finetuner._build()
    one_schedule = WarmupLinearDecay(1e-4, 50, 10)
    rates = {step: float(finetuner.schedule(step)) for step in (5, 29, 30, 31, 32, 40, 49)}
    assert rates[5] == pytest.approx(float(one_schedule(5))) and rates[29] == pytest.approx(float(one_schedule(29)))
    if question_rate is None:
        assert all(rates[s] == pytest.approx(float(one_schedule(s))) for s in (30, 32, 40, 49))
    else:  # a warm-up over a tenth of the 20 question steps, then decay to zero
        assert rates[30] == 0.0 and rates[31] == pytest.approx(5e-4) and rates[32] == pytest.approx(1e-3)
        assert rates[40] == pytest.approx(1e-3 * 10 / 18) and rates[49] == pytest.approx(1e-3 / 18)


@pytest.mark.parametrize("scope", ["both", "reader"])
def test_the_question_tower_keeps_the_one_schedule_when_only_the_reader_restarts(corpus, tmp_path, scope):
    """One schedule at rate 0 and a restart at 3e-3: the tower moves in the question steps only when it restarts."""
    _finetune(corpus, str(tmp_path / "before"), steps=0)
    _finetune(
        corpus,
        str(tmp_path / "after"),
        steps=3,
        cloze_steps=1,
        learning_rate=0.0,
        question_learning_rate=3e-3,
        question_learning_rate_scope=scope,
    )
    before, after = (from_pretrained(str(tmp_path / run / "final")) for run in ("before", "after"))

    def largest_move(network_a, network_b):
        return max(
            float(np.max(np.abs(a.numpy() - b.numpy())))
            for a, b in zip(network_a.trainable_variables, network_b.trainable_variables, strict=True)
        )

    assert largest_move(before.reader, after.reader) > 1e-3
    if scope == "both":
        assert largest_move(before.embedder, after.embedder) > 1e-3
    else:
        assert largest_move(before.embedder, after.embedder) == 0.0


def test_a_question_rate_of_zero_without_cloze_steps_or_an_unknown_scope_is_refused(corpus, tmp_path):
    with pytest.raises(ValueError, match="question_learning_rate_scope"):
        _finetune(corpus, str(tmp_path / "scope"), steps=1, question_learning_rate_scope="tower")
    with pytest.raises(ValueError, match="question_learning_rate"):
        _finetune(corpus, str(tmp_path / "run"), steps=1, cloze_steps=1, question_learning_rate=0.0)
    with pytest.raises(ValueError, match="after the cloze steps, and there are none"):
        _finetune(corpus, str(tmp_path / "no-cloze"), steps=1, question_learning_rate=1e-3)


def _trained_weights_at_each_checkpoint(corpus, out, **config):
    """The trained (not averaged) variables the run's checkpoints hold, in step order."""
    import tensorflow as tf

    from realm.finetuning.trainer import FinetuneConfig, Finetuner

    config = FinetuneConfig(output_dir=str(out), data_dir=corpus, model=TINY_QA_MODEL, **config)
    finetuner = Finetuner(config, QUESTIONS)
    finetuner._build()
    weights = []
    for path in tf.train.get_checkpoint_state(os.path.join(out, "checkpoints")).all_model_checkpoint_paths:
        finetuner.checkpoint.restore(path).assert_existing_objects_matched()
        weights.append([v.numpy() for v in finetuner.variables])
    return weights, finetuner


def test_the_saved_model_averages_the_trained_weights(corpus, tmp_path):
    """weight_averaging_momentum m: final/ holds the first step's weights averaged on as m * average + (1 - m) *
    weights after every later step, while the checkpoints keep the trained weights a resumed run goes on from."""
    out = tmp_path / "run"
    _finetune(corpus, str(out), steps=3, checkpoint_every=1, keep_checkpoints=5, weight_averaging_momentum=0.5)
    steps, finetuner = _trained_weights_at_each_checkpoint(corpus, str(out), weight_averaging_momentum=0.5)
    assert len(steps) == 3
    expected = steps[0]
    for trained in steps[1:]:
        expected = [0.5 * a + 0.5 * w for a, w in zip(expected, trained, strict=True)]
    saved = from_pretrained(str(out / "final"))
    saved_variables = [*saved.embedder.trainable_variables, *saved.reader.trainable_variables]
    by_path = {v.path: v.numpy() for v in saved_variables}
    names = [v.path for v in finetuner.variables]
    assert max(float(np.max(np.abs(by_path[n] - e))) for n, e in zip(names, expected, strict=True)) < 1e-6
    # ... and is not simply the last step's weights (3 steps at 3e-3 move them).
    assert max(float(np.max(np.abs(by_path[n] - w))) for n, w in zip(names, steps[-1], strict=True)) > 1e-4


def test_a_run_resumed_with_weight_averaging_toggled_is_one_clear_error(corpus, tmp_path):
    from realm.errors import CheckpointError

    out = str(tmp_path / "run")
    _finetune(corpus, out, steps=1)
    with pytest.raises(CheckpointError, match=r"does not fit this fine-tuning run.*weight averaging"):
        _finetune(corpus, out, steps=2, weight_averaging_momentum=0.5)


@pytest.mark.parametrize("momentum", [-0.1, 1.0])
def test_a_weight_averaging_momentum_outside_0_to_1_is_refused(corpus, tmp_path, momentum):
    with pytest.raises(ValueError, match="weight_averaging_momentum"):
        _finetune(corpus, str(tmp_path / "run"), steps=1, weight_averaging_momentum=momentum)


def test_the_weight_averaging_benchmark_averages_as_the_optimizer_does(corpus, tmp_path, monkeypatch):
    """benchmarks.bench_weight_averaging's side averages equal the fine-tuner's own average at the same momentum,
    and its final/ stays the model the fine-tuner saves."""
    import realm.finetuning.trainer as trainer
    from benchmarks.bench_weight_averaging import averaged_dir, averaging_finetuner

    monkeypatch.setattr(trainer, "Finetuner", averaging_finetuner([0.5]))
    out = tmp_path / "run"
    _finetune(corpus, str(out), steps=3, weight_averaging_momentum=0.5)
    own, side = (from_pretrained(d).get_weights() for d in (str(out / "final"), averaged_dir(str(out / "final"), 0.5)))
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(own, side, strict=True)) < 1e-6


def test_a_reader_that_reads_titles_learns_reloads_and_reads_them(corpus, tmp_path):
    """DPR's reader input: `[CLS] question [SEP] title [SEP] block [SEP]`, in training and when predicting."""
    last = _finetune(corpus, str(tmp_path / "titled"), steps=150, reader_titles=True)
    result = run_evaluation(str(tmp_path / "titled" / "final"), QUESTIONS, str(tmp_path / "eval"))
    assert last["step"] == 150 and result["metrics"]["exact_match"] >= 0.5, result["metrics"]
    reloaded = from_pretrained(str(tmp_path / "titled" / "final"))
    assert reloaded.reader_titles and reloaded.block_titles is not None
    out = reloaded(["who designed the quillon bridge"])
    read = reloaded.tokenizer.decode(out["reader_input_ids"][0]).numpy()
    titles = [reloaded.block_titles.numpy()[i].decode() for i in out["retrieved_block_ids"][0, : len(read)].numpy()]
    for text, title in zip(read, titles, strict=True):  # each block read after its own article's title
        assert title.lower() in text.decode(), (title, text)
    # Answers are spans of the block's text, never of its title.
    assert out["predicted_answer"].numpy()[0].decode().lower() not in {t.lower() for t in ARTICLES}


def test_titles_are_read_before_the_block_and_answers_stay_in_its_text():
    from realm.finetuning.trainer import label_batch
    from realm.tokenization import RealmTokenizer

    tokenizer = RealmTokenizer.from_default_vocab()
    question = Question("where was the designer born", ("Quillon Bridge", "Aarhus"))
    texts = [[ARTICLES["Mira Holt"], ARTICLES["Quillon Bridge"]]]
    titles = [["Quillon Bridge", "Mira Holt"]]  # an answer in a title is not a span the reader may learn
    labels = label_batch(tokenizer, [question], texts, reader_beam=2, seq_len=64, retrieved_titles=titles)
    ids, mask = labels["input_ids"][0], labels["block_mask"][0]
    sep = tokenizer.sep_id
    for row, title in enumerate(titles[0]):
        seps = [i for i, t in enumerate(ids[row]) if t == sep]
        assert len(seps) == 3  # question, title, block
        assert tokenizer.decode(ids[row][seps[0] + 1 : seps[1]]).numpy()[0].decode() == title.lower()
        assert mask[row].tolist() == [int(seps[1] < i < seps[2]) for i in range(len(mask[row]))]
        assert labels["token_type_ids"][0, row].tolist()[seps[0] + 1 : seps[2] + 1] == [1] * (seps[2] - seps[0])
    answers = [
        tokenizer.decode(ids[row][start : end + 1]).numpy()[0].decode()
        for row in range(2)
        for start, end in zip(labels["start_positions"][0, row], labels["end_positions"][0, row], strict=True)
        if start >= 0
    ]
    assert answers == ["aarhus", "quillon bridge"]  # the second from the block's text; the first block's title not
    assert labels["has_answers"].tolist() == [[True, True]]


def test_hybrid_retrieval_trains_on_the_blocks_dense_plus_bm25_ranks_first(corpus, tmp_path):
    """`lexical_weight` with `lexical_training`: training batches are searched by dense + w * BM25 (the union of
    each one's best, scored by the sum), the step adds the same w * BM25 to the blocks' relevance, and the saved
    model retrieves that way."""
    import numpy as np
    import tensorflow as tf

    finetuner = _built_cloze_finetuner(corpus, tmp_path, lexical_weight=5.0, lexical_training=True)
    finetuner.config.model.searcher_beam_size = 3
    questions = QUESTIONS[1:3]
    batch = finetuner.prepare_batch(questions, 2)
    lexical = 5.0 * finetuner.model.lexical_index.scores(tf.constant([q.question for q in questions])).numpy()
    dense = batch["question_emb"] @ finetuner.block_emb.T
    titles = finetuner.blocks.titles(range(len(finetuner.blocks)))
    for row, question in enumerate(questions):
        expected = np.argsort(-(dense[row] + lexical[row]), kind="stable")[:3]
        np.testing.assert_allclose(batch["retrieved_emb"][row], finetuner.block_emb[expected])
        np.testing.assert_allclose(batch["retrieval_bias"][row], lexical[row][expected], rtol=1e-6)
        assert titles[expected[0]].lower() in question.question  # the block naming the question's subject first
    # The step scores the blocks with dense + the bias: from the same weights, without it, another retriever loss.
    weights = [v.numpy() for v in finetuner.variables]
    taken = finetuner.train_step(dict(batch))
    for variable, value in zip(finetuner.variables, weights, strict=True):
        variable.assign(value)
    finetuner.step.assign(0)
    again = finetuner.train_step(dict(batch))
    for variable, value in zip(finetuner.variables, weights, strict=True):
        variable.assign(value)
    finetuner.step.assign(0)
    other = finetuner.train_step(dict(batch, retrieval_bias=np.zeros_like(batch["retrieval_bias"])))
    assert float(taken["retriever_loss"]) == pytest.approx(float(again["retriever_loss"]), rel=1e-5)
    assert float(taken["retriever_loss"]) != pytest.approx(float(other["retriever_loss"]), rel=1e-3)
    # Saved with the weight: evaluation and the export rebuild the index and retrieve the same way.
    finetuner.save_final(str(tmp_path / "final"))
    reloaded = from_pretrained(str(tmp_path / "final"))
    assert reloaded.lexical_weight == 5.0 and reloaded.lexical_index is not None
    retrieved = reloaded.retrieve([q.question for q in questions])[2].numpy()
    assert [titles[row[0]] for row in retrieved] == ["Mira Holt", "Quillon Bridge"]


def test_hybrid_retrieval_only_when_predicting_leaves_fine_tunings_searches_dense(corpus, tmp_path):
    """`lexical_weight` alone (the minilm recipe): fine-tuning searches by the dense score with no bias in the
    step, and the saved model retrieves by dense + w * BM25."""
    import numpy as np

    finetuner = _built_cloze_finetuner(corpus, tmp_path, lexical_weight=5.0)
    finetuner.config.model.searcher_beam_size = 3
    batch = finetuner.prepare_batch(QUESTIONS[1:3], 2)
    dense = batch["question_emb"] @ finetuner.block_emb.T
    for row in range(2):
        expected = np.argsort(-dense[row], kind="stable")[:3]
        np.testing.assert_allclose(batch["retrieved_emb"][row], finetuner.block_emb[expected])
    assert not batch["retrieval_bias"].any() and finetuner.model.lexical_index is None
    finetuner.save_final(str(tmp_path / "final"))
    reloaded = from_pretrained(str(tmp_path / "final"))
    assert reloaded.lexical_weight == 5.0 and reloaded.lexical_index is not None
