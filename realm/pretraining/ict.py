"""Inverse Cloze Task (ORQA, Lee et al. 2019): the retriever warm start REALM pre-training begins from.

A sentence of a block is the pseudo-query; the block it came from, with that sentence removed (kept with
probability 0.1, so the model also learns lexical matching), is the positive; the other blocks of the batch are
the negatives. The loss is the cross-entropy of the query's in-batch softmax over blocks. The embedder is the
same one REALM retrieves with (queries and blocks share it), so `realm pretrain --init-embedder RUN/final/embedder`
starts REALM from this run.

On several devices (tf.distribute), each replica embeds its slice of the batch and scores its queries against
the blocks of every replica (an all-gather, whose gradient reaches the block's own replica): the negatives are
the whole global batch, as ORQA's 4096 were across TPU cores, not just a replica's share.

Batches are a pure function of (seed, step): a resumed run sees exactly the batches the killed one would have.
The sentences REALM pre-training holds out for `realm evaluate-retriever` (`holdout_every`) are never queries
here either: ICT trains exactly "sentence -> its block", so a held-out sentence seen as an ICT query would make
the retriever's gold-document recall a measure of memory.
"""

from __future__ import annotations

import dataclasses
import logging
import os

import numpy as np

from realm.config import RealmConfig
from realm.data.sentences import split_sentences
from realm.errors import RealmError
from realm.training_log import StepLogger
from realm.training_loop import resume, run_steps

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class ICTConfig:
    output_dir: str
    data_dir: str  # output of `realm preprocess` (its block store)
    model: RealmConfig = dataclasses.field(default_factory=RealmConfig)
    init_bert: str | None = None
    # An embedder to start from instead (e.g. the one a retriever evaluation measured "before"); it replaces the
    # init_bert weights, including the projection that would otherwise start random.
    init_embedder: str | None = None
    steps: int = 1000
    batch_size: int = 32  # ORQA: 4096 on TPUs; every other block of the batch is a negative
    learning_rate: float = 1e-4  # ORQA
    warmup_steps: int | None = None
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    query_seq_len: int = 64  # ORQA
    candidate_seq_len: int = 288
    remove_query_probability: float = 0.9  # ORQA
    holdout_every: int = 20  # as the REALM run's and `realm evaluate-retriever`'s: those sentences are no queries
    checkpoint_every: int = 500
    log_every: int = 10
    keep_checkpoints: int = 3
    seed: int = 0
    jit_compile: bool = True
    distribute: str = "auto"  # as PretrainConfig: "mirrored" forces MirroredStrategy over every local device
    precision: str = "auto"  # "auto" (bfloat16 on GPUs that have it), "float32" or "mixed_bfloat16"


def in_batch_softmax_loss(query, block):
    """ICT's loss and accuracy for one replica's queries: cross-entropy of each query's softmax over the blocks of
    the whole global batch (its own block is the positive). Call in a replica context; with one replica it is the
    plain in-batch softmax. Every replica must hold the same number of examples."""
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    query, block = tf.cast(query, tf.float32), tf.cast(block, tf.float32)
    local = tf.shape(query)[0]
    offset = 0
    if context is not None and context.num_replicas_in_sync > 1:
        block = context.all_gather(block, axis=0)
        offset = tf.cast(context.replica_id_in_sync_group, tf.int32) * local
    scores = tf.matmul(query, block, transpose_b=True)
    labels = offset + tf.range(local)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, scores))
    accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(scores, -1, output_type=tf.int32), labels), tf.float32))
    return loss, accuracy


@dataclasses.dataclass
class ICTBatch:
    query_texts: list[str]
    titles: list[str]
    contexts: list[str]
    block_ids: np.ndarray


def _normalized(text: str) -> str:
    return " ".join(text.split())


def _is_held_out(sentence: str, held_out: list[str]) -> bool:
    """Whether a sentence of a block is one of its held-out sentences. Containment, not equality: the block's text
    is re-split here, and a split that differs from preprocessing's must not let a held-out sentence through."""
    sentence = _normalized(sentence)
    return bool(sentence) and any(sentence in h or h in sentence for h in held_out)


def held_out_sentences(data_dir: str, blocks, holdout_every: int) -> dict[int, list[str]]:
    """Block id -> the (normalized) texts of the held-out sentences it holds (`is_held_out`, as REALM pre-training
    and `realm evaluate-retriever` split them)."""
    from realm.data.examples import read_pretraining_examples
    from realm.pretraining.masking import is_held_out

    if holdout_every <= 0:
        return {}
    examples = read_pretraining_examples(data_dir).filter(lambda ex: is_held_out(ex, holdout_every))
    docs, positions, texts = [], [], []
    for ex in examples.as_numpy_iterator():
        for position in ex["block_indices"]:
            docs.append(ex["doc_uid"])
            positions.append(int(position))
            texts.append(_normalized(ex["text"].decode("utf-8")))
    out: dict[int, list[str]] = {}
    for block_id, text in zip(blocks.find_blocks(docs, positions) if docs else [], texts, strict=True):
        if block_id >= 0:
            out.setdefault(int(block_id), []).append(text)
    return out


class ICTBatcher:
    """Deterministic ICT batches from the block store, epoch-shuffled. `held_out` (block id -> held-out sentence
    texts) names sentences that may not be queries; a block left with none is not used."""

    def __init__(
        self,
        blocks,
        batch_size: int,
        seed: int,
        remove_probability: float,
        held_out: dict[int, list[str]] | None = None,
    ):
        self.blocks = blocks
        self.batch_size = batch_size
        self.seed = seed
        self.remove_probability = remove_probability
        self.held_out = held_out or {}
        unusable = self._blocks_without_a_query()
        self.pool = np.setdiff1d(np.arange(len(blocks)), np.asarray(unusable, np.int64))
        if len(self.pool) < batch_size:
            raise RealmError(
                f"ICT needs at least batch_size={batch_size} blocks with a sentence that is not held out; the "
                f"corpus has {len(self.pool)}"
            )

    def _blocks_without_a_query(self, chunk: int = 10_000) -> list[int]:
        """Blocks whose every sentence is held out (read in chunks: on a full dump, millions hold one)."""
        ids = list(self.held_out)
        out = []
        for first in range(0, len(ids), chunk):
            part = ids[first : first + chunk]
            for block_id, text in zip(part, self.blocks.texts(part), strict=True):
                sentences = [text[a:b] for a, b in split_sentences(text)] or [text]
                if all(_is_held_out(sentence, self.held_out[block_id]) for sentence in sentences):
                    out.append(block_id)
        return out

    def _order(self, epoch: int) -> np.ndarray:
        return self.pool[np.random.default_rng([self.seed, epoch]).permutation(len(self.pool))]

    def batch(self, step: int) -> ICTBatch:
        rng = np.random.default_rng([self.seed, step, 1])
        per_epoch = len(self.pool) // self.batch_size
        epoch, position = divmod(step, per_epoch)
        chosen = self._order(epoch)[position * self.batch_size : (position + 1) * self.batch_size]
        queries, contexts, kept = [], [], []
        titles = self.blocks.titles(chosen)
        for block_id, text in zip(chosen, self.blocks.texts(chosen), strict=True):
            sentences = [text[s:e] for s, e in split_sentences(text)]
            if len(sentences) < 2:  # nothing would be left: query and context are the whole block
                queries.append(text)
                contexts.append(text)
            else:
                held = self.held_out.get(int(block_id), [])
                eligible = [i for i, sentence in enumerate(sentences) if not _is_held_out(sentence, held)]
                index = eligible[int(rng.integers(len(eligible)))]
                queries.append(sentences[index])
                removed = rng.random() < self.remove_probability
                contexts.append(" ".join(s for i, s in enumerate(sentences) if i != index) if removed else text)
            kept.append(block_id)
        return ICTBatch(queries, titles, contexts, np.asarray(kept))


class ICTTrainer:
    def __init__(self, config: ICTConfig):
        self.config = config
        self.paths = {n: os.path.join(config.output_dir, n) for n in ("checkpoints", "tensorboard", "final")}
        self.metrics_path = os.path.join(config.output_dir, "metrics.jsonl")

    def _build(self) -> None:
        import keras

        from realm.data.block_store import BlockStore

        cfg = self.config
        keras.utils.set_random_seed(cfg.seed)  # fresh weights and dropout masks, not only the data order
        self.blocks = BlockStore.open(cfg.data_dir)
        held_out = held_out_sentences(cfg.data_dir, self.blocks, cfg.holdout_every)
        logger.info(
            "ICT: %d held-out sentences in %d blocks are never queries (holdout_every=%d)",
            sum(len(v) for v in held_out.values()),
            len(held_out),
            cfg.holdout_every,
        )
        self.batcher = ICTBatcher(self.blocks, cfg.batch_size, cfg.seed, cfg.remove_query_probability, held_out)
        self._build_model_and_optimizer()

    def _build_model_and_optimizer(self) -> None:
        import tensorflow as tf

        from realm.checkpoints.bert import warm_start_from_bert
        from realm.modeling.models import RealmEmbedder
        from realm.pretraining.devices import choose_strategy, configure_mixed_precision
        from realm.pretraining.replicas import replicated_step
        from realm.pretraining.schedule import bert_adamw
        from realm.tokenization import RealmTokenizer

        cfg = self.config
        self.precision = configure_mixed_precision(cfg.precision)
        self.strategy = choose_strategy(cfg.distribute)
        replicas = self.strategy.num_replicas_in_sync
        if cfg.batch_size % replicas:
            raise RealmError(
                f"ICT batch_size={cfg.batch_size} does not divide over {replicas} replicas: every replica scores its "
                "queries against the gathered blocks of all of them, so each must hold the same number"
            )
        vocab = os.path.join(cfg.init_bert, "vocab.txt") if cfg.init_bert else None
        self.tokenizer = (
            RealmTokenizer(vocab) if vocab and os.path.exists(vocab) else RealmTokenizer.from_default_vocab()
        )
        with self.strategy.scope():
            self.embedder = RealmEmbedder(cfg.model, name="embedder").build_for_inference()
            if cfg.init_bert:
                warm_start_from_bert(self.embedder, cfg.init_bert)
            if cfg.init_embedder:
                from realm.pretrained import load_embedder

                self.embedder.set_weights(load_embedder(cfg.init_embedder).get_weights())
            self.optimizer, self.schedule = bert_adamw(
                cfg.learning_rate, cfg.steps, cfg.warmup_steps, cfg.weight_decay, cfg.clip_norm
            )
            self.optimizer.build(self.embedder.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self.checkpoint = tf.train.Checkpoint(embedder=self.embedder, optimizer=self.optimizer, step=self.step)
        embedder, optimizer = self.embedder, self.optimizer

        def step_fn(batch):
            with tf.GradientTape() as tape:
                query = embedder(batch["query_ids"], batch["query_mask"], training=True)["projected_score"]
                block = embedder(batch["block_ids"], batch["block_mask"], batch["block_types"], training=True)[
                    "projected_score"
                ]
                loss, accuracy = in_batch_softmax_loss(query, block)
                scaled = loss / tf.cast(self.strategy.num_replicas_in_sync, loss.dtype)
            grads = tape.gradient(scaled, embedder.trainable_variables)
            optimizer.apply(grads, embedder.trainable_variables)
            return {"loss": loss, "in_batch_accuracy": accuracy}

        self.train_step = replicated_step(self.strategy, step_fn, cfg.jit_compile)

    def _encode(self, batch: ICTBatch) -> dict:
        cfg = self.config
        queries = self.tokenizer.encode_queries(batch.query_texts, cfg.query_seq_len)
        blocks = self.tokenizer.encode_candidates(batch.titles, batch.contexts, cfg.candidate_seq_len)
        return {
            "query_ids": queries["input_ids"],
            "query_mask": queries["attention_mask"],
            "block_ids": blocks["input_ids"],
            "block_mask": blocks["attention_mask"],
            "block_types": blocks["token_type_ids"],
        }

    def run(self) -> dict[str, float]:

        from realm.pretrained import save_pretrained
        from realm.pretraining.replicas import split_across_replicas

        cfg = self.config
        os.makedirs(cfg.output_dir, exist_ok=True)
        self._build()
        self.manager, _, start = resume(
            self.checkpoint, self.paths["checkpoints"], cfg.keep_checkpoints, self.step, "ICT", logger
        )
        steps = StepLogger(
            self.paths["tensorboard"],
            self.metrics_path,
            total_steps=cfg.steps,
            start_step=start,
            batch_size=cfg.batch_size,
            log_every=cfg.log_every,
            rate_name="examples_per_second",
            describe=lambda m: f"ICT loss {m['loss']:.4f}, in-batch accuracy {m['in_batch_accuracy']:.3f}",
            logger=logger,
        )
        last = run_steps(
            train_step=self.train_step,
            make_batch=lambda step: split_across_replicas(self.strategy, self._encode(self.batcher.batch(step))),
            start=start,
            total=cfg.steps,
            step_variable=self.step,
            schedule=self.schedule,
            manager=self.manager,
            checkpoint_every=cfg.checkpoint_every,
            step_logger=steps,
        )
        save_pretrained(self.embedder, os.path.join(self.paths["final"], "embedder"))
        logger.info("ICT outputs in %s (embedder for --init-embedder: %s)", cfg.output_dir, self.paths["final"])
        return last
