"""REALM's BERT-uncased WordPiece tokenizer in TensorFlow graph ops (tensorflow-text).

Everything here is TF ops, so the same tokenizer runs eagerly, in `tf.data`, in Beam workers and inside an
exported SavedModel that TF Serving loads (tensorflow-text ops only).

Ids equal Hugging Face's `BertTokenizer`/`RealmTokenizer`: tensorflow-text's own lower-casing is Unicode case
*folding* (NFKC_Casefold: "…" -> "...", "ª" -> "a", "ς" -> "σ"), which differs from BERT's `str.lower()` + NFD +
accent stripping on about 0.2% of Wikipedia sentences. So we normalise per code point with a table built from
Python's `unicodedata` (exactly HF's rule: drop control characters, map whitespace to space, pad CJK characters
with spaces, lower-case, NFD, drop combining marks) and then run `FastBertTokenizer` without its normaliser.
Because each output byte remembers the source code point it came from, token offsets point into the
*original* text, which is how a predicted answer span is returned as the source words.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence

import tensorflow as tf
import tensorflow_text as tf_text

_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)
# Private-use code points are "control" characters for BERT (category Co) and are dropped; ranges, not table rows.
_PRIVATE_USE_RANGES = ((0xE000, 0xF8FF), (0xF0000, 0x10FFFF))


def _bert_normalize_char(char: str) -> str:
    """HF BasicTokenizer's treatment of one code point (uncased): clean, lower, NFD, strip accents."""
    if char in "\t\n\r ":
        return " "
    category = unicodedata.category(char)
    if ord(char) in (0, 0xFFFD) or category.startswith("C"):
        return ""
    if category == "Zs":
        return " "
    decomposed = unicodedata.normalize("NFD", char.lower())
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


@functools.lru_cache(maxsize=1)
def normalization_table() -> tuple[list[int], list[str]]:
    """Code points whose BERT normalisation differs from themselves (except CJK and private use: by range)."""
    keys, values = [], []
    for code_point in range(0x110000):
        if 0xD800 <= code_point <= 0xDFFF or any(lo <= code_point <= hi for lo, hi in _CJK_RANGES):
            continue
        char = chr(code_point)
        category = unicodedata.category(char)
        if category in ("Cn", "Co"):  # unassigned / private use: handled without table rows
            continue
        normalized = _bert_normalize_char(char)
        if normalized != char:
            keys.append(code_point)
            values.append(normalized)
    return keys, values


def _in_ranges(code_points: tf.Tensor, ranges) -> tf.Tensor:
    hits = [tf.logical_and(code_points >= lo, code_points <= hi) for lo, hi in ranges]
    return functools.reduce(tf.logical_or, hits)


def _to_string_tensor(texts) -> tf.Tensor:
    if isinstance(texts, str | bytes):
        texts = [texts]
    return tf.convert_to_tensor(texts, dtype=tf.string)


class RealmTokenizer(tf.Module):
    """BERT uncased WordPiece with REALM's encodings, batched, returning int32 tensors.

    Encodings (all padded with [PAD] to `max_length`, with `attention_mask` and `token_type_ids`):
    - `encode_queries`: `[CLS] query [SEP]`;
    - `encode_candidates`: `[CLS] title [SEP] body [SEP]` (token type 0 for the title part, 1 for the body);
    - `encode_pairs`: the reader's `[CLS] question [SEP] block [SEP]` plus `block_mask` and byte offsets of
      every block token into the block text;
    - `batch_encode_candidates`: HF's `[batch, num_candidates, max_length]` form.
    Pairs are truncated with HF fast tokenizers' `longest_first` rule.
    """

    def __init__(self, vocab_file: str, name: str | None = None):
        super().__init__(name=name)
        with tf.io.gfile.GFile(vocab_file, "r") as f:
            vocab = [line.rstrip("\n") for line in f]
        if not vocab:
            raise ValueError(f"{vocab_file}: empty vocabulary")
        self.vocab_path = vocab_file
        self.vocab_file = tf.saved_model.Asset(vocab_file)
        self._vocab_list = vocab
        index = {token: i for i, token in enumerate(vocab)}
        missing = [t for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]") if t not in index]
        if missing:
            raise ValueError(f"{vocab_file}: vocabulary lacks special tokens {missing}")
        self.vocab_size = len(vocab)
        self.pad_id, self.unk_id = index["[PAD]"], index["[UNK]"]
        self.cls_id, self.sep_id, self.mask_id = index["[CLS]"], index["[SEP]"], index["[MASK]"]
        self.special_ids = sorted({index[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")})
        self._wordpiece = tf_text.FastBertTokenizer(
            vocab=vocab,
            token_out_type=tf.int32,
            unknown_token="[UNK]",
            lower_case_nfd_strip_accents=False,
        )
        keys, values = normalization_table()
        self._normalizer_table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(keys, tf.int32), tf.constant(values, tf.string)),
            default_value="\x00",  # "no entry": a NUL never survives normalisation, so it cannot collide
        )
        self._vocab_tensor = tf.constant(vocab)

    @classmethod
    def from_default_vocab(cls) -> RealmTokenizer:
        from realm.resources import default_vocab_file

        return cls(default_vocab_file())

    # ------------------------------------------------------------------------------------------ normalisation
    def normalize_with_offsets(self, texts: tf.Tensor):
        """BERT normalisation; returns (normalized [b], source_start, source_end) with one offset per output byte.

        source_start/end[i, j] are the byte range in the original text of the code point that produced
        normalized byte j. Invalid UTF-8 is replaced by U+FFFD first (which BERT then drops).
        """
        code_points, starts = tf.strings.unicode_decode_with_offsets(
            texts, "UTF-8", errors="replace", replacement_char=0xFFFD
        )
        flat_cp = code_points.flat_values
        chars = tf.strings.unicode_encode(tf.expand_dims(flat_cp, 1), "UTF-8")
        char_bytes = tf.strings.length(chars)
        looked_up = self._normalizer_table.lookup(flat_cp)
        replaced = tf.where(tf.equal(looked_up, "\x00"), chars, looked_up)
        replaced = tf.where(_in_ranges(flat_cp, _CJK_RANGES), " " + chars + " ", replaced)
        replaced = tf.where(_in_ranges(flat_cp, _PRIVATE_USE_RANGES), "", replaced)
        out_bytes = tf.strings.length(replaced)
        per_text = code_points.with_flat_values(replaced)
        normalized = tf.strings.reduce_join(per_text, axis=-1)
        flat_starts = starts.flat_values
        source_start = tf.repeat(flat_starts, out_bytes)
        # U+FFFD (also what invalid UTF-8 decodes to) normalises to nothing, so its byte length never matters.
        source_end = tf.repeat(flat_starts + tf.cast(char_bytes, tf.int64), out_bytes)
        row_bytes = tf.cast(tf.reduce_sum(code_points.with_flat_values(out_bytes), axis=1), tf.int64)
        source_start = tf.RaggedTensor.from_row_lengths(source_start, row_bytes)
        source_end = tf.RaggedTensor.from_row_lengths(source_end, row_bytes)
        return normalized, source_start, source_end

    # ----------------------------------------------------------------------------------------------- tokenize
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def _tokenize_batch(self, texts: tf.Tensor):
        """One compiled graph for the whole path (eager op-by-op execution is several times slower).

        Texts of printable ASCII need no normalisation table: BERT's normalisation of them is lower-casing,
        which keeps every byte offset, so they skip the per-code-point path (most English sentences: about
        3x faster). The two groups are tokenized separately and put back in input order.
        """
        plain = tf.strings.regex_full_match(texts, r"[\x20-\x7e\t\n\r]*")
        plain_rows = tf.where(plain)[:, 0]
        other_rows = tf.where(tf.logical_not(plain))[:, 0]
        plain_ids, plain_starts, plain_ends = self._wordpiece.tokenize_with_offsets(
            tf.strings.lower(tf.gather(texts, plain_rows))
        )
        other_ids, other_starts, other_ends = self._tokenize_normalized(tf.gather(texts, other_rows))
        order = tf.argsort(tf.concat([plain_rows, other_rows], 0))

        def merge(a: tf.RaggedTensor, b: tf.RaggedTensor) -> tf.RaggedTensor:
            if a.shape.rank == 3:
                a = a.merge_dims(-2, -1)
            return tf.gather(tf.concat([tf.cast(a, b.dtype), b], 0), order)

        return merge(plain_ids, other_ids), merge(plain_starts, other_starts), merge(plain_ends, other_ends)

    def _tokenize_normalized(self, texts: tf.Tensor):
        normalized, source_start, source_end = self.normalize_with_offsets(texts)
        ids, starts, ends = self._wordpiece.tokenize_with_offsets(normalized)
        if ids.shape.rank == 3:
            ids, starts, ends = (x.merge_dims(-2, -1) for x in (ids, starts, ends))
        starts = tf.cast(starts, tf.int64)
        ends = tf.cast(ends, tf.int64)
        # Map normalized byte offsets back through the per-byte source map.
        orig_start = tf.gather(source_start, starts, batch_dims=1)
        orig_end = tf.gather(source_end, tf.maximum(ends - 1, 0), batch_dims=1)
        return ids, orig_start, orig_end

    def tokenize_with_offsets(self, texts):
        """Wordpiece ids [b, (tokens)] with start/end byte offsets into the original texts."""
        return self._tokenize_batch(_to_string_tensor(texts))

    def tokenize(self, texts) -> tf.RaggedTensor:
        """Wordpiece ids [b, (tokens)], no special tokens."""
        return self._tokenize_batch(_to_string_tensor(texts))[0]

    # -------------------------------------------------------------------------------------------- truncation
    @staticmethod
    def pair_lengths(len_a: tf.Tensor, len_b: tf.Tensor, budget: int):
        """HF tokenizers' `longest_first` for pairs: how many tokens of each side to keep within `budget`."""
        shorter = tf.minimum(len_a, len_b)
        longer = tf.where(shorter > budget, shorter, tf.maximum(shorter, budget - shorter))
        over = shorter + longer > budget
        shorter_kept = tf.where(over, tf.cast(budget // 2, len_a.dtype), shorter)
        longer_kept = tf.where(over, tf.cast(budget // 2 + budget % 2, len_a.dtype), longer)
        a_longer = len_a > len_b
        keep_a = tf.where(a_longer, longer_kept, shorter_kept)
        keep_b = tf.where(a_longer, shorter_kept, longer_kept)
        fits = len_a + len_b <= budget
        return tf.where(fits, len_a, keep_a), tf.where(fits, len_b, keep_b)

    @staticmethod
    def _keep_first(ragged: tf.RaggedTensor, keep: tf.Tensor) -> tf.RaggedTensor:
        positions = tf.ragged.range(ragged.row_lengths())
        return tf.ragged.boolean_mask(ragged, positions < tf.expand_dims(keep, 1))

    # --------------------------------------------------------------------------------------------- encodings
    def _finish(self, segments: list[tf.RaggedTensor], max_length: int) -> dict[str, tf.Tensor]:
        combined, segment_ids = tf_text.combine_segments(
            segments, start_of_sequence_id=self.cls_id, end_of_segment_id=self.sep_id
        )
        input_ids, attention_mask = tf_text.pad_model_inputs(combined, max_length, pad_value=self.pad_id)
        token_type_ids, _ = tf_text.pad_model_inputs(segment_ids, max_length, pad_value=0)
        return {
            "input_ids": tf.cast(input_ids, tf.int32),
            "attention_mask": tf.cast(attention_mask, tf.int32),
            "token_type_ids": tf.cast(token_type_ids, tf.int32),
        }

    def encode_queries(self, texts, max_length: int) -> dict[str, tf.Tensor]:
        """`[CLS] text [SEP]`, truncated to `max_length`."""
        ids = self.tokenize(texts)
        ids = self._keep_first(ids, tf.fill([ids.nrows()], tf.cast(max_length - 2, tf.int64)))
        return self._finish([ids], max_length)

    def _truncated_pair(self, first, second, max_length: int):
        keep_a, keep_b = self.pair_lengths(first.row_lengths(), second.row_lengths(), max_length - 3)
        return keep_a, keep_b

    def encode_candidates(self, titles, bodies, max_length: int) -> dict[str, tf.Tensor]:
        """`[CLS] title [SEP] body [SEP]` (segment 0 for the title part, 1 for the body), longest-first."""
        first, second = self.tokenize(titles), self.tokenize(bodies)
        keep_a, keep_b = self._truncated_pair(first, second, max_length)
        return self._finish([self._keep_first(first, keep_a), self._keep_first(second, keep_b)], max_length)

    def encode_pairs(self, queries, blocks, max_length: int) -> dict[str, tf.Tensor]:
        """The reader's `[CLS] query [SEP] block [SEP]`, with where each block token came from.

        Extra outputs: `block_mask` (1 on the block's own tokens: where answer spans may start and end) and
        `block_token_start` / `block_token_end`, the byte range of each token in the original block string
        (0 elsewhere), so `block[start[s]:end[e]]` is the source text of a predicted span (s, e).
        """
        first = self.tokenize(queries)
        second, starts, ends = self.tokenize_with_offsets(blocks)
        keep_a, keep_b = self._truncated_pair(first, second, max_length)
        first = self._keep_first(first, keep_a)
        second, starts, ends = (self._keep_first(x, keep_b) for x in (second, starts, ends))
        encoded = self._finish([first, second], max_length)

        def block_positions(values: tf.RaggedTensor, special: int) -> tf.Tensor:
            combined, _ = tf_text.combine_segments(
                [tf.zeros_like(first, dtype=values.dtype), values],
                start_of_sequence_id=special,
                end_of_segment_id=special,
            )
            padded, _ = tf_text.pad_model_inputs(combined, max_length, pad_value=special)
            return padded

        encoded["block_mask"] = tf.cast(block_positions(tf.ones_like(second, dtype=tf.int32), 0), tf.int32)
        encoded["block_token_start"] = tf.cast(block_positions(starts, 0), tf.int32)
        encoded["block_token_end"] = tf.cast(block_positions(ends, 0), tf.int32)
        return encoded

    def batch_encode_candidates(self, texts, max_length: int, text_pairs=None) -> dict[str, tf.Tensor]:
        """HF's `batch_encode_candidates`: texts [batch, num_candidates] -> [batch, num_candidates, max_length]."""
        texts = tf.convert_to_tensor(texts, tf.string)
        shape = tf.shape(texts)
        flat = tf.reshape(texts, [-1])
        if text_pairs is None:
            encoded = self.encode_queries(flat, max_length)
        else:
            encoded = self.encode_candidates(
                flat, tf.reshape(tf.convert_to_tensor(text_pairs, tf.string), [-1]), max_length
            )
        return {k: tf.reshape(v, tf.concat([shape, [max_length]], 0)) for k, v in encoded.items()}

    # ------------------------------------------------------------------------------------------------- decode
    def decode(self, ids) -> tf.Tensor:
        """Wordpieces joined back into words (`##` merged), skipping special tokens; for inspection."""
        ids = tf.convert_to_tensor(ids)
        if isinstance(ids, tf.Tensor) and ids.shape.rank == 1:
            ids = tf.expand_dims(ids, 0)
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.RaggedTensor.from_tensor(ids)
        keep = tf.reduce_all(tf.not_equal(tf.expand_dims(ids, -1), tf.constant(self.special_ids, ids.dtype)), axis=-1)
        ids = tf.ragged.boolean_mask(ids, keep)
        pieces = tf.gather(self._vocab_tensor, ids)
        joined = tf.strings.reduce_join(pieces, axis=-1, separator=" ")
        return tf.strings.regex_replace(joined, " ##", "")


def span_text(blocks: tf.Tensor, start_bytes: tf.Tensor, end_bytes: tf.Tensor) -> tf.Tensor:
    """The original text of spans given byte offsets from `encode_pairs` (`block[start:end]`)."""
    return tf.strings.substr(blocks, start_bytes, end_bytes - start_bytes, unit="BYTE")


def as_texts(values: Sequence[str] | tf.Tensor) -> tf.Tensor:
    return _to_string_tensor(values)
