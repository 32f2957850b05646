"""How fast the knowledge-augmented encoder learns to read: the own-block gain over training steps.

REALM's retriever learns only once the encoder predicts a masked span better from a block that holds it than
from the null document (#4: with the MiniLM warm start that gain is ~0.1 nats after 1,800 warm-up steps). This
probe trains the encoder alone on the null document and the sentence's own block, each candidate on its own
(the objective of `--mlm-warmup-distractors`, without the distractors, so no index is needed). Every
`--eval-every` steps it measures, on held-out masked sentences, the mean log-probability of the span with the
null document and with the own block (`block_use`). It answers, in far less time than a pre-training run,
whether a change to the warm-up makes the encoder read sooner.

`--extra-mask-rate R` also masks a fraction R of the query's other wordpieces (not the salient span) during
training, appended to the masked positions: each sentence then gives several tokens to copy, not only its span.
The evaluation always scores the salient span alone.

`--fit-head-steps N` first fits the fresh MLM head to read back the wordpieces of blocks, encoder frozen (the
trainer's `--mlm-head-fit-steps`), and evaluates once more before the warm-up starts.

Run: python -m benchmarks.probe_reader_copying --data outputs/corpus128 --steps 300 --batch-size 8 \
         [--extra-mask-rate 0.15] [--fit-head-steps 200] --out benchmarks/results/probe_reader_copying/span.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

logger = logging.getLogger("probe_reader_copying")
EXTRA_MASK_SLOTS = 14  # masked positions beyond the span's max_masks, for the extra random masks


def add_random_masks(batch: dict[str, np.ndarray], query_lengths: np.ndarray, rate: float, mask_id: int, rng):
    """Mask a fraction `rate` of each query's unmasked wordpieces (not [CLS]/[SEP]) in every candidate's joint
    input, and append them to the masked positions, labels and weights (which have spare slots)."""
    ids = batch["joint_input_ids"]  # [B, K, L]: every candidate starts with the same query
    width = batch["masked_positions"].shape[1]
    for row in range(ids.shape[0]):
        taken = int(batch["masked_weights"][row].sum())
        span = set(batch["masked_positions"][row, :taken].tolist())
        free = [p for p in range(1, int(query_lengths[row]) - 1) if p not in span and ids[row, 0, p] != mask_id]
        count = min(width - taken, round(rate * len(free)))
        if count <= 0:
            continue
        picked = rng.choice(free, count, replace=False)
        batch["masked_labels"][row, taken : taken + count] = ids[row, 0, picked]
        batch["masked_positions"][row, taken : taken + count] = picked
        batch["masked_weights"][row, taken : taken + count] = 1.0
        ids[row][:, picked] = mask_id
    return batch


def main() -> None:
    import tensorflow as tf

    from realm.evaluation.block_use import block_use
    from realm.evaluation.retrieval import RetrievalEvalConfig, held_out_queries
    from realm.modeling.losses import per_candidate_mlm_loss
    from realm.presets import model_config
    from realm.pretraining.candidates import NO_BLOCK
    from realm.pretraining.trainer import PretrainConfig, Pretrainer
    from realm.resources import minilm_dir
    from realm.tokenization import RealmTokenizer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a `realm preprocess` output")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--extra-mask-rate", type=float, default=0.0)
    parser.add_argument(
        "--fit-head-steps", type=int, default=0, help="first fit the fresh MLM head to read back each wordpiece"
    )
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--eval-queries", type=int, default=200)
    parser.add_argument("--query-seq-len", type=int, default=48)
    parser.add_argument("--candidate-seq-len", type=int, default=128)
    parser.add_argument("--preset", default="minilm")
    parser.add_argument("--out", required=True, help="JSON record of the curve")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    base_masks = 10
    config = PretrainConfig(
        output_dir=tempfile.mkdtemp(prefix="probe-reader-"),
        data_dir=args.data,
        model=model_config(args.preset),
        init_bert=minilm_dir(),
        steps=args.steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        warmup_steps=min(20, args.steps),
        mlm_warmup_steps=args.steps,
        mlm_warmup_own_block=True,
        query_seq_len=args.query_seq_len,
        candidate_seq_len=args.candidate_seq_len,
        max_masks=base_masks + (EXTRA_MASK_SLOTS if args.extra_mask_rate > 0 else 0),
        mlm_head_fit_steps=args.fit_head_steps,
    )
    trainer = Pretrainer(config)
    trainer._build()  # the trainer's own models, optimizer, data order and candidate construction
    encoder = trainer.encoder
    tokenizer = RealmTokenizer.from_default_vocab()
    queries = held_out_queries(
        RetrievalEvalConfig(
            data_dir=args.data,
            embedder_dir="",
            query_seq_len=args.query_seq_len,
            candidate_seq_len=args.candidate_seq_len,
            max_queries=args.eval_queries,
        ),
        tokenizer,
    )
    own = trainer.blocks.find_blocks(queries["doc_uid"], queries["own_blocks"][:, 0])
    shown = np.stack([own, np.full_like(own, NO_BLOCK), np.full_like(own, NO_BLOCK)], axis=1)
    rng = np.random.default_rng(config.seed)
    inputs = ("joint_input_ids", "joint_attention_mask", "joint_token_type_ids", "valid")
    targets = ("masked_positions", "masked_labels", "masked_weights")

    @tf.function(jit_compile=config.jit_compile)
    def train_step(batch):
        with tf.GradientTape() as tape:
            out = encoder(
                batch["joint_input_ids"],
                batch["joint_attention_mask"],
                batch["joint_token_type_ids"],
                relevance_score=tf.where(batch["valid"], 0.0, -1e9),
                masked_positions=batch["masked_positions"],
                masked_labels=batch["masked_labels"],
                mlm_mask=batch["masked_weights"],
                training=True,
            )
            loss = per_candidate_mlm_loss(out["candidate_log_probs"], batch["masked_weights"], batch["valid"])
        grads = tape.gradient(loss, trainer.encoder_variables)
        trainer.optimizer.apply(grads, trainer.encoder_variables)
        return loss

    curve = []

    def evaluate(step: int) -> None:
        use = block_use(
            encoder,
            trainer.blocks,
            queries,
            shown,
            joint_len=config.joint_seq_len,
            tokenizer=tokenizer,
        )
        point = {
            "step": step,
            "span_log_prob_null_document": use["span_log_prob_null_document"],
            "span_log_prob_own_block": use["span_log_prob_own_block"],
            "span_log_prob_gain_own_block": use["span_log_prob_gain_own_block"],
        }
        curve.append(point)
        logger.info(
            "step %d: own-block gain %+.3f nats (null %.3f)",
            step,
            point["span_log_prob_gain_own_block"],
            point["span_log_prob_null_document"],
        )

    if args.fit_head_steps > 0:
        evaluate(0)
        curve[-1]["before_head_fit"] = True
        curve[-1]["head_fit"] = trainer.fit_mlm_head()  # as `realm pretrain --mlm-head-fit-steps`
    evaluate(0)
    start = time.time()
    for step in range(1, args.steps + 1):
        raw = next(trainer.iterator)
        batch = trainer._prepare_batch(raw, warming_up=True)
        if args.extra_mask_rate > 0:
            batch = add_random_masks(batch, raw["query_length"].numpy(), args.extra_mask_rate, tokenizer.mask_id, rng)
        loss = float(train_step({k: tf.convert_to_tensor(batch[k]) for k in (*inputs, *targets)}))
        if step % 25 == 0:
            elapsed = time.time() - start
            logger.info("step %d/%d loss %.3f, %.2f s/step", step, args.steps, loss, elapsed / step)
        if step % args.eval_every == 0 or step == args.steps:
            evaluate(step)
    record = {
        "settings": vars(args),
        "eval_queries": len(shown),
        "seconds_per_step": (time.time() - start) / args.steps,
        "curve": curve,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(record, f, indent=2)
    logger.info("curve written to %s", args.out)


if __name__ == "__main__":
    main()
