"""Refresh latency and recall at scale: what one index refresh of the sidecar costs for 1M blocks, measured, and
for REALM's 13M-block Wikipedia, projected from those measurements.

A refresh is three parts (realm.pretraining.refresh.refresh_once): embed every block, build the index, publish it.
- embed: the real embedder (the preset's sizes, MiniLM weights for `minilm`) on real blocks of the Wikipedia
  sample at the preset's block length, timed over `--embed-blocks` blocks; blocks/s is projected linearly to 1M
  and 13M (embedding is one forward pass per block; the sidecar batches it like this).
- build + publish: `realm.retrieval.index.publish_index` with method "scann" (the sidecar's choice above 100,000
  blocks) on 1M embeddings, timed, and the written index loaded back. The embeddings are synthetic but shaped like
  real ones: each is a real block embedding of the sample (5,387 of them, from the same embedder) plus Gaussian
  noise, normalised like the originals. 13M is projected linearly from the 1M build (ScaNN's tree training uses a
  fixed sample; assigning and quantising blocks is linear).
- recall@10 of the ScaNN index against exact search on the same 1M embeddings, for `--queries` noisy copies of
  real block embeddings.

Run: python -m benchmarks.bench_refresh [--preset minilm] [--blocks 1000000] [--queries 1000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from benchmarks.common import write_results

WIKIPEDIA_BLOCKS = 13_000_000  # REALM/ORQA's English Wikipedia in 288-wordpiece blocks


def embed_rate(preset: str, blocks_wanted: int, batch_size: int) -> tuple[float, np.ndarray, int]:
    """(blocks/s, the sample's embeddings, block length) for the preset's embedder on the real sample."""
    import tempfile as tmp

    from realm.data.block_store import BlockStore
    from realm.data.preprocess import PreprocessOptions, run_preprocess
    from realm.data.process import ProcessConfig
    from realm.presets import get
    from realm.pretraining.refresh import embed_corpus
    from realm.resources import sample_wikipedia_dump

    seq_len = get(preset).recipe.block_max_tokens
    workdir = tmp.mkdtemp(prefix="bench-refresh-")
    corpus = os.path.join(workdir, "corpus")
    run_preprocess(
        PreprocessOptions(
            sample_wikipedia_dump(), corpus, num_shards=1, process=ProcessConfig(block_max_tokens=seq_len)
        ),
        ["--direct_num_workers=1"],
    )
    blocks = BlockStore.open(corpus)
    embedder = warm_started_embedder(preset, workdir)
    embed_corpus(embedder, FirstBlocks(blocks, batch_size), batch_size, seq_len)  # trace and warm up
    subset = FirstBlocks(blocks, min(blocks_wanted, len(blocks)))
    started = time.perf_counter()
    embed_corpus(embedder, subset, batch_size, seq_len)
    rate = len(subset) / (time.perf_counter() - started)
    everything = embed_corpus(embedder, blocks, batch_size, seq_len)
    shutil.rmtree(workdir, ignore_errors=True)
    return rate, everything, seq_len


def warm_started_embedder(preset: str, workdir: str):
    """The preset's embedder, warm-started as the pipeline's warm-start step starts it (MiniLM for `minilm`); a
    checkpoint would be converted under `workdir`."""
    from realm.modeling.models import RealmEmbedder
    from realm.presets import model_config, resolve_warm_start

    embedder = RealmEmbedder(model_config(preset)).build_for_inference()
    warm = resolve_warm_start(preset, "", workdir)
    if warm:
        from realm.checkpoints.bert import warm_start_from_bert

        warm_start_from_bert(embedder, warm)
    return embedder


class FirstBlocks:
    """The first `n` blocks of a block store, as embed_corpus reads a store."""

    def __init__(self, blocks, n: int):
        self.blocks, self.n = blocks, n

    def __len__(self) -> int:
        return self.n

    def truncation_warning(self, max_length: int):
        return None

    def iter_batches(self, batch_size: int, max_length: int):
        for batch in self.blocks.iter_batches(batch_size, max_length):
            ids = np.asarray(batch[0])
            keep = ids < self.n
            if not keep.any():
                return
            yield (ids[keep], *(np.asarray(x)[keep] for x in batch[1:]))


def synthetic_corpus(real: np.ndarray, n: int, rng: np.random.Generator, noise: float = 0.3) -> np.ndarray:
    """`n` embeddings: real ones plus noise at `noise` times their mean norm, rescaled to the real norms."""
    norms = np.linalg.norm(real, axis=1)
    base = real[rng.integers(0, len(real), n)]
    out = base + rng.standard_normal(base.shape).astype(np.float32) * (noise * norms.mean() / np.sqrt(real.shape[1]))
    out *= (np.linalg.norm(base, axis=1) / np.maximum(np.linalg.norm(out, axis=1), 1e-9))[:, None]
    return out.astype(np.float32)


def main() -> None:
    from realm.retrieval.index import BlockIndex, publish_index

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="minilm")
    parser.add_argument("--blocks", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--embed-blocks", type=int, default=2000, help="real blocks timed for the embedding rate")
    parser.add_argument("--batch-size", type=int, default=128, help="the sidecar's embedding batch")
    args = parser.parse_args()

    rate, real, seq_len = embed_rate(args.preset, args.embed_blocks, args.batch_size)
    print(f"embedding: {rate:.1f} blocks/s at {seq_len} wordpieces")
    rng = np.random.default_rng(0)
    corpus = synthetic_corpus(real, args.blocks, rng)
    workdir = tempfile.mkdtemp(prefix="bench-refresh-index-")
    try:
        started = time.perf_counter()
        path = publish_index(workdir, corpus, embedder_step=1, method="scann", k=10)
        build_publish = time.perf_counter() - started
        index = BlockIndex(path)
        queries = synthetic_corpus(real, args.queries, rng, noise=0.5)
        started = time.perf_counter()
        found, _ = index.search(queries, 10)
        search = time.perf_counter() - started
        exact = np.concatenate(  # 100 queries at a time: 1000 x 1M scores would be 4 GB
            [np.argsort(-(queries[i : i + 100] @ corpus.T), axis=1)[:, :10] for i in range(0, len(queries), 100)]
        )
        recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact, strict=True)]))
        meta = index.meta
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    scale = WIKIPEDIA_BLOCKS / args.blocks
    results = {
        "preset": args.preset,
        "block_seq_len": seq_len,
        "embed_blocks_per_second": rate,
        "blocks": args.blocks,
        "dim": int(corpus.shape[1]),
        "scann": meta.get("scann"),
        "measured": {
            "embed_seconds_projected": args.blocks / rate,
            "build_and_publish_seconds": build_publish,
            "build_seconds": meta.get("build_seconds"),
            "search_ms_per_query": 1000 * search / args.queries,
            "recall_at_10_vs_exact": recall,
            "queries": args.queries,
        },
        "projected_13m_blocks": {
            "embed_hours": WIKIPEDIA_BLOCKS / rate / 3600,
            "build_and_publish_minutes": build_publish * scale / 60,
            "note": "linear in the number of blocks from the measurements above; embedding on this machine's CPUs",
        },
    }
    print(write_results("refresh", results))
    print(
        f"1M blocks: build+publish {build_publish:.0f}s, recall@10 {recall:.3f}; 13M projected: embed "
        f"{results['projected_13m_blocks']['embed_hours']:.1f} h, build+publish "
        f"{results['projected_13m_blocks']['build_and_publish_minutes']:.0f} min"
    )


if __name__ == "__main__":
    main()
