"""Open-QA fine-tuning the ORQA/REALM way: block embeddings fixed, question embedder and reader trained.

Per batch of questions: embed them with the current embedder, search the fixed block index (ScaNN above the
exact-search threshold), re-score the `searcher_beam_size` retrieved blocks exactly with gradients into the
question embedder, label each block "contains an answer", run the reader on the best `reader_beam_size` blocks
with the answer occurrences as span targets, and minimise the retriever's marginal log-likelihood over blocks
with an answer plus the reader's over spans matching one.

Run directory:
    checkpoints/   tf.train.CheckpointManager (embedder, reader, optimizer, step)
    index/         the fixed block index (or the pre-training run's, reused)
    tensorboard/, metrics.jsonl
    final/         RealmForOpenQA in save_pretrained format (config, weights, block_records.npy) + block_titles.json
"""

from __future__ import annotations

import dataclasses
import logging
import os

import numpy as np

from realm.config import RealmConfig
from realm.errors import RealmError
from realm.evaluation.answers import answer_in_text
from realm.finetuning.questions import Question
from realm.training_log import StepLogger
from realm.training_loop import resume, run_steps

logger = logging.getLogger(__name__)
MAX_ANSWER_SPANS = 8  # answer occurrences kept per block as reader targets


class FinetuningError(RealmError):
    pass


QUESTION_RATE_SCOPES = ("both", "reader")  # FinetuneConfig.question_learning_rate_scope


@dataclasses.dataclass
class FinetuneConfig:
    output_dir: str
    data_dir: str  # `realm preprocess` output: the block store
    model: RealmConfig = dataclasses.field(default_factory=RealmConfig)
    pretrain_dir: str | None = None  # a `realm pretrain` run: final/embedder, final/encoder, newest index
    init_embedder: str | None = None  # overrides the pre-training run's embedder
    init_bert: str | None = None  # plain BERT warm start for whatever the above does not provide
    # A converted reader to start from (RealmReader, RealmKnowledgeAugEncoder, or RealmForOpenQA such as
    # google/realm-orqa-nq-openqa, whose question embedder is taken too unless another embedder is given).
    init_reader: str | None = None
    steps: int = 1000
    # Steps on cloze questions made from the corpus (realm.finetuning.cloze), before the `steps` on the training
    # questions; each cloze question is used once. They teach a fresh span head what an answer is.
    cloze_steps: int = 0
    # Cloze steps may read fewer blocks per question (the question's own block is nearly always among the first
    # retrieved) and so afford more questions per step; None: batch_size and the model's reader_beam_size.
    cloze_batch_size: int | None = None
    cloze_reader_beam_size: int | None = None
    # The fraction of cloze questions with the wh-word in front ("when booth shot lincoln"), as people ask.
    cloze_wh_first: float = 0.0
    # Quantities the corpus states are cloze answers too ("how many", "how long"; realm.finetuning.cloze).
    cloze_numbers: bool = True
    # A cloze answer counts only in blocks of the sentence's own article ("12" or "1945" is in many blocks). Off: it
    # did not win back the dev recall that quantity answers cost (docs/finetuning.md).
    cloze_own_article: bool = False
    # A cloze question's reader reads its sentence's own block first, whatever the retriever ranks it: every
    # question then has its answer in a block it reads. Read as retrieved, one block each, only about half of
    # minilm's cloze questions had it early on and the rest taught the reader nothing. minilm: dev EM +3.7 +- 2.8
    # over two seeds, recall@5 unchanged (reader_paired.json, ownfirst_vs_as_retrieved_2seeds; docs/finetuning.md).
    cloze_reads_own_block: bool = True
    # Cloze steps train the question tower too (its retrieval of the sentence's block); off, only the reader learns
    # from them and the question tower only from the training questions.
    cloze_trains_retriever: bool = True
    # The fine-tuned model never answers with a span made only of the question's words (realm.modeling.span_rules).
    exclude_question_spans: bool = True
    # ... and answers a question asking for a number or date with one, one asking for a name with a word.
    answer_type_rules: bool = True
    # ... and a question asking for a measurement ("how long", "how far", "how tall") with a number ending in its
    # unit where the blocks read offer one (realm.modeling.span_rules.spans_of_a_measure; with answer_type_rules).
    # On 31 measurement questions written from the sample's articles (benchmarks/data/measure_questions.jsonl;
    # the sample's dev split holds none) EM 38.7% -> 77.4%, +38.7 +- 8.9 on one model (span_rules.json).
    measure_units: bool = True
    # How much the retrieval score counts in a span's score when the fine-tuned model predicts (training adds it
    # whole). 0.5 was chosen on the sample's dev split over six minilm models reading 5 blocks; reading 10 and
    # merging answers, 0.25 beat it by +1.8 +- 1.4 over three (benchmarks/results/span_rules.json).
    relevance_weight: float = 0.25
    # A prior against wide answers when the fine-tuned model predicts, in logits per wordpiece beyond the first
    # (realm.modeling.models.open_qa.SPAN_WIDTH_PENALTY_KEY); chosen on the sample's dev split (docs/finetuning.md).
    span_width_penalty: float = 0.0
    # A prior against answers that repeat the question, in logits per content word of the question a predicted
    # span holds (realm.modeling.models.open_qa.QUESTION_WORD_PENALTY_KEY). Off: at 1 it changed 10 dev answers
    # over two minilm models and none from wrong to right or back (docs/finetuning.md).
    question_word_penalty: float = 0.0
    # How many of the best spans merge by answer text, their probabilities summed, before the fine-tuned model
    # answers (realm.modeling.answer_merging); 0 answers with the best single span. 100: dev EM +1.1 +- 0.7 over
    # two minilm models, no answer lost (benchmarks/results/span_rules.json, docs/finetuning.md).
    answer_merge_top_k: int = 100
    # The fine-tuned model reads this many times the blocks it trained on when it predicts (saved as its
    # reader_beam_size, at most searcher_beam_size); training reads model.reader_beam_size. minilm, 5 -> 10: dev EM
    # +4.2 +- 2.2 over two models; 10 -> 20: +2.9 +- 1.4 over seven (benchmarks/results/span_rules.json,
    # docs/finetuning.md).
    predict_reader_beam_factor: int = 4
    # The reader reads each block's title before its text (DPR's reader input), in training and when predicting
    # (saved with the model as reader_reads_titles).
    reader_titles: bool = False
    # The fine-tuned model retrieves by `dense + lexical_weight * BM25` (realm.retrieval.lexical) when it predicts
    # (saved as retrieval_lexical_weight); 0: dense only, as REALM. With `lexical_training`, fine-tuning's own
    # searches do too and each step adds the blocks' weighted BM25 to their relevance; without, fine-tuning searches
    # by the dense score alone. minilm, both at 0.3, two seeds: trained so, dev EM -2.6 +- 3.4 against hybrid only
    # when predicting (benchmarks/results/reader_paired.json, docs/finetuning.md).
    lexical_weight: float = 0.0
    lexical_training: bool = False
    batch_size: int = 4
    learning_rate: float = 1e-5  # ORQA/REALM
    # The reader's peak rate when it differs from the question tower's (`learning_rate`); None: one rate for both.
    # minilm's reader at 2e-4, tower at 1e-4: dev EM +1.6 +- 2.9 over two models (+4.2, -1.1), not adopted.
    reader_learning_rate: float | None = None
    # The steps on the training questions, after the cloze steps, run a schedule of their own: warm-up over a tenth
    # of them to this peak, then linear decay to zero. None: they continue the one schedule over all steps, which by
    # then has decayed (minilm: from 0.4 of its peak to zero).
    question_learning_rate: float | None = None
    # What restarts at question_learning_rate: "both" towers, or the "reader" alone, the question tower (the
    # retriever) continuing the one schedule's tail.
    question_learning_rate_scope: str = "both"
    # The saved model's weights are an exponential moving average of the trained ones with this momentum (Keras'
    # optimizer EMA; 0: the last step's weights). Off: for minilm on the sample's dev split, momenta 0.9 to 0.99
    # each lost 0.5 +- 0.5 to 1.9 EM over two seeds, changing up to a third of the answers (docs/finetuning.md).
    weight_averaging_momentum: float = 0.0
    warmup_steps: int | None = None
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    query_seq_len: int = 64
    candidate_seq_len: int = 288  # block length used to embed the corpus when no index is reused
    checkpoint_every: int = 500
    log_every: int = 10
    keep_checkpoints: int = 3
    seed: int = 0
    jit_compile: bool = False

    def __post_init__(self) -> None:
        # Refused here, before the corpus, the model or the index is loaded.
        if not 0.0 <= self.weight_averaging_momentum < 1.0:
            raise ValueError(
                f"weight_averaging_momentum={self.weight_averaging_momentum}: it is the share of the average a step "
                "keeps, from 0 (no averaging) to below 1"
            )
        if self.question_learning_rate is not None and self.question_learning_rate <= 0:
            raise ValueError(
                f"question_learning_rate={self.question_learning_rate}: the training questions' peak rate must be "
                "above 0 (None continues the one schedule)"
            )
        if self.question_learning_rate is not None and self.cloze_steps <= 0:
            raise ValueError(
                f"question_learning_rate={self.question_learning_rate} restarts the rate after the cloze steps, and "
                "there are none (cloze_steps 0): set learning_rate for a run of training questions alone"
            )
        if self.question_learning_rate_scope not in QUESTION_RATE_SCOPES:
            raise ValueError(
                f"question_learning_rate_scope={self.question_learning_rate_scope!r}: it is one of "
                f"{', '.join(QUESTION_RATE_SCOPES)}"
            )
        if self.reader_learning_rate is not None and (self.learning_rate <= 0 or self.reader_learning_rate < 0):
            raise ValueError(
                f"the reader's rate ({self.reader_learning_rate}) is set as a multiple of the question tower's "
                f"({self.learning_rate}): that needs learning_rate > 0 and reader_learning_rate >= 0"
            )


def block_reader_texts(blocks, ids) -> list[str]:
    """What the reader reads for a block: its text (answers are spans of it)."""
    return blocks.texts(ids)


def pretraining_final_step(pretrain_dir: str) -> int | None:
    """The global step of a pre-training run's final models: that of its newest checkpoint."""
    import tensorflow as tf

    newest = tf.train.latest_checkpoint(os.path.join(pretrain_dir, "checkpoints"))
    return int(newest.rsplit("-", 1)[1]) if newest else None


def load_block_embeddings(config: FinetuneConfig, embedder, blocks) -> np.ndarray:
    """The pre-training run's newest index embeddings when they cover this corpus, else embed it now."""
    from realm.pretraining.refresh import embed_corpus
    from realm.retrieval.index import BlockIndex

    if config.pretrain_dir and not config.init_embedder:
        index = BlockIndex.load_latest(os.path.join(config.pretrain_dir, "index"))
        final_step = pretraining_final_step(config.pretrain_dir)
        # Reused only when it is exactly what embedding now would give: same corpus, the final embedder, and
        # blocks truncated alike (a run may pre-train on shorter blocks than fine-tuning reads; two lengths
        # that both hold the longest block truncate nothing).
        problems = []
        if index is not None:
            if len(index) != len(blocks):
                problems.append(f"{len(index)} blocks, the corpus has {len(blocks)}")
            if index.embedder_step != final_step:
                problems.append(f"embedder step {index.embedder_step}, the final one is {final_step}")
            embedded_at = index.meta.get("block_seq_len")
            if embedded_at != config.candidate_seq_len and (
                not embedded_at or min(embedded_at, config.candidate_seq_len) < blocks.longest_block()
            ):
                embedded = f"{embedded_at} wordpieces" if embedded_at else "an unrecorded length"
                problems.append(f"blocks embedded at {embedded}, fine-tuning uses {config.candidate_seq_len}")
            if not problems:
                logger.info("reusing block embeddings of %s", index.path)
                return np.asarray(index.embeddings, np.float32)
            logger.info("not reusing the pre-training index %s (%s); re-embedding", index.path, "; ".join(problems))
    logger.info("embedding %d blocks with the initial embedder (fixed during fine-tuning)", len(blocks))
    return embed_corpus(embedder, blocks, 64, config.candidate_seq_len)


def init_open_qa_model(config: FinetuneConfig, num_blocks: int):
    """RealmForOpenQA sized for the corpus, initialised from pre-training outputs or a BERT warm start."""
    from realm.checkpoints.bert import warm_start_from_bert
    from realm.modeling.models import RealmForOpenQA
    from realm.pretrained import from_pretrained, load_embedder

    model_config = config.model.replace(num_block_records=num_blocks)
    model = RealmForOpenQA(model_config).build_for_inference()
    if config.init_bert:
        warm_start_from_bert(model, config.init_bert)
    embedder_dir = config.init_embedder or (
        os.path.join(config.pretrain_dir, "final", "embedder") if config.pretrain_dir else None
    )
    if embedder_dir:
        model.embedder.set_weights(load_embedder(embedder_dir).get_weights())
        logger.info("question embedder from %s", embedder_dir)
    if config.pretrain_dir and not config.init_reader:
        encoder = from_pretrained(os.path.join(config.pretrain_dir, "final", "encoder"))
        model.reader.bert.set_weights(encoder.bert.get_weights())  # REALM: the reader starts from the MLM BERT
        model.reader.mlm_head.set_weights(encoder.mlm_head.get_weights())
        logger.info("reader BERT from %s", os.path.join(config.pretrain_dir, "final", "encoder"))
    if config.init_reader:
        _init_reader(model, config.init_reader, take_embedder=embedder_dir is None)
    return model


def _init_reader(model, directory: str, take_embedder: bool) -> None:
    from realm.modeling.models import RealmForOpenQA, RealmKnowledgeAugEncoder, RealmReader
    from realm.pretrained import from_pretrained

    source = from_pretrained(directory)
    try:
        if isinstance(source, RealmForOpenQA):
            model.reader.set_weights(source.reader.get_weights())
            if take_embedder:
                model.embedder.set_weights(source.embedder.get_weights())
        elif isinstance(source, RealmReader):
            model.reader.set_weights(source.get_weights())
        elif isinstance(source, RealmKnowledgeAugEncoder):  # its BERT and MLM head; the span head starts fresh
            model.reader.bert.set_weights(source.bert.get_weights())
            model.reader.mlm_head.set_weights(source.mlm_head.get_weights())
        else:
            raise FinetuningError(
                f"{directory}: a {type(source).__name__} cannot start a reader "
                "(expected RealmReader, RealmKnowledgeAugEncoder or RealmForOpenQA)"
            )
    except ValueError as err:  # Keras' set_weights on a size mismatch
        raise FinetuningError(f"{directory}: its sizes do not match the fine-tuning config ({err})") from None
    logger.info("reader from %s (%s)", directory, type(source).__name__)


def label_batch(
    tokenizer,
    questions: list[Question],
    retrieved_texts: list[list[str]],
    reader_beam: int,
    seq_len: int,
    counts=None,
    retrieved_titles: list[list[str]] | None = None,
):
    """Reader inputs and targets for a batch: has_answers [b, S] and answer token spans [b, R, MAX_ANSWER_SPANS].
    `counts` [b, S] bool (optional): the retrieved blocks an answer may count in at all. `retrieved_titles`
    (optional, like `retrieved_texts`): the reader reads each block's title before it; answers are only ever
    spans of the text."""
    import re

    from realm.evaluation.answers import answer_token_spans

    has_answers = np.array(
        [
            [answer_in_text(t, q.answers, regex=q.regex) for t in texts]
            for q, texts in zip(questions, retrieved_texts, strict=True)
        ]
    )
    if counts is not None:
        has_answers &= np.asarray(counts, bool)
    flat_questions = [q.question for q in questions for _ in range(reader_beam)]
    flat_blocks = [t for texts in retrieved_texts for t in texts[:reader_beam]]
    flat_titles = None
    if retrieved_titles is not None:
        flat_titles = [t for titles in retrieved_titles for t in titles[:reader_beam]]
    pairs = tokenizer.encode_pairs(flat_questions, flat_blocks, seq_len, titles=flat_titles)
    # Read only up to the batch's longest pair, as inference does (RealmForOpenQA.read): trailing padding is
    # masked out of attention and spans, so it changes no loss and only costs time (a 64-wordpiece question and
    # a 128-wordpiece block fill 195 of the 320 positions).
    pairs = up_to_longest(pairs, ("input_ids", "attention_mask", "token_type_ids", "block_mask"))
    seq_len = pairs["input_ids"].shape[1]
    input_ids = pairs["input_ids"]
    starts = np.full((len(flat_blocks), MAX_ANSWER_SPANS), -1, np.int32)
    ends = np.full_like(starts, -1)
    for row, (question, block) in enumerate(
        zip([q for q in questions for _ in range(reader_beam)], flat_blocks, strict=True)
    ):
        if question.regex:
            strings = sorted(
                {m.group(0) for p in question.answers for m in _finditer(re, p, block) if m.group(0).strip()}
            )
        else:
            strings = list(question.answers)
        if not strings or (counts is not None and not counts[row // reader_beam][row % reader_beam]):
            continue
        answer_ids = tokenizer.tokenize(strings).to_list()
        spans = answer_token_spans(input_ids[row].tolist(), answer_ids, tokenizer.sep_id, pairs["block_mask"][row])
        spans = spans[:MAX_ANSWER_SPANS]
        for i, (s, e) in enumerate(spans):
            starts[row, i], ends[row, i] = s, e
    shape = (len(questions), reader_beam, seq_len)
    return {
        "input_ids": input_ids.reshape(shape),
        "attention_mask": pairs["attention_mask"].reshape(shape),
        "token_type_ids": pairs["token_type_ids"].reshape(shape),
        "block_mask": pairs["block_mask"].reshape(shape),
        "start_positions": starts.reshape(len(questions), reader_beam, MAX_ANSWER_SPANS),
        "end_positions": ends.reshape(len(questions), reader_beam, MAX_ANSWER_SPANS),
        "has_answers": has_answers,
    }


def encode_questions(tokenizer, questions: list[str], seq_len: int) -> dict:
    """`[CLS] question [SEP]` ids and mask up to the batch's longest question. Most questions fill far fewer than
    `seq_len` positions; the padding, masked out of attention, changes no embedding, yet the question tower would
    run over it twice a step (to search, then with gradients)."""
    return up_to_longest(tokenizer.encode_queries(questions, seq_len), ("input_ids", "attention_mask"))


def up_to_longest(encoded: dict, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """`keys` of tokenizer outputs as arrays cut after the longest row's last unmasked position (the padding
    after it is masked out of attention and of spans, so the cut changes no output)."""
    longest = int(encoded["attention_mask"].numpy().sum(-1).max())
    return {k: encoded[k].numpy()[:, :longest] for k in keys}


def _finditer(re_module, pattern: str, text: str):
    try:
        return list(re_module.finditer(pattern, text, flags=re_module.IGNORECASE))
    except re_module.error:
        return []


def describe_finetuning_step(metrics: dict) -> str:
    """The log line of a fine-tuning step. The loss only counts questions with an answer in a retrieved block (ORQA):
    a batch where none has one has loss 0 and teaches nothing, which the line then says instead of showing 0."""
    losses = (
        f"fine-tune loss {metrics['loss']:.4f} (retriever {metrics['retriever_loss']:.4f}, "
        f"reader {metrics['reader_loss']:.4f})"
    )
    if metrics.get("has_answer_in_search", 1.0) == 0.0:
        return f"{losses}: no retrieved block holds an answer to this batch's questions, nothing to learn from"
    return f"{losses}, answers retrieved for {100 * metrics['has_answer_in_search']:.0f}% of the batch"


class Finetuner:
    def __init__(self, config: FinetuneConfig, questions: list[Question]):
        if not questions:
            raise FinetuningError("no training questions")
        if config.lexical_weight < 0:
            raise FinetuningError(
                f"lexical_weight={config.lexical_weight}: it is how much BM25 adds to the dense score, 0 or more"
            )
        if config.lexical_training and not config.lexical_weight:
            raise FinetuningError("lexical_training needs a lexical_weight above 0 (the BM25 weight to train with)")
        if not 0.0 <= config.cloze_wh_first <= 1.0:
            raise FinetuningError(
                f"cloze_wh_first={config.cloze_wh_first}: it is the fraction of cloze questions with the wh-word "
                "in front, from 0 to 1"
            )
        self.config = config
        self.questions = questions
        self.paths = {n: os.path.join(config.output_dir, n) for n in ("checkpoints", "index", "tensorboard", "final")}
        self.metrics_path = os.path.join(config.output_dir, "metrics.jsonl")

    def _build(self) -> None:
        import keras
        import tensorflow as tf

        from realm.data.block_store import BlockStore
        from realm.modeling.answer_merging import ANSWER_MERGE_TOP_K_KEY
        from realm.modeling.models.open_qa import (
            LEXICAL_WEIGHT_KEY,
            QUERY_SEQ_LEN_KEY,
            QUESTION_WORD_PENALTY_KEY,
            READER_TITLES_KEY,
            RELEVANCE_WEIGHT_KEY,
            SPAN_WIDTH_PENALTY_KEY,
        )
        from realm.modeling.span_rules import ANSWER_TYPE_RULES_KEY, EXCLUDE_QUESTION_SPANS_KEY, MEASURE_UNITS_KEY
        from realm.pretraining.schedule import PhasedSchedule, bert_adamw
        from realm.retrieval.index import BlockIndex, publish_index

        cfg = self.config
        keras.utils.set_random_seed(cfg.seed)  # fresh heads and dropout masks, not only the data order
        self.blocks = BlockStore.open(cfg.data_dir)
        self.model = init_open_qa_model(cfg, len(self.blocks))
        self.tokenizer = self.model.tokenizer
        self.model.query_seq_len = cfg.query_seq_len
        self.model.config.extra[QUERY_SEQ_LEN_KEY] = cfg.query_seq_len  # saved with the model (config.json)
        # How the fine-tuned model picks its answers: on the model now, and in config.json for evaluation and export.
        for key, attribute in (
            (EXCLUDE_QUESTION_SPANS_KEY, "exclude_question_spans"),
            (ANSWER_TYPE_RULES_KEY, "answer_type_rules"),
            (MEASURE_UNITS_KEY, "measure_units"),
            (RELEVANCE_WEIGHT_KEY, "relevance_weight"),
            (SPAN_WIDTH_PENALTY_KEY, "span_width_penalty"),
            (QUESTION_WORD_PENALTY_KEY, "question_word_penalty"),
            (ANSWER_MERGE_TOP_K_KEY, "answer_merge_top_k"),
            (READER_TITLES_KEY, "reader_titles"),
            (LEXICAL_WEIGHT_KEY, "lexical_weight"),
        ):
            self.model.config.extra[key] = getattr(cfg, attribute)
            setattr(self.model, attribute, getattr(cfg, attribute))
        if cfg.lexical_weight and cfg.lexical_training:
            from realm.retrieval.lexical import LexicalIndex

            everything = range(len(self.blocks))
            self.model.set_lexical_index(
                LexicalIndex.build(self.blocks.texts(everything), self.blocks.titles(everything))
            )
        index = BlockIndex.load_latest(self.paths["index"])
        if index is None:
            embeddings = load_block_embeddings(cfg, self.model.embedder, self.blocks)
            publish_index(self.paths["index"], embeddings, 0, k=cfg.model.searcher_beam_size)
            index = BlockIndex.load_latest(self.paths["index"])
        self.index = index
        self.block_emb = np.asarray(index.embeddings, np.float32)
        self.model.block_emb.assign(self.block_emb)
        self.cloze = self._cloze_questions()
        if cfg.cloze_reads_own_block:
            self.cloze = [self._with_stating_block(q) for q in self.cloze]
        self.optimizer, self.schedule = bert_adamw(
            cfg.learning_rate,
            self.total_steps,
            cfg.warmup_steps,
            cfg.weight_decay,
            cfg.clip_norm,
            ema_momentum=cfg.weight_averaging_momentum or None,
            schedule=self._phased_schedule(),
        )
        reader_variables = [v for v in self.model.reader.trainable_variables if "mlm_head" not in v.path]
        self.variables = [*self.model.embedder.trainable_variables, *reader_variables]  # the MLM head is unused
        self.optimizer.build(self.variables)
        if cfg.reader_learning_rate is not None:
            self.optimizer.scale_learning_rate(reader_variables, cfg.reader_learning_rate / cfg.learning_rate)
        if isinstance(self.schedule, PhasedSchedule) and cfg.question_learning_rate_scope == "reader":
            self.optimizer.follow_schedule(self.model.embedder.trainable_variables, self.schedule.first)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self.checkpoint = tf.train.Checkpoint(
            embedder=self.model.embedder, reader=self.model.reader, optimizer=self.optimizer, step=self.step
        )
        embedder, reader, optimizer, variables = self.model.embedder, self.model.reader, self.optimizer, self.variables

        # The search's forward pass, traced: run eagerly, op by op, it was a visible share of a step's batch time
        # (docs/finetuning.md, "Where a fine-tuning step's time goes").
        def embed_questions(ids, mask):
            return embedder(ids, mask)["projected_score"]

        self.embed_questions = tf.function(embed_questions, reduce_retracing=True)

        def make_step(train_retriever: bool):
            # Without the retriever, the question tower runs forward only and only the reader's variables move.
            trained = variables if train_retriever else reader_variables

            def step_fn(batch):
                with tf.GradientTape() as tape:
                    if train_retriever:
                        question = embedder(batch["query_ids"], batch["query_mask"], training=True)
                        question = question["projected_score"]
                    else:
                        # The frozen tower's embeddings are the ones the batch was searched with: running it
                        # again would give the same numbers, to the last bit or so.
                        question = tf.stop_gradient(batch["question_emb"])
                    relevance = tf.einsum("bp,bsp->bs", tf.cast(question, tf.float32), batch["retrieved_emb"])
                    relevance += batch["retrieval_bias"]  # the blocks' weighted BM25 (zeros when dense only)
                    out = reader(
                        batch["input_ids"],
                        attention_mask=batch["attention_mask"],
                        token_type_ids=batch["token_type_ids"],
                        relevance_score=relevance,
                        block_mask=batch["block_mask"],
                        start_positions=batch["start_positions"],
                        end_positions=batch["end_positions"],
                        has_answers=batch["has_answers"],
                        training=True,
                    )
                    loss = out["loss"]
                optimizer.apply(tape.gradient(loss, trained), trained)
                in_reader = batch["has_answers"][:, : tf.shape(batch["input_ids"])[1]]
                return {
                    "loss": loss,
                    "retriever_loss": tf.reduce_mean(out["retriever_loss"]),
                    "reader_loss": tf.reduce_mean(out["reader_loss"]),
                    "has_answer_in_search": tf.reduce_mean(
                        tf.cast(tf.reduce_any(batch["has_answers"], -1), tf.float32)
                    ),
                    "has_answer_in_reader": tf.reduce_mean(tf.cast(tf.reduce_any(in_reader, -1), tf.float32)),
                }

            # Batches differ in length (each is read up to its longest pair): trace once for any length.
            return tf.function(step_fn, jit_compile=cfg.jit_compile, reduce_retracing=True)

        full_step = make_step(train_retriever=True)
        reader_step = full_step if cfg.cloze_trains_retriever else make_step(train_retriever=False)

        def train_step(batch):
            # run_steps moves the step counter after the step, so it still names the step being taken.
            return (reader_step if int(self.step.numpy()) < cfg.cloze_steps else full_step)(batch)

        self.train_step = train_step

    def _phased_schedule(self):
        """The cloze steps' part of the one REALM schedule, then the training questions' own (question_learning_rate);
        None where the one schedule runs throughout."""
        from realm.pretraining.schedule import PhasedSchedule, WarmupLinearDecay, realm_schedule

        cfg = self.config
        if cfg.question_learning_rate is None or cfg.steps <= 0:
            return None
        cloze_part = realm_schedule(cfg.learning_rate, self.total_steps, cfg.warmup_steps)
        questions_part = WarmupLinearDecay(cfg.question_learning_rate, cfg.steps, max(1, cfg.steps // 10))
        return PhasedSchedule(cloze_part, cfg.cloze_steps, questions_part)

    @property
    def total_steps(self) -> int:
        return self.config.cloze_steps + self.config.steps

    def _batch_questions(self, step: int) -> list[Question]:
        cfg = self.config
        if step < cfg.cloze_steps:
            size = cfg.cloze_batch_size or cfg.batch_size
            return [self.cloze[i % len(self.cloze)] for i in range(step * size, (step + 1) * size)]
        step -= cfg.cloze_steps
        per_epoch = max(len(self.questions) // cfg.batch_size, 1)
        epoch, position = divmod(step, per_epoch)
        order = np.random.default_rng([cfg.seed, epoch]).permutation(len(self.questions))
        chosen = order[position * cfg.batch_size : (position + 1) * cfg.batch_size]
        if len(chosen) < cfg.batch_size:  # fewer questions than a batch: repeat
            chosen = np.resize(order, cfg.batch_size)
        return [self.questions[i] for i in chosen]

    def _cloze_questions(self) -> list[Question]:
        from realm.finetuning.cloze import corpus_questions

        cfg = self.config
        if cfg.cloze_steps <= 0:
            return []
        questions = corpus_questions(
            cfg.data_dir,
            cfg.cloze_steps * (cfg.cloze_batch_size or cfg.batch_size),
            cfg.seed,
            cfg.cloze_wh_first,
            numbers=cfg.cloze_numbers,
        )
        if not questions:
            raise FinetuningError(
                f"{cfg.data_dir}: no cloze questions could be made (no sentence with a salient span); "
                "set cloze_steps to 0"
            )
        if cfg.cloze_reads_own_block and not any(q.source_blocks for q in questions):
            raise FinetuningError(
                f"{cfg.data_dir}: the corpus does not record which block holds each sentence (written before it "
                "did); re-run `realm preprocess` to read cloze questions' own blocks, or turn cloze_reads_own_block off"
            )
        order = np.random.default_rng([cfg.seed, 1]).permutation(len(questions))
        logger.info(
            "%d cloze steps on %d corpus questions, then %d steps on %d training questions",
            cfg.cloze_steps,
            len(questions),
            cfg.steps,
            len(self.questions),
        )
        return [questions[i] for i in order]

    def prepare_batch(self, questions: list[Question], reader_beam: int | None = None) -> dict:
        cfg = self.config
        encoded = encode_questions(self.tokenizer, [q.question for q in questions], cfg.query_seq_len)
        question_emb = self.embed_questions(encoded["input_ids"], encoded["attention_mask"])
        searched = min(cfg.model.searcher_beam_size, len(self.blocks))
        ids, lexical = self._search(questions, np.asarray(question_emb, np.float32), searched)
        if cfg.cloze_reads_own_block:
            ids = self._own_blocks_first(questions, ids)
        texts = [block_reader_texts(self.blocks, row) for row in ids]
        reader_beam = min(reader_beam or cfg.model.reader_beam_size, searched)
        counts = None
        if cfg.cloze_own_article and any(q.split == "cloze" and q.title for q in questions):
            titles = [self.blocks.titles(row) for row in ids]
            counts = [
                [not (q.split == "cloze" and q.title) or t == q.title for t in row]
                for q, row in zip(questions, titles, strict=True)
            ]
        titles = [self.blocks.titles(row[:reader_beam]) for row in ids] if cfg.reader_titles else None
        labels = label_batch(
            self.tokenizer, questions, texts, reader_beam, cfg.model.reader_seq_len, counts, retrieved_titles=titles
        )
        return {
            "query_ids": encoded["input_ids"],
            "query_mask": encoded["attention_mask"],
            "question_emb": np.asarray(question_emb, np.float32),  # what reader-only steps score blocks with
            "retrieved_emb": self.block_emb[ids],
            "retrieval_bias": np.take_along_axis(lexical, ids, axis=1)
            if lexical is not None
            else np.zeros(ids.shape, np.float32),
            **labels,
        }

    def _search(self, questions: list[Question], question_emb: np.ndarray, k: int):
        """(block ids [b, k] best first, each block's weighted BM25 score [b, num_blocks] or None when dense only).

        Hybrid retrieval ranks the union of the index's k best by dense score and the k best by BM25 by their
        sum, as DPR's hybrid does, so the index (ScaNN on a large corpus) never has to score every block; a block in
        neither list is missed, where the fine-tuned model's exact search would score it.
        """
        dense_ids, _ = self.index.search(question_emb, k)
        if not (self.config.lexical_weight and self.config.lexical_training):
            return dense_ids, None
        lexical = self.model.lexical_scores([q.question for q in questions]).numpy()
        lexical_ids = np.argpartition(-lexical, kth=k - 1, axis=1)[:, :k]
        candidates = np.concatenate([dense_ids, lexical_ids], axis=1)
        scores = np.einsum("bp,bsp->bs", question_emb, self.block_emb[candidates])
        scores += np.take_along_axis(lexical, candidates, axis=1)
        ids = []
        for row_ids, row_scores in zip(candidates, scores, strict=True):
            unique, position = np.unique(row_ids, return_index=True)  # a block both lists hold counts once
            best = np.argsort(-row_scores[position], kind="stable")[:k]
            ids.append(unique[best])
        return np.stack(ids), lexical

    def _with_stating_block(self, question: Question) -> Question:
        """The question naming only the first of its sentence's blocks that states the answer (none if none does),
        found once here rather than at every step that reads it."""
        texts = self.blocks.texts(list(question.source_blocks)) if question.source_blocks else []
        sources = zip(question.source_blocks, texts, strict=True)
        own = next((b for b, t in sources if answer_in_text(t, question.answers)), None)
        return dataclasses.replace(question, source_blocks=() if own is None else (own,))

    def _own_blocks_first(self, questions: list[Question], ids: np.ndarray) -> np.ndarray:
        """Each cloze question's retrieved blocks with its block that states the answer (`_with_stating_block`)
        moved (or, when not retrieved, put) in front; the other questions' blocks as retrieved."""
        ids = ids.copy()
        for row, question in enumerate(questions):
            if question.split != "cloze" or not question.source_blocks:
                continue
            own = question.source_blocks[0]
            rest = ids[row][ids[row] != own][: ids.shape[1] - 1]
            ids[row] = np.concatenate([[own], rest])
        return ids

    def run(self) -> dict[str, float]:
        cfg = self.config
        os.makedirs(cfg.output_dir, exist_ok=True)
        self._build()
        self.manager, _, start = resume(
            self.checkpoint, self.paths["checkpoints"], cfg.keep_checkpoints, self.step, "fine-tuning", logger
        )
        steps = StepLogger(
            self.paths["tensorboard"],
            self.metrics_path,
            total_steps=self.total_steps,
            start_step=start,
            batch_size=cfg.batch_size,
            log_every=cfg.log_every,
            rate_name="questions_per_second",
            describe=describe_finetuning_step,
            logger=logger,
        )
        last = run_steps(
            train_step=self.train_step,
            make_batch=lambda step: self.prepare_batch(
                self._batch_questions(step), cfg.cloze_reader_beam_size if step < cfg.cloze_steps else None
            ),
            start=start,
            total=self.total_steps,
            step_variable=self.step,
            schedule=self.schedule,
            manager=self.manager,
            checkpoint_every=cfg.checkpoint_every,
            step_logger=steps,
        )
        # The checkpoints keep the trained weights (and the average, an optimizer variable); the model takes the
        # average only now, so a resumed run averages on.
        self.optimizer.finalize_variable_values(self.variables)
        self.save_final(self.paths["final"])
        return last

    def save_final(self, directory: str) -> str:
        """The model as `realm evaluate`, `realm export` and `realm ask` read it, reading more blocks than it trained
        on (`predict_reader_beam_factor`), with every block's text and title."""
        from realm.pretrained import save_pretrained

        cfg = self.config
        self.model.set_block_records(
            np.array([t.encode() for t in block_reader_texts(self.blocks, range(len(self.blocks)))], dtype=object)
        )
        self.model.set_block_titles(self.blocks.titles(range(len(self.blocks))))  # saved as block_titles.json
        predict_beam = min(cfg.model.reader_beam_size * cfg.predict_reader_beam_factor, cfg.model.searcher_beam_size)
        self.model.config = self.model.config.replace(reader_beam_size=predict_beam)
        final = save_pretrained(self.model, directory)
        logger.info("fine-tuned open-QA model in %s", final)
        return final
