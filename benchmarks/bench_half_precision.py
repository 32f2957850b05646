"""Float16 block embeddings in the export: the index's memory, the change in retrieval, and the search latency.

Two parts:
- the sample: a fine-tuned model exported twice (float32 and float16 block embeddings) answers the sample test
  questions: bytes of the block embeddings alone and of all variables on disk, recall at the reader beam (an
  answer in the returned blocks), exact match, and how far the two agree on the returned blocks;
- a synthetic 1M x 128 index shaped like trained embeddings (a shared mean direction, most of the variance in a
  few latent directions, noise; unit length) with queries that lie near one of its blocks, as a question lies
  near its evidence: the index's bytes, top-k overlap of float16 against float32 search at the reader and
  searcher beams, and the latency of the in-graph search (realm.retrieval.mips.exact_top_k, what the export
  runs) by chunk size and index precision. On the sample's 2,169 blocks the index is a small part of the
  variables, which hides that it halves; at 1M blocks it is most of the model.

Run: python -m benchmarks.bench_half_precision --model outputs/finetune/final
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from benchmarks.common import write_results

SYNTHETIC_DIM = 128
LATENT_RANK = 32


def _size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def _top_k_overlap(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Mean fraction of each row's reference ids that the candidate also returns (order ignored)."""
    k = reference.shape[1]
    shared = [len(set(a) & set(b)) for a, b in zip(reference.tolist(), candidate.tolist(), strict=True)]
    return float(np.mean(shared)) / k


def _sample(model_dir: str, split: str) -> dict:
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    from realm.evaluation.answers import answer_in_text, exact_match
    from realm.export.saved_model import export_saved_model
    from realm.finetuning.questions import sample_questions
    from realm.pretrained import from_pretrained

    questions = sample_questions(split)
    records = from_pretrained(model_dir, architecture="RealmForOpenQA").block_records.numpy()
    results = {}
    block_ids = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, half in (("float32", False), ("float16", True)):
            path = export_saved_model(model_dir, tmp, name, 1, half_precision=half, hub_embedder=False)
            loaded = tf.saved_model.load(path)
            serve = loaded.signatures["serving_default"]
            hits, correct, ids = [], [], []
            for start in range(0, len(questions), 16):
                batch = questions[start : start + 16]
                out = serve(question=tf.constant([q.question for q in batch]))
                for q, answer, row in zip(batch, out["answer"].numpy(), out["block_ids"].numpy(), strict=True):
                    hits.append(any(answer_in_text(records[i].decode(), q.answers) for i in row))
                    correct.append(exact_match(answer.decode(), q.answers))
                    ids.append(row.tolist())
            block_ids[name] = np.array(ids)
            index = loaded.block_embeddings
            results[name] = {
                "block_embeddings_mb": index.shape.num_elements() * index.dtype.size / 1e6,
                "variables_mb": _size(os.path.join(path, "variables")) / 1e6,
                "recall_at_reader_beam": float(np.mean(hits)),
                "exact_match": float(np.mean(correct)),
            }
    results["blocks"] = len(records)
    results["questions"] = len(questions)
    results["same_blocks_fraction"] = float(np.mean(np.all(block_ids["float32"] == block_ids["float16"], axis=1)))
    results["top_k_overlap_at_reader_beam"] = _top_k_overlap(block_ids["float32"], block_ids["float16"])
    return results


def _embedding_like(rng: np.random.Generator, count: int, mean: np.ndarray, mixing: np.ndarray) -> np.ndarray:
    """Unnormalised vectors with trained embeddings' anisotropy: mean + low-rank latent part + isotropic noise."""
    latent = rng.standard_normal((count, mixing.shape[0]), dtype=np.float32) @ mixing
    noise = 0.3 * rng.standard_normal((count, mixing.shape[1]), dtype=np.float32)
    return mean + latent + noise


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _synthetic_index(num_blocks: int, num_queries: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(blocks [n, 128] float32 unit rows, queries [q, 128]): each query is a block blended with a fresh
    embedding-like vector, so it has one close block and a dense neighbourhood of near-ties behind it."""
    rng = np.random.default_rng(seed)
    mean = 0.8 * _unit(rng.standard_normal((1, SYNTHETIC_DIM), dtype=np.float32))
    # Latent directions with decaying scales: a few directions carry most of the variance.
    scales = (1.0 / np.sqrt(np.arange(1, LATENT_RANK + 1, dtype=np.float32)))[:, None]
    mixing = scales * _unit(rng.standard_normal((LATENT_RANK, SYNTHETIC_DIM), dtype=np.float32))
    blocks = np.empty((num_blocks, SYNTHETIC_DIM), np.float32)
    step = 1 << 17
    for start in range(0, num_blocks, step):
        count = min(step, num_blocks - start)
        blocks[start : start + count] = _unit(_embedding_like(rng, count, mean, mixing))
    near = blocks[rng.integers(0, num_blocks, num_queries)]
    queries = _unit(near + 0.7 * _unit(_embedding_like(rng, num_queries, mean, mixing)))
    return blocks, queries


def _synthetic(
    num_blocks: int,
    num_queries: int,
    reader_beam: int,
    searcher_beam: int,
    chunk_sizes: list[int],
    batch_sizes: list[int],
    rounds: int,
) -> dict:
    import tensorflow as tf

    from realm.retrieval.mips import exact_top_k

    blocks, queries = _synthetic_index(num_blocks, num_queries, seed=0)
    indexes = {
        "float32": tf.Variable(blocks, trainable=False),
        "float16": tf.Variable(blocks.astype(np.float16), trainable=False),
    }
    del blocks
    results: dict = {"blocks": num_blocks, "dim": SYNTHETIC_DIM, "latent_rank": LATENT_RANK, "queries": num_queries}
    for name, index in indexes.items():
        results[name] = {"block_embeddings_mb": index.shape.num_elements() * index.dtype.size / 1e6}

    # Retrieval agreement at the searcher beam; the reader beam is its prefix.
    top_ids = {}
    for name, index in indexes.items():
        ids = [
            exact_top_k(tf.constant(queries[start : start + 32]), index, searcher_beam)[1].numpy()
            for start in range(0, num_queries, 32)
        ]
        top_ids[name] = np.concatenate(ids)
    results["top_k_overlap"] = {
        f"at_{k}": _top_k_overlap(top_ids["float32"][:, :k], top_ids["float16"][:, :k])
        for k in (1, reader_beam, searcher_beam)
    }
    results["same_top_reader_beam_fraction"] = float(
        np.mean(np.all(top_ids["float32"][:, :reader_beam] == top_ids["float16"][:, :reader_beam], axis=1))
    )

    # Latency of the search as exported (a tf.function over a variable of static shape), interleaved over rounds
    # so that load from other processes on the machine falls on every configuration alike.
    searches = {}
    for name, index in indexes.items():
        for chunk in chunk_sizes:

            def search(q, index=index, chunk=chunk):
                return exact_top_k(q, index, searcher_beam, chunk_size=chunk)

            searches[(name, chunk)] = tf.function(
                search, input_signature=[tf.TensorSpec([None, SYNTHETIC_DIM], tf.float32)]
            )
    samples: dict = {(key, batch): [] for key in searches for batch in batch_sizes}
    for batch in batch_sizes:
        for fn in searches.values():
            fn(tf.constant(queries[:batch]))  # trace and warm up
    for round_index in range(rounds):
        for (key, batch), durations in samples.items():
            offset = (round_index * batch) % (num_queries - batch + 1)
            q = tf.constant(queries[offset : offset + batch])
            t0 = time.perf_counter()
            searches[key](q)[1].numpy()
            durations.append(time.perf_counter() - t0)
    latency: dict = {}
    for ((name, chunk), batch), durations in samples.items():
        entry = latency.setdefault(f"chunk_{chunk}", {}).setdefault(f"batch_{batch}", {})
        entry[name] = round(1000 * float(np.median(durations)), 2)
        # What one request holds at once besides the index: its float32 scores and the float32 copy of a chunk.
        rows = min(chunk, num_blocks)
        entry["scores_mb"] = batch * rows * 4 / 1e6
        entry["float16_chunk_as_float32_mb"] = rows * SYNTHETIC_DIM * 4 / 1e6
    results["search_latency_ms"] = latency
    results["latency_rounds"] = rounds
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a fine-tuned model directory (`realm finetune` final/)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--synthetic-blocks", type=int, default=1_000_000)
    parser.add_argument("--synthetic-queries", type=int, default=256)
    parser.add_argument("--chunk-sizes", type=int, nargs="+", default=[1 << 20, 1 << 18, 1 << 16])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--rounds", type=int, default=7, help="timed calls per search configuration")
    args = parser.parse_args()
    from realm.config import RealmConfig

    # The synthetic index is searched with the beams the fine-tuned model serves with.
    config = RealmConfig.from_pretrained(args.model)
    started = time.perf_counter()
    results = {"sample": _sample(args.model, args.split)}
    results["synthetic"] = _synthetic(
        args.synthetic_blocks,
        args.synthetic_queries,
        config.reader_beam_size,
        config.searcher_beam_size,
        args.chunk_sizes,
        args.batch_sizes,
        args.rounds,
    )
    results["seconds"] = round(time.perf_counter() - started, 1)
    print(results)
    print("results:", write_results("half_precision", results))


if __name__ == "__main__":
    main()
