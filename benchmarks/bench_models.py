"""Model throughput: ours (Keras 3 / TF, XLA) against HF transformers REALM (PyTorch) on the same machine.

- embedder inference: documents/s at sequence length 288 (REALM's block length), MiniLM-sized config;
- knowledge-augmented encoder train step: examples/s (one example = a query with `num_candidates` blocks),
  forward + backward + AdamW update. Ours is timed twice: with HF's full-vocabulary logits at every position
  (same work as HF) and with the MLM head only at the masked positions (the original REALM code's way).

Run: python -m benchmarks.bench_models [--quick]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from benchmarks.common import time_per_call, write_results


def _config():
    from realm.presets import model_config

    return model_config("minilm", num_candidates=8)


def bench_embedder(batch: int, seq: int, seconds: float) -> dict:
    import tensorflow as tf
    import torch
    import transformers

    from realm.modeling.models import RealmEmbedder

    config = _config()
    rng = np.random.RandomState(0)
    ids = rng.randint(1000, 30000, size=(batch, seq)).astype(np.int32)
    mask = np.ones_like(ids)
    types = np.zeros_like(ids)
    types[:, seq // 8 :] = 1

    ours = RealmEmbedder(config).build_for_inference()
    embed = tf.function(lambda i, m, t: ours(i, m, t)["projected_score"], jit_compile=True)
    tensors = [tf.constant(x) for x in (ids, mask, types)]
    ours_s = time_per_call(lambda: embed(*tensors).numpy(), min_seconds=seconds)

    hf = transformers.RealmEmbedder(transformers.RealmConfig(**config.to_dict())).eval()
    t_ids, t_mask, t_types = (torch.tensor(x, dtype=torch.long) for x in (ids, mask, types))

    def hf_call():
        with torch.inference_mode():
            hf(input_ids=t_ids, attention_mask=t_mask, token_type_ids=t_types).projected_score.numpy()

    hf_s = time_per_call(hf_call, min_seconds=seconds)
    return {
        "batch": batch,
        "seq_len": seq,
        "ours_docs_per_s": batch / ours_s,
        "hf_docs_per_s": batch / hf_s,
        "ratio": hf_s / ours_s,
    }


def bench_encoder_train(batch: int, seq: int, masks: int, seconds: float) -> dict:
    import keras
    import tensorflow as tf
    import torch
    import transformers

    from realm.modeling.models import RealmKnowledgeAugEncoder

    config = _config()
    candidates = config.num_candidates
    rng = np.random.RandomState(0)
    ids = rng.randint(1000, 30000, size=(batch, candidates, seq)).astype(np.int32)
    positions = np.stack([rng.choice(np.arange(1, seq // 3), masks, replace=False) for _ in range(batch)])
    targets = rng.randint(1000, 30000, size=(batch, masks)).astype(np.int32)
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
    ours_full_s = time_per_call(lambda: full_step(*args).numpy(), min_seconds=seconds)
    ours_gathered_s = time_per_call(lambda: gathered_step(*args).numpy(), min_seconds=seconds)

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

    hf_s = time_per_call(hf_step, min_seconds=seconds)
    return {
        "batch": batch,
        "num_candidates": candidates,
        "seq_len": seq,
        "masked_tokens": masks,
        "ours_full_logits_examples_per_s": batch / ours_full_s,
        "ours_masked_only_examples_per_s": batch / ours_gathered_s,
        "hf_examples_per_s": batch / hf_s,
        "ratio_full_logits": hf_s / ours_full_s,
        "ratio_masked_only": hf_s / ours_gathered_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter runs (for a smoke check)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    seconds = 2.0 if args.quick else 8.0
    embedder = bench_embedder(batch=8 if args.quick else 32, seq=288, seconds=seconds)
    print(
        f"embedder inference (seq 288, batch {embedder['batch']}): ours {embedder['ours_docs_per_s']:.1f} "
        f"docs/s, HF {embedder['hf_docs_per_s']:.1f} docs/s, ratio {embedder['ratio']:.2f}x"
    )
    encoder = bench_encoder_train(batch=1 if args.quick else 2, seq=128, masks=5, seconds=seconds)
    print(
        f"knowledge-aug encoder train step (8 candidates x seq 128): HF {encoder['hf_examples_per_s']:.2f} ex/s; "
        f"ours full logits {encoder['ours_full_logits_examples_per_s']:.2f} ex/s "
        f"({encoder['ratio_full_logits']:.2f}x), masked-only {encoder['ours_masked_only_examples_per_s']:.2f} ex/s "
        f"({encoder['ratio_masked_only']:.2f}x)"
    )
    path = write_results("models", {"embedder_inference": embedder, "encoder_train_step": encoder})
    print(f"results written to {path}")


if __name__ == "__main__":
    main()
