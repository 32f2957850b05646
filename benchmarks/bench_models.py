"""Model throughput: ours (Keras 3 / TF, XLA) against HF transformers REALM (PyTorch 'eager') on the same machine,
with the same number of threads on both sides.

What one timed call is, per side (MiniLM-sized config, random weights and random token ids built beforehand):
- embedder inference, batch 32 x 288 tokens (REALM's block length):
  ours: the XLA-compiled RealmEmbedder call on TF tensors, `projected_score` fetched as a numpy array;
  HF: transformers.RealmEmbedder under torch.inference_mode on torch tensors, `projected_score` as a numpy array.
- knowledge-augmented encoder train step, batch 2 queries x 8 candidate blocks x 128 tokens, 5 masked tokens per
  query: forward, backward and an AdamW update (lr 1e-5) of every weight and of the relevance scores, the loss
  fetched as a number.
  ours, twice, each one XLA-compiled tf.function: "full logits" (vocabulary logits at every position, the work HF
  does) and "masked only" (the MLM head at the masked positions only, the original REALM code's way);
  HF: zero_grad, forward with labels and mlm_mask, backward, torch.optim.AdamW step.
Building the inputs and models and the XLA compilation (the warm-up rounds) are not timed. The sides are timed in
interleaved rounds (benchmarks.common.interleaved: one call per side a round, the side that runs first rotating
each round), at least 10 timed calls per side. Reported per side: median seconds per call with its spread (min,
max, quartiles) and the throughput at the median; and the ratio of medians, HF / ours (above 1: ours is faster).
Threads: --threads N (default: every core) for TF (intra- and inter-op pools, set before TF initialises) and torch
(intra- and inter-op), recorded in the results file with the rounds.
Run it on an otherwise idle machine (torch's OpenMP threads stall when cores are busy elsewhere); the load
averages before and after are recorded.

Run: python -m benchmarks.bench_models [--quick]
Options: --threads N, --rounds R (default 10; 12 for the encoder's three sides), --warmup W (default 2), --pause S
(untimed sleep before each timed call, default 0.1); --quick: the tiny preset at short lengths, 2 rounds, printed
only (no results file written), a smoke check in well under a minute.
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from benchmarks.common import (
    add_timing_arguments,
    check_timing_arguments,
    configure_threads,
    describe,
    interleaved,
    ratio_of_medians,
    timing_record,
    write_results,
)


def _config(preset: str):
    from realm.presets import model_config

    return model_config(preset, num_candidates=8)


def bench_embedder(preset: str, batch: int, seq: int, timing: dict) -> dict:
    import tensorflow as tf
    import torch
    import transformers

    from realm.modeling.models import RealmEmbedder

    config = _config(preset)
    rng = np.random.RandomState(0)
    ids = rng.randint(1000, min(30000, config.vocab_size), size=(batch, seq)).astype(np.int32)
    mask = np.ones_like(ids)
    types = np.zeros_like(ids)
    types[:, seq // 8 :] = 1

    ours = RealmEmbedder(config).build_for_inference()
    embed = tf.function(lambda i, m, t: ours(i, m, t)["projected_score"], jit_compile=True)
    tensors = [tf.constant(x) for x in (ids, mask, types)]

    hf = transformers.RealmEmbedder(transformers.RealmConfig(**config.to_dict())).eval()
    t_ids, t_mask, t_types = (torch.tensor(x, dtype=torch.long) for x in (ids, mask, types))

    def hf_call():
        with torch.inference_mode():
            return hf(input_ids=t_ids, attention_mask=t_mask, token_type_ids=t_types).projected_score.numpy()

    durations = interleaved({"ours": lambda: embed(*tensors).numpy(), "hf": hf_call}, **timing)
    print(
        f"embedder inference (batch {batch} x {seq}), docs/s at the median (min-max): "
        f"ours {describe(durations['ours'], batch)}, HF {describe(durations['hf'], batch)}"
    )
    return {
        "batch": batch,
        "seq_len": seq,
        "timed": {
            "ours": "XLA-compiled RealmEmbedder call on prebuilt TF tensors, projected_score to numpy",
            "hf": "transformers.RealmEmbedder under torch.inference_mode on prebuilt tensors, projected_score to numpy",
        },
        "ours_docs_per_s": batch / float(np.median(durations["ours"])),
        "hf_docs_per_s": batch / float(np.median(durations["hf"])),
        "ratio": ratio_of_medians(durations, "hf", "ours"),
        "timing": timing_record(durations, **timing),
    }


def bench_encoder_train(preset: str, batch: int, seq: int, masks: int, timing: dict) -> dict:
    import keras
    import tensorflow as tf
    import torch
    import transformers

    from realm.modeling.models import RealmKnowledgeAugEncoder

    config = _config(preset)
    candidates = config.num_candidates
    rng = np.random.RandomState(0)
    ids = rng.randint(1000, min(30000, config.vocab_size), size=(batch, candidates, seq)).astype(np.int32)
    positions = np.stack([rng.choice(np.arange(1, seq // 3), masks, replace=False) for _ in range(batch)])
    targets = rng.randint(1000, min(30000, config.vocab_size), size=(batch, masks)).astype(np.int32)
    labels = np.full((batch, seq), -100, np.int64)
    np.put_along_axis(labels, positions, targets, axis=1)

    ours = RealmKnowledgeAugEncoder(config).build_for_inference()
    relevance = tf.Variable(tf.zeros((batch, candidates)))
    optimizer = keras.optimizers.AdamW(learning_rate=1e-5)
    variables = [*ours.trainable_variables, relevance]
    optimizer.build(variables)

    def make_step(gathered: bool):
        @tf.function(jit_compile=True)
        def step(i, pos, tgt, lab):
            with tf.GradientTape() as tape:
                if gathered:
                    out = ours(i, relevance_score=relevance, masked_positions=pos, masked_labels=tgt, training=True)
                else:
                    out = ours(
                        i,
                        relevance_score=relevance,
                        labels=lab,
                        mlm_mask=tf.not_equal(lab, -100),
                        training=True,
                    )
            grads = tape.gradient(out["loss"], variables)
            optimizer.apply(grads, variables)
            return out["loss"]

        return step

    args = [tf.constant(x) for x in (ids, positions.astype(np.int32), targets, labels.astype(np.int32))]
    full_step, gathered_step = make_step(False), make_step(True)

    hf = transformers.RealmKnowledgeAugEncoder(transformers.RealmConfig(**config.to_dict())).train()
    t_relevance = torch.zeros((batch, candidates), requires_grad=True)
    t_opt = torch.optim.AdamW([*hf.parameters(), t_relevance], lr=1e-5)
    t_ids, t_labels = torch.tensor(ids, dtype=torch.long), torch.tensor(labels)
    t_mask = t_labels != -100

    def hf_step():
        t_opt.zero_grad()
        loss = hf(input_ids=t_ids, relevance_score=t_relevance, labels=t_labels, mlm_mask=t_mask).loss
        loss.backward()
        t_opt.step()
        return loss.item()

    durations = interleaved(
        {
            "ours_full_logits": lambda: float(full_step(*args).numpy()),
            "ours_masked_only": lambda: float(gathered_step(*args).numpy()),
            "hf": hf_step,
        },
        **timing,
    )
    full, masked = (ratio_of_medians(durations, "hf", side) for side in ("ours_full_logits", "ours_masked_only"))
    print(
        f"knowledge-aug encoder train step ({batch} x {candidates} candidates x {seq}), examples/s at the median "
        f"(min-max): HF {describe(durations['hf'], batch)}; ours full logits "
        f"{describe(durations['ours_full_logits'], batch)} ({full:.2f}x), "
        f"masked only {describe(durations['ours_masked_only'], batch)} ({masked:.2f}x)"
    )
    return {
        "batch": batch,
        "num_candidates": candidates,
        "seq_len": seq,
        "masked_tokens": masks,
        "timed": {
            "ours_full_logits": "one XLA tf.function: forward with vocabulary logits at every position, gradients, "
            "AdamW apply; loss to a float",
            "ours_masked_only": "one XLA tf.function: forward with the MLM head at the masked positions only, "
            "gradients, AdamW apply; loss to a float",
            "hf": "zero_grad, forward with labels and mlm_mask, backward, torch.optim.AdamW step; loss.item()",
        },
        "ours_full_logits_examples_per_s": batch / float(np.median(durations["ours_full_logits"])),
        "ours_masked_only_examples_per_s": batch / float(np.median(durations["ours_masked_only"])),
        "hf_examples_per_s": batch / float(np.median(durations["hf"])),
        "ratio_full_logits": full,
        "ratio_masked_only": masked,
        "timing": timing_record(durations, **timing),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_timing_arguments(parser, rounds=10, quick_rounds=2, warmup=2)
    args = parser.parse_args()
    check_timing_arguments(parser, args)
    threads = configure_threads(args.threads)  # before TensorFlow runs anything
    if args.quick:
        preset, embedder_shape, encoder_shape = "tiny", (4, 64), (1, 32, 3)
    else:
        preset, embedder_shape, encoder_shape = "minilm", (32, 288), (2, 128, 5)
    timing = dict(rounds=args.rounds, warmup=args.warmup, pause=args.pause)
    embedder = bench_embedder(preset, *embedder_shape, timing)
    encoder = bench_encoder_train(preset, *encoder_shape, timing)
    results = {"config": preset, "threads": threads, "embedder_inference": embedder, "encoder_train_step": encoder}
    if args.quick:
        print(json.dumps(results, indent=2))
        print("--quick: no results file written")
        return
    path = write_results("models", results)
    print(f"results written to {path}")


if __name__ == "__main__":
    main()
