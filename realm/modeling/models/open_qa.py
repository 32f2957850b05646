"""RealmForOpenQA: question -> MIPS over block embeddings -> reader over the best blocks -> answer text."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from realm.config import RealmConfig
from realm.modeling.answer_merging import (
    ANSWER_CANDIDATES,
    ANSWER_MERGE_TOP_K_KEY,
    first_of_its_text,
    merge_by_answer_text,
    same_answer_text,
)
from realm.modeling.layers.attention import large_negative
from realm.modeling.layers.heads import span_candidates
from realm.modeling.models.embedder import RealmEmbedder
from realm.modeling.models.reader import RealmReader
from realm.modeling.span_rules import (
    ANSWER_TYPE_RULES_KEY,
    EXCLUDE_QUESTION_SPANS_KEY,
    MEASURE_UNITS_KEY,
    question_words_in_spans,
    spans_beyond_the_question,
    spans_inside_the_block,
    spans_of_a_measure,
    spans_of_the_asked_kind,
    vocab_content_words,
    vocab_token_kinds,
)
from realm.retrieval.article_scores import article_ids_of, rerank_by_article
from realm.retrieval.lexical import LexicalIndex, LexicalIndexVariables
from realm.retrieval.mips import DEFAULT_CHUNK_SIZE, exact_top_k

QUERY_SEQ_LEN_KEY = "query_seq_len"  # kept in RealmConfig.extra (not an HF field)
# RealmConfig.extra: how much a block's retrieval score counts in its spans' scores when predicting. Training adds
# it whole (HF/REALM: a span's logit is the reader's plus the block's); a weight under 1 lets the reader prefer a
# span of a lower-ranked block more readily. 1 (HF's) for checkpoints without it.
RELEVANCE_WEIGHT_KEY = "reader_relevance_weight"
# RealmConfig.extra: a prior against wide answers when predicting, in logits per wordpiece beyond the first. The
# reader's head scores a span from its start and end alone, so nothing in it prefers "alpha" over "alpha, which
# the Greeks took from the Phoenician aleph"; 0 (HF's) for checkpoints without it.
SPAN_WIDTH_PENALTY_KEY = "reader_span_width_penalty"
# RealmConfig.extra: a prior against answers that repeat the question, in logits per content word of the question
# a span holds (realm.modeling.span_rules.question_words_in_spans); 0 (HF's) for checkpoints without it.
QUESTION_WORD_PENALTY_KEY = "reader_question_word_penalty"
# RealmConfig.extra: the reader reads each block's title before its text (`[CLS] question [SEP] title [SEP] block
# [SEP]`, as DPR's reader does); the model then holds the titles beside the block records. Off (HF's, ORQA's) for
# checkpoints without it.
READER_TITLES_KEY = "reader_reads_titles"
# How much a retrieved block's article counts in its rank, from 0 (REALM's ranking) to 1
# (realm.retrieval.article_scores); needs the blocks' titles.
ARTICLE_SCORE_WEIGHT_KEY = "retrieval_article_weight"
# RealmConfig.extra: how much the blocks' BM25 scores (realm.retrieval.lexical) add to their dense retrieval scores,
# `dense + w * BM25`; the model then holds a lexical index of its blocks and their titles. 0 (REALM's, HF's: dense
# only) for checkpoints without it.
LEXICAL_WEIGHT_KEY = "retrieval_lexical_weight"
# RealmConfig.extra: the prediction ranks spans by REALM's p(z | x) p(s | z, x), span scores normalised within each
# block (RealmReader's `per_block_spans`), instead of ORQA's and HF's joint softmax over all blocks' spans. Off
# (HF's) for checkpoints without it.
PER_BLOCK_SPANS_KEY = "reader_per_block_spans"


def _narrowed(candidates, rule, batch, beam: int):
    """`rule` [batch * beam, spans] where a question's blocks hold a candidate span it keeps, else every span: a
    rule narrows the choice, it never leaves a question without an answer."""
    some = tf.reduce_any(tf.logical_and(tf.reshape(candidates, [batch, -1]), tf.reshape(rule, [batch, -1])), axis=1)
    return tf.logical_or(rule, tf.logical_not(tf.repeat(some, beam))[:, None])


class RealmForOpenQA(keras.Model):
    """End-to-end open-domain QA over a fixed corpus, batched over questions (HF's takes one at a time).

    Holds the corpus as `block_emb` [num_block_records, retriever_proj_size] (a non-trainable weight, fixed
    during fine-tuning as in ORQA/REALM) and `block_records` (the block texts the reader reads). The tokenizer
    runs in-graph, so the same model exports to a SavedModel that takes raw question strings.
    """

    def __init__(
        self,
        config: RealmConfig,
        tokenizer=None,
        block_records=None,
        query_seq_len: int | None = None,
        block_titles=None,
        mips_chunk_size: int = DEFAULT_CHUNK_SIZE,
        **kwargs,
    ):
        kwargs.setdefault("name", "realm_for_open_qa")
        super().__init__(**kwargs)
        self.config = config
        # The question length fine-tuning used travels in the config, so evaluation and the export read questions
        # as the model was trained to (a HF config without it: ORQA's 64).
        self.query_seq_len = query_seq_len or int(config.extra.get(QUERY_SEQ_LEN_KEY, 64))
        self.mips_chunk_size = mips_chunk_size
        # Off for checkpoints from elsewhere (HF's reader has no such rule); `realm finetune` turns it on.
        self.exclude_question_spans = bool(config.extra.get(EXCLUDE_QUESTION_SPANS_KEY, False))
        self.answer_type_rules = bool(config.extra.get(ANSWER_TYPE_RULES_KEY, False))
        self.measure_units = bool(config.extra.get(MEASURE_UNITS_KEY, False))  # read with answer_type_rules only
        self.relevance_weight = float(config.extra.get(RELEVANCE_WEIGHT_KEY, 1.0))
        self.span_width_penalty = float(config.extra.get(SPAN_WIDTH_PENALTY_KEY, 0.0))
        self.question_word_penalty = float(config.extra.get(QUESTION_WORD_PENALTY_KEY, 0.0))
        self.answer_merge_top_k = int(config.extra.get(ANSWER_MERGE_TOP_K_KEY, 0))
        self.reader_titles = bool(config.extra.get(READER_TITLES_KEY, False))
        self.per_block_spans = bool(config.extra.get(PER_BLOCK_SPANS_KEY, False))
        self.article_score_weight = float(config.extra.get(ARTICLE_SCORE_WEIGHT_KEY, 0.0))
        self.lexical_weight = float(config.extra.get(LEXICAL_WEIGHT_KEY, 0.0))
        self._lexical_index = None
        self.embedder = RealmEmbedder(config, name="embedder")
        self.reader = RealmReader(config, name="reader")
        self.block_emb = self.add_weight(
            name="block_emb",
            shape=(config.num_block_records, config.retriever_proj_size),
            initializer="zeros",
            trainable=False,
        )
        if tokenizer is None:
            from realm.tokenization import RealmTokenizer

            tokenizer = RealmTokenizer.from_default_vocab()
        self.tokenizer = tokenizer
        self._token_kinds = tf.constant(vocab_token_kinds(tokenizer.vocab))  # for the answer-type rule
        self._content_words = tf.constant(vocab_content_words(tokenizer.vocab))  # for the question-word prior
        records = np.full((config.num_block_records,), b"", dtype=object) if block_records is None else block_records
        self.set_block_records(records)
        self._block_titles = self._block_articles = None
        if block_titles is not None:
            self.set_block_titles(block_titles)

    def set_block_records(self, block_records) -> None:
        self._block_records = self._per_block_strings(block_records, "block_records")

    @property
    def block_records(self) -> tf.Variable:
        return self._block_records

    def set_block_titles(self, titles) -> None:
        """Every block's title (its article's), one per block record: what a reader that reads titles reads."""
        titles = [t.encode() if isinstance(t, str) else t for t in titles]
        self._block_titles = self._per_block_strings(titles, "block_titles")
        self._block_articles = tf.Variable(article_ids_of(titles), trainable=False, name="block_articles")

    def _per_block_strings(self, values, name: str) -> tf.Variable:
        array = np.asarray(values, dtype=object)
        if array.shape != (self.config.num_block_records,):
            raise ValueError(
                f"{name} has shape {array.shape}, config.num_block_records is {self.config.num_block_records}"
            )
        return tf.Variable(tf.constant(array.astype(bytes)), trainable=False, name=name, dtype=tf.string)

    @property
    def block_titles(self) -> tf.Variable | None:
        return self._block_titles

    @property
    def block_articles(self) -> tf.Variable | None:
        """Each block's article as an integer (from its title): what ranking blocks by article reads."""
        return self._block_articles

    def set_lexical_index(self, index: LexicalIndex) -> None:
        """The BM25 index of this model's blocks (LexicalIndex.build over its block records and titles)."""
        if index.num_blocks != self.config.num_block_records:
            raise ValueError(
                f"the lexical index holds {index.num_blocks} blocks, config.num_block_records is "
                f"{self.config.num_block_records}"
            )
        self._lexical_index = index.variables()

    @property
    def lexical_index(self) -> LexicalIndexVariables | None:
        return self._lexical_index

    def lexical_scores(self, questions) -> tf.Tensor | None:
        """What ranking adds to the dense scores, `lexical_weight * BM25` [b, num_blocks]; None when dense only."""
        if not self.lexical_weight:
            return None
        if self._lexical_index is None:
            raise ValueError(f"this model adds BM25 to its retrieval ({LEXICAL_WEIGHT_KEY}) but holds no lexical index")
        return self.lexical_weight * self._lexical_index.scores(questions)

    def retrieve(self, questions, training=False):
        """Embed questions and return (question_emb [b, p], scores [b, S], block ids [b, S]) best first."""
        encoded = self.tokenizer.encode_queries(questions, self.query_seq_len)
        question_emb = self.embedder(
            encoded["input_ids"], encoded["attention_mask"], encoded["token_type_ids"], training=training
        )["projected_score"]
        scores, ids = exact_top_k(
            question_emb,
            self.block_emb,
            self.config.searcher_beam_size,
            chunk_size=self.mips_chunk_size,
            bias=self.lexical_scores(questions),
        )
        return question_emb, scores, ids

    def __call__(self, questions, *args, **kwargs):
        # Keras only takes tensors positionally; accept a Python list of question strings too.
        return super().__call__(tf.convert_to_tensor(questions, tf.string), *args, **kwargs)

    def call(self, questions, training=False):
        _, scores, ids = self.retrieve(questions, training=training)
        return self.read(questions, scores, ids, training=training)

    def read(self, questions, scores, ids, training=False):
        """The reader over the best `reader_beam_size` of the retrieved blocks (ids/scores best first; re-ranked by
        article first when `article_score_weight` is set)."""
        if self.article_score_weight:
            if self._block_articles is None:
                raise ValueError(f"this model ranks blocks by article ({ARTICLE_SCORE_WEIGHT_KEY}) but holds no titles")
            scores, ids = rerank_by_article(scores, ids, self._block_articles, self.article_score_weight)
        beam = min(self.config.reader_beam_size, ids.shape[1] or self.config.reader_beam_size)
        batch = tf.shape(questions)[0]
        top_ids = ids[:, :beam]
        blocks = tf.gather(self._block_records, top_ids)  # [b, R]
        titles = None
        if self.reader_titles:
            if self._block_titles is None:
                raise ValueError("this model reads block titles (config.extra reader_reads_titles) but holds none")
            titles = tf.reshape(tf.gather(self._block_titles, top_ids), [-1])
        pairs = self.tokenizer.encode_pairs(
            tf.repeat(questions, beam), tf.reshape(blocks, [-1]), self.config.reader_seq_len, titles=titles
        )
        # Read only up to the longest pair (HF pads to the longest too): trailing padding is masked out of
        # attention and spans, so it changes no output and only costs reader time.
        longest = tf.reduce_max(tf.reduce_sum(pairs["attention_mask"], axis=-1))

        def beamed(x):
            return tf.reshape(x[:, :longest], [batch, beam, -1])

        flat = {k: pairs[k][:, :longest] for k in ("input_ids", "token_type_ids", "attention_mask", "block_mask")}
        width = self.config.max_span_width
        span_mask = None
        if self.exclude_question_spans or self.answer_type_rules:
            if self.exclude_question_spans:
                allowed = spans_beyond_the_question(**flat, max_span_width=width)
            else:
                allowed = spans_inside_the_block(flat["block_mask"], width)  # the spans a prediction may take at all
            if self.answer_type_rules:
                of_kind = spans_of_the_asked_kind(
                    tf.repeat(questions, beam),
                    flat["input_ids"],
                    flat["block_mask"],
                    self._token_kinds,
                    width,
                )
                # A question whose blocks hold no span of its kind keeps the spans the other rules allow.
                if self.exclude_question_spans:  # its spans may reach past the block; a prediction may not
                    candidates = tf.logical_and(allowed, spans_inside_the_block(flat["block_mask"], width))
                else:
                    candidates = allowed
                of_kind = _narrowed(candidates, of_kind, batch, beam)
                if self.measure_units:  # a measurement with its unit where one is offered, else a number
                    of_a_measure = spans_of_a_measure(
                        tf.repeat(questions, beam), flat["input_ids"], flat["block_mask"], self._token_kinds, width
                    )
                    of_kind = tf.logical_and(
                        of_kind, _narrowed(tf.logical_and(candidates, of_kind), of_a_measure, batch, beam)
                    )
                allowed = tf.logical_and(allowed, of_kind)
            span_mask = tf.reshape(allowed, [batch, beam, -1])
        span_bias = None
        if self.span_width_penalty:
            starts, ends = span_candidates(longest, width)
            span_bias = -self.span_width_penalty * tf.cast(ends - starts, tf.float32)  # [spans], for every row
        if self.question_word_penalty:
            repeated = question_words_in_spans(**flat, content_words=self._content_words, max_span_width=width)
            question_bias = -self.question_word_penalty * tf.cast(tf.reshape(repeated, [batch, beam, -1]), tf.float32)
            span_bias = question_bias if span_bias is None else span_bias + question_bias
        reader_out = self.reader(
            beamed(pairs["input_ids"]),
            attention_mask=beamed(pairs["attention_mask"]),
            token_type_ids=beamed(pairs["token_type_ids"]),
            relevance_score=scores * self.relevance_weight,
            block_mask=beamed(pairs["block_mask"]),
            span_mask=span_mask,
            span_bias=span_bias,
            per_block_spans=self.per_block_spans,
            training=training,
        )
        token_starts, token_ends = beamed(pairs["block_token_start"]), beamed(pairs["block_token_end"])

        def span_texts(block_idx, start_pos, end_pos):
            """The source text of spans, [b, n] each: block (of those read), first and last wordpiece."""
            starts = tf.gather(tf.gather(token_starts, block_idx, batch_dims=1), start_pos[..., None], batch_dims=2)
            ends = tf.gather(tf.gather(token_ends, block_idx, batch_dims=1), end_pos[..., None], batch_dims=2)
            texts = tf.gather(blocks, block_idx, batch_dims=1)
            return tf.strings.substr(texts, starts[..., 0], ends[..., 0] - starts[..., 0], unit="BYTE")

        reader_out = {**reader_out, **self._ranked_answers(reader_out, span_texts, batch)}
        block_idx = reader_out["block_idx"]
        answer = span_texts(block_idx[:, None], reader_out["start_pos"][:, None], reader_out["end_pos"][:, None])[:, 0]
        return {
            **reader_out,
            "retrieved_block_ids": ids,
            "retrieval_scores": scores,
            "predicted_block_id": tf.gather(top_ids, block_idx, batch_dims=1),
            "predicted_answer": answer,
            "answer_score": reader_out["predicted_score"],
            "reader_input_ids": beamed(pairs["input_ids"]),
        }

    def _ranked_answers(self, reader_out, span_texts, batch) -> dict:
        """The answer and the runners-up from the best spans over all blocks read.

        With `answer_merge_top_k`, the best that many spans merge by answer text (realm.modeling.answer_merging):
        the answer is the likeliest text's best span, its score the log-sum-exp of that text's spans. Either way
        the prediction lists the `ANSWER_CANDIDATES` likeliest distinct texts, the answer first, each with its
        probability under the softmax the prediction ranks all spans of all blocks read by (merged texts: their
        spans' sum), so a user sees how sure the model is and what it nearly said."""
        flat = tf.reshape(reader_out["predicted_logits"], [batch, -1])
        num_spans = tf.shape(reader_out["candidate_starts"])[0]
        # The spans merged, or unmerged the best 100, where five distinct texts are nearly always found.
        k = tf.minimum(self.answer_merge_top_k or 100, tf.shape(flat)[1])
        scores, best = tf.math.top_k(flat, k)
        block_idx, candidate = best // num_spans, best % num_spans
        start_pos = tf.gather(reader_out["candidate_starts"], candidate)
        end_pos = tf.gather(reader_out["candidate_ends"], candidate)
        texts = span_texts(block_idx, start_pos, end_pos)
        same = same_answer_text(texts)
        merged = merge_by_answer_text(scores, texts, same) if self.answer_merge_top_k else scores
        ranked = {}
        if self.answer_merge_top_k:
            pick = tf.argmax(merged, axis=1, output_type=tf.int32)[:, None]  # the first of a text's spans: its best
            ranked = {
                name: tf.gather(value, pick, batch_dims=1)[:, 0]
                for name, value in (
                    ("block_idx", block_idx),
                    ("candidate", candidate),
                    ("start_pos", start_pos),
                    ("end_pos", end_pos),
                    ("predicted_score", merged),
                )
            }
        negative_infinity = tf.constant(float("-inf"), merged.dtype)
        distinct = tf.where(first_of_its_text(same), merged, negative_infinity)
        listed = tf.minimum(ANSWER_CANDIDATES, k)
        top_scores, top = tf.math.top_k(distinct, listed)
        log_total = tf.reduce_logsumexp(flat, axis=1, keepdims=True)
        # Spans a rule masked out (answer_type_rules, span bounds) sit at the mask's large negative: never listed.
        listed_ok = top_scores > 0.5 * large_negative(top_scores.dtype)
        probabilities = tf.where(listed_ok, tf.exp(top_scores - log_total), 0.0)
        candidates = tf.where(listed_ok, tf.gather(texts, top, batch_dims=1), "")
        padding = [[0, 0], [0, ANSWER_CANDIDATES - listed]]  # fewer spans than candidates (tiny test inputs)
        listed_shape = [None, ANSWER_CANDIDATES]  # static, for clients that read the SignatureDef
        ranked["answer_candidates"] = tf.ensure_shape(tf.pad(candidates, padding, constant_values=""), listed_shape)
        ranked["answer_candidate_probabilities"] = tf.ensure_shape(
            tf.pad(tf.cast(probabilities, tf.float32), padding), listed_shape
        )
        return ranked

    def build_for_inference(self) -> RealmForOpenQA:
        self.embedder.build_for_inference()
        self.reader.build_for_inference()
        return self
