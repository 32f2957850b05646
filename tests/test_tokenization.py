"""RealmTokenizer (tensorflow-text graph ops) against HF's BERT/REALM tokenizers, and in tf.data and SavedModels."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from realm.resources import default_vocab_file
from realm.tokenization import RealmTokenizer, span_text

transformers = pytest.importorskip("transformers")

TRICKY = [
    "UNwant\u00e9d,running",
    "Abraham Lincoln (February 12, 1809 – April 15, 1865) was the 16th president.",
    "Émile Zola's J'Accuse…! appeared in L'Aurore.",
    "Tōkyō 東京 and 北京 are capitals; ﬁne ligatures, Ⅻ numerals, ½ fractions.",
    "Control\x00chars\x07and\ttabs\nnewlines\u200bzero width\ufeffBOM and \ue000private use",
    "Straße, ǅemal, İstanbul, ΣΊΣΥΦΟΣ, Ǆ, ﬃ",
    "emoji 👍🏽 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math letters",
    "",
    "   ",
    "a" * 300,
    "e.g. U.S.A. $1,000.50 (approx.) -- 50% -> x<y & y>z",
]


@pytest.fixture(scope="module")
def ours() -> RealmTokenizer:
    return RealmTokenizer.from_default_vocab()


@pytest.fixture(scope="module")
def hf_bert():
    return transformers.BertTokenizerFast(default_vocab_file(), do_lower_case=True)


@pytest.fixture(scope="module")
def hf_realm():
    return transformers.RealmTokenizerFast(default_vocab_file(), do_lower_case=True)


@pytest.fixture(scope="module")
def hf_realm_slow():
    return transformers.RealmTokenizer(default_vocab_file())


@pytest.fixture(scope="module")
def sample_sentences() -> list[str]:
    """Every sentence of every article of the real Wikipedia sample, as `realm preprocess` produces them."""
    from realm.data.pages import iter_raw_pages
    from realm.data.process import article_texts
    from realm.resources import sample_wikipedia_dump

    return article_texts(iter_raw_pages(sample_wikipedia_dump()))


def _hf_ids(hf, texts: list[str]) -> list[list[int]]:
    return hf(texts, add_special_tokens=False)["input_ids"]


def test_hf_docstring_case(ours, hf_bert):
    ids = ours.tokenize(["UNwant\u00e9d,running"]).to_list()[0]
    assert ids == _hf_ids(hf_bert, ["UNwant\u00e9d,running"])[0]
    assert hf_bert.convert_ids_to_tokens(ids) == ["unwanted", ",", "running"]


def test_tricky_texts_match_hf(ours, hf_bert):
    assert ours.tokenize(TRICKY).to_list() == _hf_ids(hf_bert, TRICKY)


@pytest.fixture(scope="module")
def our_sample_ids(ours, sample_sentences) -> list[list[int]]:
    chunk = 4000  # bounded ragged tensors; the whole sample at once is no faster
    return [
        ids
        for start in range(0, len(sample_sentences), chunk)
        for ids in ours.tokenize(sample_sentences[start : start + chunk]).to_list()
    ]


# The fast (Rust) and the slow (pure Python) HF tokenizers are separate implementations that have disagreed on
# Unicode corner cases before, and the reference is the slow `RealmTokenizer`, so both are checked.
@pytest.mark.parametrize("hf_fixture", ["hf_realm", "hf_realm_slow"])
def test_every_sample_sentence_matches_hf(request, hf_fixture, sample_sentences, our_sample_ids):
    assert len(sample_sentences) > 20_000
    # Both the plain-ASCII fast path and the full normalisation path are exercised by the sample.
    assert 0 < sum(s.isascii() for s in sample_sentences) < len(sample_sentences)
    expected = _hf_ids(request.getfixturevalue(hf_fixture), sample_sentences)
    mismatches = [s for s, a, b in zip(sample_sentences, our_sample_ids, expected, strict=True) if a != b]
    assert mismatches == []


def test_offsets_give_back_the_source_words(ours):
    texts = ["Abraham Lincoln was born in Kentucky.", "Émile Zola wrote J'Accuse in 1898."]
    ids, starts, ends = ours.tokenize_with_offsets(texts)
    words = [
        [text.encode()[s:e].decode() for s, e in zip(row_s, row_e, strict=True)]
        for text, row_s, row_e in zip(texts, starts.to_list(), ends.to_list(), strict=True)
    ]
    assert words[0][:2] == ["Abraham", "Lincoln"]
    assert words[1][0] == "Émile" and "".join(words[1][1:3]) == "Zola"  # HF gives back lower-cased "emile"
    assert [len(w) for w in words] == [len(r) for r in ids.to_list()]


def test_encode_queries_and_candidates_match_realm_tokenizer_fast(ours, hf_realm):
    titles = ["Abraham Lincoln", "Émile Zola", "A very long title " * 10]
    bodies = ["He was born in 1809 in Kentucky.", "Zola (1840–1902) was a novelist. " * 20, "short"]
    expected = hf_realm.batch_encode_candidates(
        [titles], text_pair=[bodies], max_length=32, padding="max_length", truncation=True
    )
    got = ours.batch_encode_candidates([titles], 32, text_pairs=[bodies])
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        assert got[key].numpy().tolist() == np.asarray(expected[key]).tolist(), key
    queries = ["Who was the 16th president of the United States?", "x " * 50]
    expected = hf_realm(queries, max_length=16, padding="max_length", truncation=True)
    got = ours.encode_queries(queries, 16)
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        assert got[key].numpy().tolist() == expected[key], key


def test_encode_pairs_matches_hf_and_maps_spans_to_source(ours, hf_bert):
    questions = ["who wrote j'accuse?", "when was lincoln born " * 8]
    blocks = ["Émile Zola wrote J'Accuse…! in 1898.", "Abraham Lincoln was born on February 12, 1809. " * 6]
    encoded = ours.encode_pairs(questions, blocks, 48)
    expected = hf_bert(questions, blocks, max_length=48, truncation="longest_first", padding="max_length")
    assert encoded["input_ids"].numpy().tolist() == expected["input_ids"]
    assert encoded["token_type_ids"].numpy().tolist() == expected["token_type_ids"]
    mask = encoded["block_mask"].numpy()
    block_part = np.array(expected["token_type_ids"]) * np.array(expected["attention_mask"])
    last = np.array(expected["attention_mask"]).sum(1) - 1
    block_part[np.arange(len(last)), last] = 0  # the final [SEP] is not part of the block
    assert mask.tolist() == block_part.tolist()
    first = int(np.argmax(mask[0]))
    text = span_text(
        tf.constant(blocks[:1]), encoded["block_token_start"][0, first], encoded["block_token_end"][0, first + 2]
    )
    assert text.numpy()[0].decode() == "Émile Zola"  # pieces "emile", "z", "##ola"


def test_encodings_run_as_one_graph_per_length_with_the_op_by_op_outputs(ours):
    titles = ["Abraham Lincoln", "Émile Zola", "Kentucky"]
    bodies = ["He was born in 1809 in Kentucky.", "Zola (1840–1902) was a novelist. " * 20, "short"]
    cases = [
        (ours.encode_queries, ours._encode_queries, (bodies,)),
        (ours.encode_candidates, ours._encode_candidates, (titles, bodies)),
        (ours.encode_pairs, ours._encode_pairs, (titles, bodies)),
    ]
    for compiled, op_by_op, texts in cases:
        for length in (16, 40, 16):  # a length met again reuses its graph; another length gets its own
            for rows in (3, 2):  # one graph for any batch size
                batch = [t[:rows] for t in texts]
                got = compiled(*batch, length)
                expected = op_by_op(*(tf.constant(t) for t in batch), length)  # eager: op by op
                assert got.keys() == expected.keys()
                for key in got:
                    assert got[key].numpy().tolist() == expected[key].numpy().tolist(), (op_by_op.__name__, key)
                    assert got[key].shape[-1] == length
    graphs = ours.__dict__["_encoding_graphs"]
    assert {key for key in graphs if key[1] in (16, 40)} == {
        (name, length) for name in ("_encode_queries", "_encode_candidates", "_encode_pairs") for length in (16, 40)
    }
    assert all(graphs[key].experimental_get_tracing_count() == 1 for key in graphs)


def test_usable_in_tf_data(ours):
    dataset = tf.data.Dataset.from_tensor_slices(["Abraham Lincoln", "Émile Zola", "Kentucky"]).batch(2)
    dataset = dataset.map(lambda texts: ours.encode_queries(texts, 8))
    batches = list(dataset)
    assert [b["input_ids"].shape.as_list() for b in batches] == [[2, 8], [1, 8]]
    assert batches[1]["input_ids"].numpy().tolist()[0][:2] == [ours.cls_id, ours.tokenize(["Kentucky"]).to_list()[0][0]]


def test_survives_a_saved_model_round_trip(ours, tmp_path):
    class Serving(tf.Module):
        def __init__(self, tokenizer):
            super().__init__()
            self.tokenizer = tokenizer

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def encode(self, texts):
            return self.tokenizer.encode_queries(texts, 16)

    texts = ["Émile Zola wrote J'Accuse.", "Abraham Lincoln"]
    expected = ours.encode_queries(texts, 16)["input_ids"].numpy()
    tf.saved_model.save(Serving(ours), str(tmp_path / "tok"))
    loaded = tf.saved_model.load(str(tmp_path / "tok"))
    assert (loaded.encode(tf.constant(texts))["input_ids"].numpy() == expected).all()


def _every_code_point_in_chunks(size: int = 1000) -> list[str]:
    code_points = [c for c in range(1, 0x110000) if not 0xD800 <= c <= 0xDFFF]
    return ["".join(map(chr, code_points[i : i + size])) for i in range(0, len(code_points), size)]


def test_normalization_of_every_code_point_follows_the_rule(ours):
    """The slice tables give, for every code point, BERT's rule (private use dropped, CJK padded, else the
    `normalization_table` entry or the code point itself, then tensorflow-text's control characters as spaces),
    and every output byte points at the bytes of the code point it came from."""
    from realm.tokenization import _CJK_RANGES, _PRIVATE_USE_RANGES, normalization_table, tf_text_control_characters

    table = dict(zip(*normalization_table(), strict=True))
    controls = tf_text_control_characters()

    def rule(char: str) -> str:
        code_point = ord(char)
        if any(lo <= code_point <= hi for lo, hi in _PRIVATE_USE_RANGES):
            return ""
        if any(lo <= code_point <= hi for lo, hi in _CJK_RANGES):
            return f" {char} "
        return "".join(" " if ord(c) in controls else c for c in table.get(code_point, char))

    texts = _every_code_point_in_chunks()
    for start in range(0, len(texts), 100):
        batch = texts[start : start + 100]
        normalized, source_start, source_end = ours.normalize_with_offsets(tf.constant(batch))
        for text, got, starts, ends in zip(
            batch, normalized.numpy(), source_start.to_list(), source_end.to_list(), strict=True
        ):
            expected, expected_starts, expected_ends, offset = [], [], [], 0
            for char in text:
                out, width = rule(char).encode(), len(char.encode())
                expected.append(out)
                expected_starts += [offset] * len(out)
                expected_ends += [offset + width] * len(out)
                offset += width
            assert got == b"".join(expected)
            assert (starts, ends) == (expected_starts, expected_ends)


def test_wordpiece_needs_no_tensorflow_text_normaliser_after_ours(ours):
    """We run FastWordpieceTokenizer, not FastBertTokenizer, whose extra normaliser would change nothing on text
    we normalised: same ids and offsets on every code point (and on the real sample's sentences, above)."""
    import tensorflow_text as tf_text

    bert = tf_text.FastBertTokenizer(
        vocab=ours._vocab_list, token_out_type=tf.int32, unknown_token="[UNK]", lower_case_nfd_strip_accents=False
    )
    texts = _every_code_point_in_chunks() + TRICKY + ["a\tb\nc\rd", "x\x00y\x7fz"]
    normalized = ours.normalize_with_offsets(tf.constant(texts))[0]
    for ours_part, bert_part in zip(
        ours._wordpiece.tokenize_with_offsets(normalized), bert.tokenize_with_offsets(normalized), strict=True
    ):
        assert ours_part.to_list() == bert_part.to_list()
    lowered = tf.strings.lower(tf.constant(["Plain ASCII, as the fast path sends it.\tTabs\nand\rreturns ~!@#"]))
    for ours_part, bert_part in zip(
        ours._wordpiece.tokenize_with_offsets(lowered), bert.tokenize_with_offsets(lowered), strict=True
    ):
        assert ours_part.to_list() == bert_part.to_list()
