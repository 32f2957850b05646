"""REALM pre-training: back-propagate masked-LM through retrieval over the whole corpus (REALM §3).

Each step: embed the masked queries, retrieve from the newest published index, drop trivial retrievals,
put the null document first, re-score the candidates with the *current* embedder (so gradients reach both
towers), and train the knowledge-augmented encoder on the marginal likelihood. The index is refreshed
asynchronously by the sidecar from periodic embedder exports; the trainer swaps in a newer index at step
boundaries and never waits for one after the first.

Output directory:
    checkpoints/  tf.train.CheckpointManager (models, optimizer, step, data iterator)
    exports/      embedder exports for the sidecar (+ TRAINING_DONE)
    index/        published block indexes (LATEST)
    tensorboard/  scalar summaries
    metrics.jsonl one line per step (the console log every `log_every` steps)
    refresh.log   the sidecar's log
    final/        embedder/ and encoder/ in save_pretrained format
"""

from __future__ import annotations

import logging
import os
import time

import numpy as np

from realm.pretraining import exports
from realm.pretraining.candidates import (
    TRIVIAL_RETRIEVAL_RULES,
    build_candidates,
    require_own_blocks,
    retrieve_candidates,
)
from realm.pretraining.config import PretrainConfig, PretrainingError
from realm.pretraining.devices import apply_gpu_split, choose_strategy, configure_mixed_precision
from realm.pretraining.masking import MaskingConfig, is_held_out, pretraining_dataset
from realm.pretraining.schedule import bert_adamw
from realm.pretraining.sidecar import SidecarSupervisor
from realm.retrieval.index import BlockIndex
from realm.training_log import StepLogger
from realm.training_loop import resume

logger = logging.getLogger(__name__)


def describe_pretraining_step(metrics: dict[str, float]) -> str:
    frozen = " retriever frozen (MLM warm-up)" if metrics["retriever_frozen"] else ""
    return (
        f"loss {metrics['loss']:.4f} utility {metrics['retrieval_utility']:.4f} index v{int(metrics['index_version'])}"
        f" (stale {int(metrics['staleness_steps'])} steps){frozen}"
    )


class Pretrainer:
    def __init__(self, config: PretrainConfig):
        self.config = config
        self.out = config.output_dir
        self.paths = {
            name: os.path.join(self.out, name)
            for name in ("checkpoints", "exports", "index", "tensorboard", "mlm_warmup", "final")
        }
        self.metrics_path = os.path.join(self.out, "metrics.jsonl")
        self.export_times: dict[int, float] = {}
        self.index: BlockIndex | None = None

    # --------------------------------------------------------------------------------------------- set-up
    def _build(self) -> None:
        import keras
        import tensorflow as tf

        from realm.checkpoints.bert import warm_start_from_bert
        from realm.data.block_store import BlockStore
        from realm.data.examples import read_pretraining_examples
        from realm.modeling.models import RealmEmbedder, RealmKnowledgeAugEncoder
        from realm.pretrained import from_pretrained, load_embedder
        from realm.tokenization import RealmTokenizer

        cfg = self.config
        if cfg.trivial_retrieval not in TRIVIAL_RETRIEVAL_RULES:
            raise PretrainingError(
                f"unknown trivial_retrieval {cfg.trivial_retrieval!r}: expected one of {TRIVIAL_RETRIEVAL_RULES}"
            )
        if cfg.mlm_warmup_distractors < 0 or (cfg.mlm_warmup_distractors and not cfg.mlm_warmup_own_block):
            raise PretrainingError(
                f"mlm_warmup_distractors={cfg.mlm_warmup_distractors}: distractors join the own-block warm-up; "
                "pass a count >= 0 together with --mlm-warmup-own-block"
            )
        keras.utils.set_random_seed(cfg.seed)  # fresh weights and dropout masks, not only the data order
        self.gpu_split = apply_gpu_split(cfg.refresh_device)  # before anything initializes the GPUs
        self.precision = configure_mixed_precision(cfg.precision)
        self.strategy = choose_strategy(cfg.distribute)
        self.blocks = BlockStore.open(cfg.data_dir)
        if len(self.blocks) < 2:
            raise PretrainingError(f"{cfg.data_dir}: the corpus has {len(self.blocks)} block(s); need at least 2")
        truncated = self.blocks.truncation_warning(cfg.candidate_seq_len)
        if truncated:  # the sidecar embeds, and the encoder reads, each candidate's first candidate_seq_len
            logger.warning("%s", truncated)
        vocab = os.path.join(cfg.init_bert, "vocab.txt") if cfg.init_bert else None
        tokenizer = RealmTokenizer(vocab) if vocab and os.path.exists(vocab) else RealmTokenizer.from_default_vocab()
        self.special = dict(
            cls_id=tokenizer.cls_id, sep_id=tokenizer.sep_id, mask_id=tokenizer.mask_id, pad_id=tokenizer.pad_id
        )
        with self.strategy.scope():
            self.embedder = RealmEmbedder(cfg.model, name="embedder").build_for_inference()
            self.encoder = RealmKnowledgeAugEncoder(cfg.model, name="encoder").build_for_inference()
            if cfg.init_bert:
                warm_start_from_bert(self.embedder, cfg.init_bert)
                warm_start_from_bert(self.encoder, cfg.init_bert)
            if cfg.init_embedder:
                self.embedder.set_weights(load_embedder(cfg.init_embedder).get_weights())
            if cfg.init_encoder:
                self.encoder.set_weights(from_pretrained(cfg.init_encoder).get_weights())
            self.optimizer, self.schedule = bert_adamw(
                cfg.learning_rate, cfg.steps, cfg.warmup_steps, cfg.weight_decay, cfg.clip_norm
            )
            self.encoder_variables = list(self.encoder.trainable_variables)
            self.retriever_variables = list(self.embedder.trainable_variables)
            self.variables = [*self.retriever_variables, *self.encoder_variables]
            self.retriever_optimizer = None
            if cfg.retriever_learning_rate is None:
                self.optimizer.build(self.variables)
            else:
                retriever_steps = max(1, cfg.steps - cfg.mlm_warmup_steps)
                self.retriever_optimizer, _ = bert_adamw(
                    cfg.retriever_learning_rate,
                    retriever_steps,
                    None if cfg.warmup_steps is None else min(cfg.warmup_steps, retriever_steps),
                    cfg.weight_decay,
                    cfg.clip_norm,
                )
                self.optimizer.build(self.encoder_variables)
                self.retriever_optimizer.build(self.retriever_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")

        masking = MaskingConfig(
            query_seq_len=cfg.query_seq_len,
            max_masks=cfg.max_masks,
            seed=cfg.seed,
            cls_id=self.special["cls_id"],
            sep_id=self.special["sep_id"],
            mask_id=self.special["mask_id"],
            pad_id=self.special["pad_id"],
        )
        examples = read_pretraining_examples(cfg.data_dir).filter(
            lambda ex: tf.logical_not(is_held_out(ex, cfg.holdout_every))
        )
        self.dataset = pretraining_dataset(examples, masking, cfg.batch_size)
        self.iterator = iter(self.dataset)
        optimizers = {} if self.retriever_optimizer is None else {"retriever_optimizer": self.retriever_optimizer}
        self.checkpoint = tf.train.Checkpoint(
            embedder=self.embedder,
            encoder=self.encoder,
            optimizer=self.optimizer,
            step=self.step,
            data=self.iterator,
            **optimizers,
        )
        self._compile_functions()

    def _compile_functions(self) -> None:
        import tensorflow as tf

        from realm.modeling.losses import per_candidate_mlm_loss
        from realm.pretraining.replicas import replicated_step

        cfg = self.config
        embedder, encoder = self.embedder, self.encoder

        @tf.function(jit_compile=cfg.jit_compile)
        def embed_queries(ids, mask):
            return tf.cast(embedder(ids, mask, training=False)["projected_score"], tf.float32)

        def global_share(count):
            """This replica's share of a count summed over the replicas (1 on one replica)."""
            total = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, count)
            return count / tf.maximum(total, 1e-9)

        def step_fn(batch, train_retriever: bool, reader_only: bool = False):
            k = tf.shape(batch["candidate_input_ids"])[1]
            cand_len = tf.shape(batch["candidate_input_ids"])[2]
            with tf.GradientTape() as tape:
                if reader_only:
                    # The own-block warm-up: null document, own block (and distractors), equally likely, no
                    # retriever at all.
                    relevance = tf.where(batch["valid"], tf.zeros(tf.shape(batch["valid"]), tf.float32), -1e9)
                else:
                    query = embedder(batch["query_input_ids"], batch["query_attention_mask"], training=True)
                    candidates = embedder(
                        tf.reshape(batch["candidate_input_ids"], [-1, cand_len]),
                        tf.reshape(batch["candidate_attention_mask"], [-1, cand_len]),
                        tf.reshape(batch["candidate_token_type_ids"], [-1, cand_len]),
                        training=True,
                    )
                    query_emb = tf.cast(query["projected_score"], tf.float32)
                    cand_emb = tf.reshape(
                        tf.cast(candidates["projected_score"], tf.float32), [tf.shape(query_emb)[0], k, -1]
                    )
                    relevance = tf.einsum("bd,bkd->bk", query_emb, cand_emb)
                    relevance = tf.where(batch["valid"], relevance, -1e9)
                if not train_retriever:
                    relevance = tf.stop_gradient(relevance)
                out = encoder(
                    batch["joint_input_ids"],
                    batch["joint_attention_mask"],
                    batch["joint_token_type_ids"],
                    relevance_score=relevance,
                    masked_positions=batch["masked_positions"],
                    masked_labels=batch["masked_labels"],
                    mlm_mask=batch["masked_weights"],
                    training=True,
                )
                loss = out["loss"]
                # The own-block warm-up trains the encoder on each candidate (see mlm_warmup_distractors); the
                # marginal `loss` is still what is logged, so the curve reads the same across the two phases.
                mask = tf.cast(batch["masked_weights"], tf.float32)
                loss_share = global_share(tf.reduce_sum(mask))
                if reader_only and cfg.mlm_warmup_distractors > 0:
                    objective = per_candidate_mlm_loss(
                        out["candidate_log_probs"], batch["masked_weights"], batch["valid"]
                    )
                    valid = tf.cast(batch["valid"], tf.float32)
                    objective_share = global_share(tf.reduce_sum(valid[:, :, None] * mask[:, None, :]))
                else:
                    objective, objective_share = loss, loss_share
                # Each loss is a mean over this replica's masked positions; weighted by the replica's share of the
                # whole batch's positions, the replicas' summed gradients are those of the whole batch's mean.
                scaled = objective * objective_share
            variables = self.variables if train_retriever else self.encoder_variables
            grads = tape.gradient(scaled, variables)
            if train_retriever and self.retriever_optimizer is not None:
                split = len(self.retriever_variables)
                self.retriever_optimizer.apply(grads[:split], self.retriever_variables)
                self.optimizer.apply(grads[split:], self.encoder_variables)
            else:
                self.optimizer.apply(grads, variables)
            weights = batch["masked_weights"]
            null_log_probs = out["candidate_log_probs"][:, 0, :]
            utility = tf.reduce_sum((out["marginal_log_probs"] - null_log_probs) * weights) / tf.maximum(
                tf.reduce_sum(weights), 1.0
            )
            null_prob = tf.reduce_mean(tf.nn.softmax(relevance, axis=-1)[:, 0])
            replicas = tf.cast(self.strategy.num_replicas_in_sync, tf.float32)
            # The step averages outputs over replicas: this replica's weighted part times their number.
            return {"loss": loss * loss_share * replicas, "retrieval_utility": utility, "null_document_prob": null_prob}

        def make_step(train_retriever: bool, reader_only: bool = False):
            def one_batch(batch):
                return step_fn(batch, train_retriever, reader_only)

            return replicated_step(self.strategy, one_batch, cfg.jit_compile)

        self.embed_queries = embed_queries
        self.train_step = make_step(train_retriever=True)
        self.mlm_warmup_step = (
            make_step(train_retriever=False, reader_only=cfg.mlm_warmup_own_block) if cfg.mlm_warmup_steps > 0 else None
        )

    def fit_mlm_head(self) -> dict[str, float]:
        """Fit the fresh MLM head to read back the wordpieces of random blocks (see `mlm_head_fit_steps`)."""
        from realm.pretraining.head_fit import fit_head_to_token_identity

        cfg = self.config
        rng = np.random.default_rng(cfg.seed)  # its own draw: the training data order is not touched

        def batches():
            while True:
                ids = rng.choice(len(self.blocks), size=cfg.batch_size, replace=len(self.blocks) < cfg.batch_size)
                yield self.blocks.padded_token_ids(ids, cfg.candidate_seq_len)

        logger.info("fitting the MLM head to the warm-start encoder for %d steps", cfg.mlm_head_fit_steps)
        return fit_head_to_token_identity(
            self.encoder,
            batches(),
            cfg.mlm_head_fit_steps,
            skip_ids=list(self.special.values()),
            log_every=max(1, min(cfg.log_every, cfg.mlm_head_fit_steps)),
            strategy=self.strategy,
        )

    # ------------------------------------------------------------------------------------------ the index
    def _export_embedder(self, step: int) -> None:
        exports.write_export(self.paths["exports"], step, self.embedder)
        self.export_times[step] = time.time()

    def _maybe_swap_index(self) -> None:
        from realm.retrieval.index import latest_version

        name = latest_version(self.paths["index"])
        if name is not None and (self.index is None or name != self.index.name):
            self.index = BlockIndex(os.path.join(self.paths["index"], name))
            logger.info("using index %s (embedder step %d)", name, self.index.embedder_step)

    def _staleness(self, done: int) -> int:
        """Retriever steps the index lags behind after `done` steps: a frozen retriever does not age the index."""
        return done - max(self.index.embedder_step, min(done, self.config.mlm_warmup_steps))

    def _bound_staleness(self, sidecar: SidecarSupervisor, done: int) -> None:
        """With max_staleness_steps, wait for the newest export's index before a step that would exceed it."""
        bound = self.config.max_staleness_steps
        if bound is None or self._staleness(done) <= bound:
            return
        newest = max(self.export_times)
        logger.info(
            "index v%d would be %d steps stale (max_staleness_steps %d): waiting for the step-%d index",
            self.index.embedder_step, self._staleness(done), bound, newest,
        )  # fmt: skip
        self._wait_for_index(sidecar, newest)

    def _wait_for_index(self, sidecar: SidecarSupervisor, embedder_step: int | None = None) -> None:
        """Block until an index is in use (built from `embedder_step`'s export when given): before the first step,
        once after the last, and in between only when max_staleness_steps asks for it."""
        deadline = time.time() + self.config.first_index_timeout

        def ready() -> bool:
            return self.index is not None and (embedder_step is None or self.index.embedder_step >= embedder_step)

        while not ready():
            self._maybe_swap_index()
            if ready():
                break
            sidecar.check()
            if time.time() > deadline:
                wanted = "no index" if embedder_step is None else f"no index of the step-{embedder_step} embedder"
                raise PretrainingError(
                    f"{wanted} was published in {self.config.first_index_timeout:.0f}s; see {sidecar.log_path}"
                )
            time.sleep(0.5)

    # -------------------------------------------------------------------------------------------- one step
    def _prepare_batch(self, batch, warming_up: bool = False) -> dict[str, np.ndarray]:
        cfg = self.config
        with_own_block = warming_up and cfg.mlm_warmup_own_block
        query_ids = batch["query_input_ids"].numpy()
        query_mask = batch["query_attention_mask"].numpy()
        own_blocks = None
        # The warm-up's distractors must not repeat the own block it shows, whatever the rule.
        rule = "block" if with_own_block and cfg.trivial_retrieval == "none" else cfg.trivial_retrieval
        if rule == "block" or with_own_block:
            own_blocks = batch["own_blocks"].numpy()
            require_own_blocks(own_blocks, cfg.data_dir)
        retrieved = np.zeros((len(query_ids), 0), np.int64)
        if with_own_block:
            own = self.blocks.find_blocks(batch["doc_uid"].numpy(), own_blocks[:, 0])[:, None]
            if (own < 0).any():
                raise PretrainingError(f"{cfg.data_dir}: an example names a block the block store does not have")
        count = cfg.mlm_warmup_distractors if with_own_block else cfg.model.num_candidates - 1
        if count > 0:
            query_emb = self.embed_queries(batch["query_input_ids"], batch["query_attention_mask"]).numpy()
            retrieved = retrieve_candidates(
                self.index,
                query_emb,
                batch["doc_uid"].numpy(),
                self.blocks,
                count,
                rule=rule,
                own_blocks=own_blocks,
            )
        if with_own_block:
            retrieved = np.concatenate([own, retrieved], axis=1)
        cands = build_candidates(
            retrieved,
            query_ids,
            batch["query_length"].numpy(),
            self.blocks,
            # The own-block warm-up embeds nothing: the joint input may then show more of the block.
            candidate_len=cfg.joint_seq_len if with_own_block else cfg.candidate_seq_len,
            joint_len=cfg.joint_seq_len,
            cls_id=self.special["cls_id"],
            sep_id=self.special["sep_id"],
            pad_id=self.special["pad_id"],
        )
        return {
            "query_input_ids": query_ids,
            "query_attention_mask": query_mask,
            "candidate_input_ids": cands.candidate_input_ids,
            "candidate_attention_mask": cands.candidate_attention_mask,
            "candidate_token_type_ids": cands.candidate_token_type_ids,
            "valid": cands.valid,
            "joint_input_ids": cands.joint_input_ids,
            "joint_attention_mask": cands.joint_attention_mask,
            "joint_token_type_ids": cands.joint_token_type_ids,
            "masked_positions": batch["masked_positions"].numpy(),
            "masked_labels": batch["masked_labels"].numpy(),
            "masked_weights": batch["masked_weights"].numpy(),
        }

    def _distribute(self, batch: dict[str, np.ndarray]):
        from realm.pretraining.replicas import split_across_replicas

        return split_across_replicas(self.strategy, batch)

    # ------------------------------------------------------------------------------------------------ run
    def run(self) -> dict[str, float]:

        cfg = self.config
        if cfg.index_method not in ("auto", "scann", "exact"):
            raise PretrainingError(f"index_method {cfg.index_method!r}: choose auto, scann or exact")
        if cfg.max_staleness_steps is not None and cfg.max_staleness_steps < cfg.refresh_every:
            raise PretrainingError(
                f"max_staleness_steps {cfg.max_staleness_steps} is below refresh_every {cfg.refresh_every}: "
                "the embedder is exported only every refresh_every steps, so no index could be that fresh"
            )
        os.makedirs(self.out, exist_ok=True)
        self._build()
        self.manager, restored, start_step = resume(
            self.checkpoint, self.paths["checkpoints"], cfg.keep_checkpoints, self.step, "pre-training", logger
        )
        if start_step >= cfg.steps:
            logger.info("already trained for %d steps", start_step)
            return self._finish(None, {})
        if not restored and cfg.mlm_head_fit_steps > 0:
            if cfg.init_encoder:
                logger.info("no MLM head fit: the encoder from %s brings its own head", cfg.init_encoder)
            else:
                self.fit_mlm_head()
        exports.clear_done(self.paths["exports"])
        self._export_embedder(start_step)
        sidecar = SidecarSupervisor(
            [
                "--exports",
                self.paths["exports"],
                "--blocks",
                cfg.data_dir,
                "--index",
                self.paths["index"],
                "--batch-size",
                str(cfg.refresh_batch_size),
                "--max-length",
                str(cfg.candidate_seq_len),
                "--k",
                str(max(100, 4 * cfg.model.num_candidates)),
                "--index-method",
                cfg.index_method,
                *(["--jit-compile"] if cfg.jit_compile else []),
            ],
            log_path=os.path.join(self.out, "refresh.log"),
            max_restarts=cfg.max_sidecar_restarts,
            env=self.gpu_split.sidecar_env,
        )
        sidecar.start()
        steps = StepLogger(
            self.paths["tensorboard"],
            self.metrics_path,
            total_steps=cfg.steps,
            start_step=start_step,
            batch_size=cfg.batch_size,
            log_every=cfg.log_every,
            rate_name="window_examples_per_second",
            describe=describe_pretraining_step,
            logger=logger,
            record_every_step=True,
        )
        last: dict[str, float] = {}
        try:
            self._wait_for_index(sidecar)
            for step in range(start_step, cfg.steps):
                step_start = time.time()
                self._maybe_swap_index()
                sidecar.check()
                self._bound_staleness(sidecar, step + 1)
                warming_up = step < cfg.mlm_warmup_steps
                batch = self._prepare_batch(next(self.iterator), warming_up)
                if step == cfg.mlm_warmup_steps and cfg.mlm_warmup_steps > 0:
                    self._save_warmed_up_encoder()
                    logger.info("MLM warm-up done after %d steps: the retriever trains from now on", step)
                train_step = self.mlm_warmup_step if warming_up else self.train_step
                result = {k: float(v) for k, v in train_step(self._distribute(batch)).items()}
                self.step.assign(step + 1)
                done = step + 1
                # A frozen retriever has nothing new to index: the sidecar would re-embed the same weights.
                if (done % cfg.refresh_every == 0 and not warming_up) or done == cfg.steps:
                    self._export_embedder(done)
                exported_at = self.export_times.get(self.index.embedder_step, self.index.meta["published_at"])
                learning_rate = float(self.schedule(done))
                last = {
                    **result,
                    "step": done,
                    "learning_rate": learning_rate,
                    "retriever_frozen": int(warming_up),
                    "index_version": self.index.embedder_step,
                    "staleness_steps": self._staleness(done),
                    "staleness_seconds": time.time() - exported_at,
                    "examples_per_second": cfg.batch_size / max(time.time() - step_start, 1e-9),
                    "sidecar_restarts": sidecar.restarts,
                }
                steps.step_done(done, last, learning_rate)  # every step recorded, every log_every-th printed
                if done % cfg.checkpoint_every == 0 or done == cfg.steps:
                    self.manager.save(checkpoint_number=done)
            # The run's newest index then matches its final embedder, so fine-tuning can reuse it as is.
            logger.info("waiting for the index of the final embedder (step %d)", cfg.steps)
            self._wait_for_index(sidecar, cfg.steps)
        finally:
            exports.mark_done(self.paths["exports"])
            sidecar.stop()
            steps.close()
        return self._finish(sidecar, last)

    def _save_warmed_up_encoder(self) -> None:
        """The encoder as the MLM warm-up left it: the costly part of a run, reusable by `--init-encoder` (to try
        other retriever settings without warming up again) and by `realm evaluate-retriever --encoder`."""
        from realm.pretrained import save_pretrained

        path = os.path.join(self.paths["mlm_warmup"], "encoder")
        save_pretrained(self.encoder, path)
        logger.info("encoder after the MLM warm-up saved to %s", path)

    def _finish(self, sidecar, last: dict[str, float]) -> dict[str, float]:
        from realm.pretrained import save_pretrained

        save_pretrained(self.embedder, os.path.join(self.paths["final"], "embedder"))
        save_pretrained(self.encoder, os.path.join(self.paths["final"], "encoder"))
        logger.info("pre-training outputs in %s (final models in %s)", self.out, self.paths["final"])
        return last
