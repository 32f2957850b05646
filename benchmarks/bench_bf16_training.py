"""A BERT encoder's training step in float32 and in Keras' mixed_bfloat16, timed on this machine's CPU.

Fine-tuning and pre-training spend most of their time in the encoders' forward and backward passes. CPUs with
AMX or AVX512-BF16 (this project's 2-core Sapphire Rapids hosts have both) run bfloat16 matrix products natively,
so mixed precision could buy minutes the main command's 45-minute budget lacks. This times only that share: the
`preset`'s encoder (minilm: MiniLM-L6-H384) takes a training step (forward, a loss over its outputs, backward,
AdamW) on random token ids at the shapes the recipe's steps read (16 questions x 1 block for a cloze step, 4 x 5
for a question step; 160 wordpieces each), both precisions built in one process and timed in interleaved rounds
(benchmarks.common.interleaved). It says nothing about whether bfloat16 keeps the recipe's accuracy: that needs
fine-tuning runs compared on dev. Results: benchmarks/results/bf16_training.json.

Run: python -m benchmarks.bench_bf16_training [--preset minilm] [--rounds 10] [--seq 160]
"""

from __future__ import annotations

import argparse
import sys

from benchmarks.common import interleaved, ratio_of_medians, summaries, write_results

NAME = "bf16_training"
SHAPES = {"cloze step (16 x 1 block)": 16, "question step (4 x 5 blocks)": 20}


def train_step(preset: str, policy: str, batch: int, seq: int):
    """A compiled training step of a fresh encoder built under `policy`, on fixed random inputs."""
    import keras
    import numpy as np
    import tensorflow as tf

    from realm.modeling.networks.bert_encoder import BertEncoder
    from realm.presets import model_config

    ids = tf.constant(np.random.default_rng(0).integers(1000, 30000, size=(batch, seq)), tf.int32)
    mask, types = tf.ones_like(ids), tf.zeros_like(ids)
    keras.mixed_precision.set_global_policy(policy)
    try:  # built (its first call) under the policy too: layers made in build() take the policy then
        encoder = BertEncoder(model_config(preset))
        encoder(ids, mask, types)
        optimizer = keras.optimizers.AdamW(1e-4)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    kinds = {v.dtype for v in encoder.weights}
    compute = {layer.compute_dtype for layer in encoder._flatten_layers()}
    if (policy == "mixed_bfloat16" and "bfloat16" not in compute) or kinds != {"float32"}:
        raise RuntimeError(f"{policy}: weights {kinds}, compute {compute}: the policy did not take")

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            hidden = encoder(ids, mask, types, training=True)["sequence_output"]
            loss = tf.reduce_mean(tf.cast(hidden, tf.float32) ** 2)
        gradients = tape.gradient(loss, encoder.trainable_variables)
        optimizer.apply_gradients(zip(gradients, encoder.trainable_variables, strict=True))
        return loss

    return lambda: step().numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="minilm")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seq", type=int, default=160)
    args = parser.parse_args()
    shapes = {}
    for shape, batch in SHAPES.items():
        calls = {p: train_step(args.preset, p, batch, args.seq) for p in ("float32", "mixed_bfloat16")}
        durations = interleaved(calls, rounds=args.rounds, warmup=2)
        shapes[shape] = {
            "batch": batch,
            "seq": args.seq,
            "seconds": summaries(durations),
            "float32_over_bfloat16": round(ratio_of_medians(durations, "float32", "mixed_bfloat16"), 3),
        }
        print(f"{shape}: float32 / mixed_bfloat16 median step = {shapes[shape]['float32_over_bfloat16']}", flush=True)
    path = write_results(
        NAME,
        {"command": " ".join(["python -m benchmarks.bench_bf16_training", *sys.argv[1:]]), "preset": args.preset,
         "shapes": shapes},
    )  # fmt: skip
    print(f"written to {path}")


if __name__ == "__main__":
    main()
