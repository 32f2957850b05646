"""REALM's BERT-uncased WordPiece tokenizer in TensorFlow graph ops (tensorflow-text).

Everything here is TF ops, so the same tokenizer runs eagerly, in `tf.data`, in Beam workers and inside an
exported SavedModel that TF Serving loads (tensorflow-text ops only).

Ids equal Hugging Face's `BertTokenizer`/`RealmTokenizer`: tensorflow-text's own lower-casing is Unicode case
*folding* (NFKC_Casefold: "…" -> "...", "ª" -> "a", "ς" -> "σ"), which differs from BERT's `str.lower()` + NFD +
accent stripping on about 0.2% of Wikipedia sentences. So we normalise per code point with a table built from
Python's `unicodedata` (exactly HF's rule: drop control characters, map whitespace to space, pad CJK characters
with spaces, lower-case, NFD, drop combining marks) and then run `FastWordpieceTokenizer` (BERT's splitting on
whitespace and punctuation, and WordPiece) on the result, without tensorflow-text's normaliser.
Because each output byte remembers the source code point it came from, token offsets point into the
*original* text, which is how a predicted answer span is returned as the source words.
"""

from __future__ import annotations

import dataclasses
import functools
import unicodedata
from collections.abc import Sequence

import numpy as np
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
# A block's title in the reader's input is cut to this many wordpieces (Wikipedia titles are far shorter; the cap
# keeps a pathological one from taking the block's room).
MAX_READER_TITLE_PIECES = 32


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


@dataclasses.dataclass(frozen=True)
class NormalizationSlices:
    """BERT normalisation of every code point as a slice of one vector of output code points.

    `values[bmp_starts[cp]:bmp_limits[cp]]` is what BMP code point `cp` becomes (itself, nothing, its
    `normalization_table()` entry, or itself between spaces for CJK); beyond the BMP only code points with a
    `normalization_table()` entry have a row (`supp_keys[i]` -> `values[supp_starts[i]:supp_limits[i]]`), the
    others are handled by range as before (CJK padded, private use dropped, everything else kept).
    `bmp_bytes` / `supp_bytes`: the UTF-8 length of each row's output.
    """

    values: np.ndarray
    bmp_starts: np.ndarray
    bmp_limits: np.ndarray
    bmp_bytes: np.ndarray
    supp_keys: np.ndarray
    supp_starts: np.ndarray
    supp_limits: np.ndarray
    supp_bytes: np.ndarray


@functools.lru_cache(maxsize=1)
def tf_text_control_characters() -> frozenset[int]:
    """Code points tensorflow-text's BERT normaliser (without lower-casing) turns into a space: its control
    characters, by its own Unicode data.

    FastBertTokenizer used to run that normaliser after ours; FastWordpieceTokenizer alone does not, so where
    the two disagree (e.g. format controls newer than Python's `unicodedata`, which keeps them as unassigned
    characters), the space is put in by our table instead and every id and offset stays what it was.
    """
    with tf.init_scope():  # eager even when the tokenizer is built inside a graph
        code_points = np.array([c for c in range(1, 0x110000) if not 0xD800 <= c <= 0xDFFF], np.int64)
        normalizer = tf_text.FastBertNormalizer(lower_case_nfd_strip_accents=False)
        text = "".join(map(chr, code_points.tolist()))
        out = tf.strings.unicode_decode(normalizer.normalize(tf.constant([text])), "UTF-8")[0].numpy()
    if len(out) != len(code_points) or not (out[out != code_points] == 32).all():
        raise RuntimeError("tensorflow-text's BERT normaliser does more than map characters to spaces")
    return frozenset(code_points[out != code_points].tolist())


@functools.lru_cache(maxsize=1)
def normalization_slices() -> NormalizationSlices:
    """The precedence is that of the string-per-code-point rule it replaces: private use -> nothing, else CJK ->
    padded with spaces, else the table entry, else unchanged; then tensorflow-text's control characters among
    the result become spaces (see `tf_text_control_characters`)."""
    keys, normalized = normalization_table()
    controls = tf_text_control_characters()
    table = {
        key: "".join(" " if ord(c) in controls else c for c in value)
        for key, value in zip(keys, normalized, strict=True)
    }
    for code_point in controls:
        in_ranges = any(lo <= code_point <= hi for lo, hi in _PRIVATE_USE_RANGES + _CJK_RANGES)
        if code_point not in table and not in_ranges:
            table[code_point] = " "
    values: list[int] = []
    starts, limits = np.zeros(0x10000, np.int64), np.zeros(0x10000, np.int64)
    for code_point in range(0x10000):
        starts[code_point] = len(values)
        if any(lo <= code_point <= hi for lo, hi in _PRIVATE_USE_RANGES):
            pass
        elif any(lo <= code_point <= hi for lo, hi in _CJK_RANGES):
            values += (32, code_point, 32)
        elif code_point in table:
            values += map(ord, table[code_point])
        else:
            values.append(code_point)
        limits[code_point] = len(values)
    supp_keys = np.array(sorted(k for k in table if k > 0xFFFF), np.int64)
    supp_starts, supp_limits = np.zeros(len(supp_keys), np.int64), np.zeros(len(supp_keys), np.int64)
    for i, code_point in enumerate(supp_keys.tolist()):
        supp_starts[i] = len(values)
        values += map(ord, table[code_point])
        supp_limits[i] = len(values)
    values_array = np.array(values, np.int32)
    value_bytes = np.concatenate([[0], np.cumsum([len(chr(v).encode("utf-8", "surrogatepass")) for v in values])])
    return NormalizationSlices(
        values_array,
        starts,
        limits,
        value_bytes[limits] - value_bytes[starts],
        supp_keys,
        supp_starts,
        supp_limits,
        value_bytes[supp_limits] - value_bytes[supp_starts],
    )


def _in_ranges(code_points: tf.Tensor, ranges) -> tf.Tensor:
    hits = [tf.logical_and(code_points >= lo, code_points <= hi) for lo, hi in ranges]
    return functools.reduce(tf.logical_or, hits)


def _source_code_point(out_splits: tf.Tensor, byte_positions: tf.Tensor) -> tf.Tensor:
    """Index of the source code point whose output holds each byte position (code points whose output is empty
    own no byte): the number of code points whose output ends at or before it."""
    return tf.searchsorted(out_splits[1:], byte_positions, side="right")


def _to_string_tensor(texts) -> tf.Tensor:
    if isinstance(texts, str | bytes):
        texts = [texts]
    return tf.convert_to_tensor(texts, dtype=tf.string)


class RealmTokenizer(tf.Module):
    """BERT uncased WordPiece with REALM's encodings, batched, returning int32 tensors.

    Encodings (all padded with [PAD] to `max_length`, with `attention_mask` and `token_type_ids`):
    - `encode_queries`: `[CLS] query [SEP]`;
    - `encode_candidates`: `[CLS] title [SEP] body [SEP]` (token type 0 for the title part, 1 for the body);
    - `encode_pairs`: the reader's `[CLS] question [SEP] block [SEP]` (or `... [SEP] title [SEP] block [SEP]`)
      plus `block_mask` and byte offsets of every block token into the block text;
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
        # FastWordpieceTokenizer itself (splitting on whitespace and punctuation, then WordPiece), not
        # FastBertTokenizer: that one always runs its FastBertNormalizer first, which even without lower-casing
        # maps control characters to spaces and returns a per-byte offset map its token offsets are then
        # gathered through, more than half of the tokenizer's time. Our texts reach it already normalised (no
        # control characters left), so it would change nothing: the tests compare the two on every code point.
        self._wordpiece = tf_text.FastWordpieceTokenizer(
            vocab=vocab,
            token_out_type=tf.int32,
            unknown_token="[UNK]",
            no_pretokenization=False,
        )
        slices = normalization_slices()
        self._norm_values = tf.constant(slices.values, tf.int32)
        self._bmp_starts = tf.constant(slices.bmp_starts, tf.int64)
        self._bmp_limits = tf.constant(slices.bmp_limits, tf.int64)
        self._bmp_bytes = tf.constant(slices.bmp_bytes, tf.int64)
        self._supp_starts = tf.constant(slices.supp_starts, tf.int64)
        self._supp_limits = tf.constant(slices.supp_limits, tf.int64)
        self._supp_bytes = tf.constant(slices.supp_bytes, tf.int64)
        self._bmp_source_bytes = tf.constant(
            [len(chr(c).encode("utf-8", "surrogatepass")) for c in range(0x10000)], tf.int64
        )
        self._supp_rows = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(slices.supp_keys, tf.int64), tf.range(len(slices.supp_keys), dtype=tf.int64)
            ),
            default_value=-1,
        )
        self._vocab_tensor = tf.constant(vocab)

    @property
    def vocab(self) -> list[str]:
        """The wordpieces, by id."""
        return list(self._vocab_list)

    @classmethod
    def from_default_vocab(cls) -> RealmTokenizer:
        from realm.resources import default_vocab_file

        return cls(default_vocab_file())

    # ------------------------------------------------------------------------------------------ normalisation
    def _normalize(self, texts: tf.Tensor):
        """BERT normalisation of a batch, and where each output byte came from, without per-byte tensors.

        Returns (normalized [b], out_splits [n+1], text_splits [b+1], source_start [n], source_end [n]) over the
        batch's n source code points: source code point i produced the normalized bytes [out_splits[i],
        out_splits[i+1]) of the batch's concatenated output (text t owns [text_splits[t], text_splits[t+1])), and
        spans the bytes [source_start[i], source_end[i]) of its own text.

        Works on code points, not on one string per code point: every code point becomes a [start, limit) slice
        of the static normalisation table (beyond the BMP, code points without a table row instead get a slice of
        `" " cp " "` built for this call: itself, or itself padded for CJK), the slices are gathered at once and
        each text is UTF-8 encoded once; the output's byte length per code point is a table lookup too. The
        string-per-code-point version (encode, look up, concatenate, join, repeat offsets per byte) cost as much
        as tokenizing ten times as many ASCII bytes.
        """
        code_points, starts = tf.strings.unicode_decode_with_offsets(
            texts, "UTF-8", errors="replace", replacement_char=0xFFFD
        )
        flat_cp = tf.cast(code_points.flat_values, tf.int64)
        bmp = tf.minimum(flat_cp, 0xFFFF)
        slice_start = tf.gather(self._bmp_starts, bmp)
        slice_limit = tf.gather(self._bmp_limits, bmp)
        out_bytes = tf.gather(self._bmp_bytes, bmp)
        # Beyond the BMP (rare): a table row found by hash lookup, else the code point itself, padded for CJK,
        # nothing for private use. Only those positions are looked up, then patched in.
        beyond = flat_cp > 0xFFFF
        supplementary = tf.where(beyond)
        supp_cp = tf.gather_nd(flat_cp, supplementary)
        supp_row = self._supp_rows.lookup(supp_cp)
        static_size = tf.size(self._norm_values, out_type=tf.int64)
        padded_at = static_size + 3 * tf.range(tf.size(supp_cp, out_type=tf.int64))  # its `" " cp " "`
        cjk = _in_ranges(supp_cp, _CJK_RANGES)
        private = _in_ranges(supp_cp, _PRIVATE_USE_RANGES)
        in_table = supp_row >= 0
        row = tf.maximum(supp_row, 0)
        supp_start = tf.where(in_table, tf.gather(self._supp_starts, row), tf.where(cjk, padded_at, padded_at + 1))
        supp_limit = tf.where(in_table, tf.gather(self._supp_limits, row), tf.where(cjk, padded_at + 3, padded_at + 2))
        supp_limit = tf.where(private, supp_start, supp_limit)
        four = tf.fill(tf.shape(supp_cp), tf.constant(4, tf.int64))  # UTF-8 bytes of a code point beyond the BMP
        supp_bytes = tf.where(in_table, tf.gather(self._supp_bytes, row), tf.where(cjk, four + 2, four))
        supp_bytes = tf.where(private, tf.zeros_like(supp_bytes), supp_bytes)
        slice_start = tf.tensor_scatter_nd_update(slice_start, supplementary, supp_start)
        slice_limit = tf.tensor_scatter_nd_update(slice_limit, supplementary, supp_limit)
        out_bytes = tf.tensor_scatter_nd_update(out_bytes, supplementary, supp_bytes)

        positions = tf.ragged.range(slice_start, slice_limit)  # [source code point, (output code points)]
        index = positions.flat_values
        spaces = tf.fill(tf.shape(supp_cp), tf.constant(32, tf.int32))
        padded = tf.reshape(tf.stack([spaces, tf.cast(supp_cp, tf.int32), spaces], axis=1), [-1])
        out_cp = tf.where(
            index < static_size,
            tf.gather(self._norm_values, tf.minimum(index, static_size - 1)),
            tf.gather(tf.concat([padded, [0]], 0), tf.maximum(index - static_size, 0)),
        )
        per_text_cps = tf.RaggedTensor.from_row_splits(
            out_cp, tf.gather(positions.row_splits, code_points.row_splits), validate=False
        )
        normalized = tf.strings.unicode_encode(per_text_cps, "UTF-8")
        out_splits = tf.concat([[0], tf.cumsum(out_bytes)], 0)
        text_splits = tf.gather(out_splits, code_points.row_splits)
        source_start = starts.flat_values
        # U+FFFD (also what invalid UTF-8 decodes to) normalises to nothing, so its byte length never matters.
        source_end = source_start + tf.where(beyond, tf.constant(4, tf.int64), tf.gather(self._bmp_source_bytes, bmp))
        return normalized, out_splits, text_splits, source_start, source_end

    def normalize_with_offsets(self, texts: tf.Tensor):
        """BERT normalisation; returns (normalized [b], source_start, source_end) with one offset per output byte.

        source_start/end[i, j] are the byte range in the original text of the code point that produced
        normalized byte j. Invalid UTF-8 is replaced by U+FFFD first (which BERT then drops). The text is what
        WordPiece reads: tensorflow-text's control characters are spaces in it (`tf_text_control_characters`).
        """
        normalized, out_splits, text_splits, source_start, source_end = self._normalize(texts)
        source = _source_code_point(out_splits, tf.range(out_splits[-1]))
        source_start = tf.RaggedTensor.from_row_splits(tf.gather(source_start, source), text_splits, validate=False)
        source_end = tf.RaggedTensor.from_row_splits(tf.gather(source_end, source), text_splits, validate=False)
        return normalized, source_start, source_end

    # ----------------------------------------------------------------------------------------------- tokenize
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def _tokenize_batch(self, texts: tf.Tensor):
        """One compiled graph for the whole path (eager op-by-op execution is several times slower).

        Texts of printable ASCII need no normalisation table: BERT's normalisation of them is lower-casing,
        which keeps every byte offset, so only the others (about 1 in 13 Wikipedia sentences) take the
        per-code-point path. Their normalised text is put in place of the lower-cased one and the whole batch
        goes through WordPiece at once (it works row by row); then only their tokens' offsets are mapped back
        to the source text. (Tokenizing the two groups separately and merging the ragged results back into
        input order cost more than the normalisation.)
        """
        plain = tf.strings.regex_full_match(texts, r"[\x20-\x7e\t\n\r]*")
        other_rows = tf.where(tf.logical_not(plain))[:, 0]
        normalized, out_splits, text_splits, source_start, source_end = self._normalize(tf.gather(texts, other_rows))
        prepared = tf.tensor_scatter_nd_update(tf.strings.lower(texts), other_rows[:, None], normalized)
        ids, starts, ends = self._wordpiece.tokenize_with_offsets(prepared)
        if ids.shape.rank == 3:
            ids, starts, ends = (x.merge_dims(-2, -1) for x in (ids, starts, ends))
        # The other rows' tokens: their flat positions, and which of those rows each belongs to.
        token_splits = ids.row_splits
        other_tokens = tf.ragged.range(tf.gather(token_splits, other_rows), tf.gather(token_splits, other_rows + 1))
        positions = other_tokens.flat_values
        # Map each token's first and last normalised byte back to its source code point (only token ends are
        # looked up, not every byte).
        text_start = tf.gather(text_splits, other_tokens.value_rowids())
        first = text_start + tf.cast(tf.gather(starts.flat_values, positions), tf.int64)
        last = text_start + tf.maximum(tf.cast(tf.gather(ends.flat_values, positions), tf.int64) - 1, 0)
        mapped_start = tf.gather(source_start, _source_code_point(out_splits, first))
        mapped_end = tf.gather(source_end, _source_code_point(out_splits, last))
        flat_starts = tf.tensor_scatter_nd_update(
            tf.cast(starts.flat_values, tf.int64), positions[:, None], mapped_start
        )
        flat_ends = tf.tensor_scatter_nd_update(tf.cast(ends.flat_values, tf.int64), positions[:, None], mapped_end)
        return ids, starts.with_flat_values(flat_starts), ends.with_flat_values(flat_ends)

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

    def _in_graph(self, encoding, max_length: int, *texts) -> dict[str, tf.Tensor]:
        """`encoding(*texts, max_length)` as one compiled graph per encoding and length when called eagerly.

        Truncating, combining and padding are ragged ops; run eagerly, op by op, they cost several times the
        WordPiece itself (about 0.12 s of each fine-tuning step's batch; docs/finetuning.md). Inside a graph
        (a serving signature, a traced step) the ops join that graph as they are. The outputs are the same either
        way: integer and string ops only.
        """
        texts = tuple(_to_string_tensor(t) for t in texts)
        if tf.inside_function():
            return encoding(*texts, max_length)
        graphs = self.__dict__.setdefault("_encoding_graphs", {})  # plain dict: not tracked, not exported
        key = (encoding.__name__, int(max_length))
        if key not in graphs:
            graphs[key] = tf.function(
                lambda *t: encoding(*t, int(max_length)),
                input_signature=[tf.TensorSpec([None], tf.string)] * len(texts),
            )
        return graphs[key](*texts)

    def encode_queries(self, texts, max_length: int) -> dict[str, tf.Tensor]:
        """`[CLS] text [SEP]`, truncated to `max_length`."""
        return self._in_graph(self._encode_queries, max_length, texts)

    def _encode_queries(self, texts: tf.Tensor, max_length: int) -> dict[str, tf.Tensor]:
        ids = self.tokenize(texts)
        ids = self._keep_first(ids, tf.fill([ids.nrows()], tf.cast(max_length - 2, tf.int64)))
        return self._finish([ids], max_length)

    def _truncated_pair(self, first, second, max_length: int):
        keep_a, keep_b = self.pair_lengths(first.row_lengths(), second.row_lengths(), max_length - 3)
        return keep_a, keep_b

    def encode_candidates(self, titles, bodies, max_length: int) -> dict[str, tf.Tensor]:
        """`[CLS] title [SEP] body [SEP]` (segment 0 for the title part, 1 for the body), longest-first."""
        return self._in_graph(self._encode_candidates, max_length, titles, bodies)

    def _encode_candidates(self, titles: tf.Tensor, bodies: tf.Tensor, max_length: int) -> dict[str, tf.Tensor]:
        first, second = self.tokenize(titles), self.tokenize(bodies)
        keep_a, keep_b = self._truncated_pair(first, second, max_length)
        return self._finish([self._keep_first(first, keep_a), self._keep_first(second, keep_b)], max_length)

    def encode_pairs(self, queries, blocks, max_length: int, titles=None) -> dict[str, tf.Tensor]:
        """The reader's `[CLS] question [SEP] block [SEP]`, with where each block token came from.

        Extra outputs: `block_mask` (1 on the block's own tokens: where answer spans may start and end) and
        `block_token_start` / `block_token_end`, the byte range of each token in the original block string
        (0 elsewhere), so `block[start[s]:end[e]]` is the source text of a predicted span (s, e).

        With `titles` (one per block), `[CLS] question [SEP] title [SEP] block [SEP]`, as DPR's reader reads: the
        title says what a block is about when its text only says "it" or "the animal". The title shares the
        block's token type, is kept whole up to MAX_READER_TITLE_PIECES, and is outside `block_mask`, so no
        answer span starts, ends or crosses into it.
        """
        if titles is None:
            return self._in_graph(self._encode_pairs, max_length, queries, blocks)
        return self._in_graph(self._encode_titled_pairs, max_length, queries, titles, blocks)

    def _encode_pairs(self, queries: tf.Tensor, blocks: tf.Tensor, max_length: int) -> dict[str, tf.Tensor]:
        first = self.tokenize(queries)
        second, starts, ends = self.tokenize_with_offsets(blocks)
        keep_a, keep_b = self._truncated_pair(first, second, max_length)
        first = self._keep_first(first, keep_a)
        second, starts, ends = (self._keep_first(x, keep_b) for x in (second, starts, ends))
        encoded = self._finish([first, second], max_length)
        return self._with_block_positions(encoded, max_length, [first], second, starts, ends)

    def _encode_titled_pairs(
        self, queries: tf.Tensor, titles: tf.Tensor, blocks: tf.Tensor, max_length: int
    ) -> dict[str, tf.Tensor]:
        first = self.tokenize(queries)
        title = self.tokenize(titles)
        title = self._keep_first(title, tf.minimum(title.row_lengths(), MAX_READER_TITLE_PIECES))
        second, starts, ends = self.tokenize_with_offsets(blocks)
        # The title is kept whole; question and block share what is left, longest first as for plain pairs.
        budget = max_length - 4 - title.row_lengths()
        keep_a, keep_b = self.pair_lengths(first.row_lengths(), second.row_lengths(), budget)
        first = self._keep_first(first, keep_a)
        second, starts, ends = (self._keep_first(x, keep_b) for x in (second, starts, ends))
        encoded = self._finish([first, title, second], max_length)
        # combine_segments numbers the third segment 2; BERT has two token types, and the title belongs to the
        # block's side of the pair.
        encoded["token_type_ids"] = tf.minimum(encoded["token_type_ids"], 1)
        return self._with_block_positions(encoded, max_length, [first, title], second, starts, ends)

    @staticmethod
    def _with_block_positions(encoded, max_length: int, before: list, second, starts, ends) -> dict[str, tf.Tensor]:
        """`block_mask` and the byte offsets, placed where the block's tokens sit (0 on every other position)."""

        def block_positions(values: tf.RaggedTensor) -> tf.Tensor:
            combined, _ = tf_text.combine_segments(
                [*(tf.zeros_like(x, dtype=values.dtype) for x in before), values],
                start_of_sequence_id=0,
                end_of_segment_id=0,
            )
            padded, _ = tf_text.pad_model_inputs(combined, max_length, pad_value=0)
            return padded

        encoded["block_mask"] = tf.cast(block_positions(tf.ones_like(second, dtype=tf.int32)), tf.int32)
        encoded["block_token_start"] = tf.cast(block_positions(starts), tf.int32)
        encoded["block_token_end"] = tf.cast(block_positions(ends), tf.int32)
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
