"""Pre-training cost on this machine: training examples/s, refresh latency (embed + build + publish) for the
sample corpus and projected for REALM's 13.35M-block Wikipedia, and index staleness in steps.

- Training throughput and staleness come from a run directory of `realm pretrain` (its metrics.jsonl and
  refresh.log), e.g. the README's demo run.
- Refresh latency is measured here: embed every block of the corpus with the run's embedder size (MiniLM by
  default) at the run's block length, then build and publish the index (exact below 100k blocks, ScaNN above).
  The ScaNN build is also timed on synthetic 128-d embeddings of 1M blocks, and the 13.35M projection scales
  the embedding rate linearly and the build by the measured 1M build (ScaNN's tree + AH training is close to
  linear in the corpus at a fixed training sample).

Run: python -m benchmarks.bench_pretraining --run outputs/pretrain [--data outputs/corpus]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from benchmarks.common import write_results

REALM_BLOCKS = 13_353_718


def run_figures(run_dir: str) -> dict:
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        metrics = [json.loads(line) for line in f]
    steady = [m["examples_per_second"] for m in metrics[1:]] or [metrics[0]["examples_per_second"]]
    with open(os.path.join(run_dir, "refresh.log")) as f:
        refreshes = [float(x) for x in re.findall(r"refresh for step \d+: embed [\d.]+s, total ([\d.]+)s", f.read())]
    return {
        "steps": metrics[-1]["step"],
        "train_examples_per_second_median": statistics.median(steady),
        "staleness_steps_mean": statistics.mean(m["staleness_steps"] for m in metrics),
        "staleness_steps_max": max(m["staleness_steps"] for m in metrics),
        "staleness_seconds_mean": statistics.mean(m["staleness_seconds"] for m in metrics),
        "index_versions_used": sorted({m["index_version"] for m in metrics}),
        "refreshes_in_run": len(refreshes),
        "refresh_seconds_in_run_median": statistics.median(refreshes) if refreshes else None,
    }


def refresh_latency(data_dir: str, preset_name: str, max_length: int, batch_size: int) -> dict:
    from realm.data.block_store import BlockStore
    from realm.modeling.models import RealmEmbedder
    from realm.presets import model_config
    from realm.pretraining.refresh import embed_corpus
    from realm.retrieval.index import publish_index

    blocks = BlockStore.open(data_dir)
    embedder = RealmEmbedder(model_config(preset_name)).build_for_inference()
    embed_corpus(embedder, _Head(blocks, batch_size), batch_size, max_length)  # trace once
    start = time.perf_counter()
    embeddings = embed_corpus(embedder, blocks, batch_size, max_length)
    embed_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        publish_index(tmp, embeddings, 1)
        publish_s = time.perf_counter() - start
        synthetic = np.random.default_rng(0).standard_normal((1_000_000, embeddings.shape[1]), np.float32)
        synthetic /= np.linalg.norm(synthetic, axis=1, keepdims=True)
        start = time.perf_counter()
        publish_index(os.path.join(tmp, "big"), synthetic, 1, method="scann")
        scann_1m_s = time.perf_counter() - start
    blocks_per_s = len(blocks) / embed_s
    return {
        "blocks": len(blocks),
        "preset": preset_name,
        "max_length": max_length,
        "embed_seconds": embed_s,
        "embed_blocks_per_second": blocks_per_s,
        "build_and_publish_seconds": publish_s,
        "refresh_seconds": embed_s + publish_s,
        "scann_build_publish_1m_seconds": scann_1m_s,
        "projected_13m_refresh_hours_this_machine": (REALM_BLOCKS / blocks_per_s + scann_1m_s * 13.35) / 3600,
    }


class _Head:
    """The first batch of a block store, to trace the embedding function before timing."""

    def __init__(self, blocks, n):
        self.blocks, self.n = blocks, n

    def __len__(self):
        return self.n

    def truncation_warning(self, max_length):
        return None  # the real store says it when the timed run embeds it

    def iter_batches(self, batch_size, max_length):
        ids = np.arange(self.n)
        yield (ids, *self.blocks.padded_token_ids(ids, max_length))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a `realm pretrain` output directory")
    parser.add_argument("--data", help="its corpus (default: from the run's sidecar command line)")
    parser.add_argument("--preset", default="minilm")
    parser.add_argument("--max-length", type=int, default=288)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    results = {"run": run_figures(args.run)}
    if args.data:
        results["refresh"] = refresh_latency(args.data, args.preset, args.max_length, args.batch_size)
    path = write_results("pretraining", results)
    print(json.dumps(results, indent=2))
    print(f"results: {path}")


if __name__ == "__main__":
    main()
