"""Serving latency and throughput of the exported SavedModel against HF RealmForOpenQA.forward (same config,
same weights, same corpus, same machine).

- corpus "sample": the 2,183 blocks of the Wikipedia sample (texts from `realm preprocess`), random block
  embeddings; corpus "1m": 1,000,000 synthetic blocks (the sample's texts repeated), random embeddings;
- model: MiniLM-sized REALM (random weights: speed does not depend on them), searcher beam 100, reader beam 5,
  reader length 320;
- ours: the SavedModel's serving_default called in-process (what TF Serving runs); HF: RealmForOpenQA.forward
  with its RealmRetriever, which takes one question per call.
Reported: p50/p99 latency for one question, and questions/s at batch 32 (HF: 32 sequential calls).

Run: python -m benchmarks.bench_serving [--corpus sample|1m|both] [--data outputs/corpus]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from benchmarks.common import write_results

QUESTIONS = [
    "who was the 16th president of the united states",
    "what is the capital of angola",
    "when did apollo 11 land on the moon",
    "who wrote animal farm",
    "what is the atomic number of hydrogen",
    "where is the aardvark native to",
    "who founded aikido",
    "what is the largest city in alabama",
]


def _texts(data_dir: str | None, n: int) -> list[str]:
    if data_dir:
        from realm.data.block_store import BlockStore

        store = BlockStore.open(data_dir)
        base = store.texts(range(len(store)))
    else:
        base = [f"Block {i} about topic {i % 97} with some words to read." for i in range(2183)]
    return [base[i % len(base)] for i in range(n)]


def _latencies(fn, repeats: int) -> np.ndarray:
    fn(0)
    out = []
    for i in range(repeats):
        start = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - start)
    return np.array(out)


def bench_corpus(name: str, texts: list[str], repeats: int) -> dict:
    import tensorflow as tf
    import torch
    import transformers

    from realm import convert
    from realm.export.saved_model import export_saved_model
    from realm.resources import default_vocab_file

    config = transformers.RealmConfig(
        hidden_size=384,
        num_hidden_layers=6,
        num_attention_heads=12,
        intermediate_size=1536,
        hidden_act="gelu",
        retriever_proj_size=128,
        span_hidden_size=256,
        searcher_beam_size=100,
        reader_beam_size=5,
        reader_seq_len=320,
        num_block_records=len(texts),
    )
    tokenizer = transformers.RealmTokenizer(default_vocab_file())
    records = np.array([t.encode() for t in texts], dtype=object)
    torch.manual_seed(0)
    hf = transformers.RealmForOpenQA(config, retriever=transformers.RealmRetriever(records, tokenizer)).eval()
    with torch.no_grad():
        hf.block_emb.copy_(torch.randn(len(texts), 128))
    with tempfile.TemporaryDirectory() as tmp:
        hf.save_pretrained(os.path.join(tmp, "hf"), safe_serialization=False)
        np.save(os.path.join(tmp, "hf", "block_records.npy"), records, allow_pickle=True)
        convert.convert_hf(os.path.join(tmp, "hf"), os.path.join(tmp, "ours"))
        path = export_saved_model(
            os.path.join(tmp, "ours"), os.path.join(tmp, "serving"), version=1, hub_embedder=False
        )
        import tensorflow_text  # noqa: F401

        serve = tf.saved_model.load(path).signatures["serving_default"]
        ours_one = _latencies(lambda i: serve(question=tf.constant([QUESTIONS[i % len(QUESTIONS)]])), repeats)
        batch = tf.constant([QUESTIONS[i % len(QUESTIONS)] for i in range(32)])
        ours_batch = _latencies(lambda i: serve(question=batch), max(3, repeats // 10))

    def hf_call(i):
        inputs = tokenizer([QUESTIONS[i % len(QUESTIONS)]], return_tensors="pt")
        with torch.no_grad():
            hf(**inputs, return_dict=True)

    hf_one = _latencies(hf_call, repeats)
    hf_batch_seconds = 32 * float(np.median(hf_one))
    result = {
        "blocks": len(texts),
        "ours_p50_ms": 1000 * float(np.percentile(ours_one, 50)),
        "ours_p99_ms": 1000 * float(np.percentile(ours_one, 99)),
        "hf_p50_ms": 1000 * float(np.percentile(hf_one, 50)),
        "hf_p99_ms": 1000 * float(np.percentile(hf_one, 99)),
        "ours_batch32_questions_per_second": 32 / float(np.median(ours_batch)),
        "hf_batch32_questions_per_second": 32 / hf_batch_seconds,
    }
    result["latency_ratio_hf_over_ours"] = result["hf_p50_ms"] / result["ours_p50_ms"]
    result["throughput_ratio_ours_over_hf"] = (
        result["ours_batch32_questions_per_second"] / result["hf_batch32_questions_per_second"]
    )
    print(name, result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=["sample", "1m", "both"], default="both")
    parser.add_argument("--data", help="a `realm preprocess` output for the sample texts")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    results = {}
    if args.corpus in ("sample", "both"):
        results["sample"] = bench_corpus("sample", _texts(args.data, 2183), args.repeats)
    if args.corpus in ("1m", "both"):
        results["1m"] = bench_corpus("1m", _texts(args.data, 1_000_000), max(10, args.repeats // 3))
    print("results:", write_results("serving", results))


if __name__ == "__main__":
    main()
