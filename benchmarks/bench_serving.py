"""Serving latency and throughput of the exported SavedModel against HF RealmForOpenQA.forward: same config, same
weights, same corpus, same machine, same number of threads, the same retrieval and reader work per question.

- corpus "sample": 2,183 blocks, the texts of a `realm preprocess` output when --data names one, else short
  synthetic blocks; corpus "1m": 1,000,000 blocks (those texts repeated); random block embeddings;
- model: MiniLM-sized REALM (random weights: speed does not depend on them), reader length 320, searcher beam =
  reader beam = 5. Per question both sides embed the question, score it against every block, take the top 5,
  tokenize those 5 question-block pairs (padded to the longest, at most 320 tokens) and run the reader over the 5.
  (HF's RealmForOpenQA in eval mode searches with reader_beam_size whatever searcher_beam_size says; the HF side
  counts the blocks its retriever tokenizes and the results file records it, `hf_blocks_tokenized_per_question`.)
- ours: the SavedModel's serving_default called in-process (what TF Serving runs), tokenizing in the graph;
  HF: RealmTokenizerFast (Rust) on the question, then RealmForOpenQA.forward under torch.no_grad with a
  RealmRetriever holding the same block texts and the same RealmTokenizerFast.
Timed, one call per side per round, in interleaved rounds (benchmarks.common.interleaved: the side that runs first
alternates each round), both sides asking the same question in the same round:
- latency: one question; ours: one serving_default call with a batch of 1, answer fetched; HF: tokenize + one
  forward call. Reported: p50 and p99 per side, median spread, ratio of medians (HF / ours). At least 30 rounds
  (--rounds), 10 on the 1m corpus.
- throughput at batch 32: ours: one serving_default call with 32 questions; HF: 32 sequential one-question calls
  (tokenize + forward each; its forward takes one question), the 32 timed together, measured, not extrapolated.
  Reported: questions/s at the median per side, spread, ratio. At least 10 rounds (--batch-rounds).
Building the models, exporting and loading the SavedModel and the warm-up rounds are not timed.
Threads: --threads N (default: every core) for TF (intra- and inter-op pools), torch and the HF tokenizers' Rust
pool, recorded in the results file.
Run it on an otherwise idle machine (torch's OpenMP threads stall when cores are busy elsewhere); the load
averages before and after are recorded.

Run: python -m benchmarks.bench_serving [--corpus sample|1m|both] [--data outputs/corpus]
Options: --threads N, --rounds R (default 30), --batch-rounds R (default 10), --warmup W (default 1), --pause S
(untimed sleep before each timed call, default 0.1); --quick: a small model over 200 synthetic blocks, batch 4,
2 rounds, printed only (no results file written).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from benchmarks.common import (
    MIN_ROUNDS,
    add_timing_arguments,
    check_timing_arguments,
    configure_threads,
    interleaved,
    ratio_of_medians,
    timing_record,
    write_results,
)
from realm import presets

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
BEAM = 5  # blocks retrieved and read per question, on both sides

# The minilm preset's sizes (realm.presets); the activation and beams are set below for both sides.
MINILM = {k: v for k, v in presets.get("minilm").model.items() if k not in ("hidden_act", "searcher_beam_size")}
SMALL = dict(  # --quick
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=128,
    retriever_proj_size=32,
    span_hidden_size=32,
)


def _texts(data_dir: str | None, n: int) -> list[str]:
    if data_dir:
        from realm.data.block_store import BlockStore

        store = BlockStore.open(data_dir)
        base = store.texts(range(len(store)))
    else:
        base = [f"Block {i} about topic {i % 97} with some words to read." for i in range(2183)]
    return [base[i % len(base)] for i in range(n)]


def _cycling(fn):
    """A no-argument call that gives `fn` the next question each time (the same sequence on every side)."""
    counter = itertools.count()
    return lambda: fn(next(counter))


def bench_corpus(
    name: str, texts: list[str], *, model: dict, rounds: int, batch_rounds: int, batch: int, warmup: int, pause: float
) -> dict:
    import tensorflow as tf
    import torch
    import transformers

    from realm import convert
    from realm.export.saved_model import export_saved_model
    from realm.resources import default_vocab_file

    class CountingRetriever(transformers.RealmRetriever):
        """HF's retriever, remembering how many blocks it was given to tokenize in its last call."""

        blocks_tokenized = 0

        def __call__(self, retrieved_block_ids, *args, **kwargs):
            self.blocks_tokenized = int(retrieved_block_ids.numel())
            return super().__call__(retrieved_block_ids, *args, **kwargs)

    config = transformers.RealmConfig(
        **model,
        hidden_act="gelu",
        searcher_beam_size=BEAM,
        reader_beam_size=BEAM,
        reader_seq_len=320,
        num_block_records=len(texts),
    )
    tokenizer = transformers.RealmTokenizerFast(default_vocab_file(), do_lower_case=True)
    records = np.array([t.encode() for t in texts], dtype=object)
    torch.manual_seed(0)
    retriever = CountingRetriever(records, tokenizer)
    hf = transformers.RealmForOpenQA(config, retriever=retriever).eval()
    with torch.no_grad():
        hf.block_emb.copy_(torch.randn(len(texts), config.retriever_proj_size))

    def hf_one(i: int):
        inputs = tokenizer([QUESTIONS[i % len(QUESTIONS)]], return_tensors="pt")
        with torch.no_grad():
            return hf(**inputs, return_dict=True).predicted_answer_ids

    batch_questions = [QUESTIONS[i % len(QUESTIONS)] for i in range(batch)]

    def hf_batch():
        for i in range(batch):
            hf_one(i)

    with tempfile.TemporaryDirectory() as tmp:
        hf.save_pretrained(os.path.join(tmp, "hf"), safe_serialization=False)
        np.save(os.path.join(tmp, "hf", "block_records.npy"), records, allow_pickle=True)
        convert.convert_hf(os.path.join(tmp, "hf"), os.path.join(tmp, "ours"))
        path = export_saved_model(
            os.path.join(tmp, "ours"), os.path.join(tmp, "serving"), version=1, hub_embedder=False
        )
        import tensorflow_text  # noqa: F401

        serve = tf.saved_model.load(path).signatures["serving_default"]

        def ours_one(i: int):
            return serve(question=tf.constant([QUESTIONS[i % len(QUESTIONS)]]))["answer"].numpy()

        ours_batch_input = tf.constant(batch_questions)

        def ours_batch():
            return serve(question=ours_batch_input)["answer"].numpy()

        ours_blocks_read = int(serve(question=tf.constant(QUESTIONS[:1]))["block_ids"].shape[1])
        one_timing = dict(rounds=rounds, warmup=warmup, pause=pause)
        many_timing = dict(rounds=batch_rounds, warmup=warmup, pause=pause)
        one = interleaved({"ours": _cycling(ours_one), "hf": _cycling(hf_one)}, **one_timing)
        hf_blocks = retriever.blocks_tokenized
        many = interleaved({"ours": ours_batch, "hf": hf_batch}, **many_timing)

    per_call = f"batch{batch}"
    result = {
        "blocks": len(texts),
        "searcher_beam": BEAM,
        "reader_beam": BEAM,
        "ours_blocks_read_per_question": ours_blocks_read,
        "hf_blocks_tokenized_per_question": hf_blocks,
        "timed": {
            "latency_ours": "one serving_default call, 1 question (tokenize, embed, search all blocks, top 5, "
            "tokenize 5 pairs, read 5), answer fetched",
            "latency_hf": "RealmTokenizerFast on the question + one RealmForOpenQA.forward (embed, search all "
            "blocks, top 5, RealmRetriever tokenizes 5 pairs, read 5) under torch.no_grad",
            f"{per_call}_ours": f"one serving_default call with {batch} questions",
            f"{per_call}_hf": f"{batch} sequential one-question calls (tokenize + forward), timed together",
        },
        "ours_p50_ms": 1000 * float(np.percentile(one["ours"], 50)),
        "ours_p99_ms": 1000 * float(np.percentile(one["ours"], 99)),
        "hf_p50_ms": 1000 * float(np.percentile(one["hf"], 50)),
        "hf_p99_ms": 1000 * float(np.percentile(one["hf"], 99)),
        f"ours_{per_call}_questions_per_second": batch / float(np.median(many["ours"])),
        f"hf_{per_call}_questions_per_second": batch / float(np.median(many["hf"])),
        "latency_ratio_hf_over_ours": ratio_of_medians(one, "hf", "ours"),
        "throughput_ratio_ours_over_hf": ratio_of_medians(many, "hf", "ours"),
        "latency_timing": timing_record(one, **one_timing),
        f"{per_call}_timing": timing_record(many, **many_timing),
    }
    print(
        f"{name} ({len(texts):,} blocks): latency p50 ours {result['ours_p50_ms']:.0f} ms, HF "
        f"{result['hf_p50_ms']:.0f} ms ({result['latency_ratio_hf_over_ours']:.2f}x); batch {batch}: ours "
        f"{result[f'ours_{per_call}_questions_per_second']:.2f} q/s, HF (measured, {batch} calls) "
        f"{result[f'hf_{per_call}_questions_per_second']:.2f} q/s ({result['throughput_ratio_ours_over_hf']:.2f}x); "
        f"blocks read per question: ours {ours_blocks_read}, HF tokenized {hf_blocks}"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=["sample", "1m", "both"], default="both")
    parser.add_argument("--data", help="a `realm preprocess` output for the sample texts")
    add_timing_arguments(parser, rounds=30, quick_rounds=2, warmup=1)
    parser.add_argument("--batch-rounds", type=int, help="timed rounds at batch 32 (default 10; 2 with --quick)")
    parser.add_argument("--repeats", type=int, help=argparse.SUPPRESS)  # the old name of --rounds
    args = parser.parse_args()
    if args.rounds is None and args.repeats is not None:
        args.rounds = args.repeats
    check_timing_arguments(parser, args)
    if args.batch_rounds is None:
        args.batch_rounds = 2 if args.quick else MIN_ROUNDS
    if args.batch_rounds < (1 if args.quick else MIN_ROUNDS):
        parser.error(f"--batch-rounds must be at least {MIN_ROUNDS} for a measurement (or use --quick)")
    threads = configure_threads(args.threads)  # before TensorFlow runs anything
    common = dict(model=MINILM, batch=32, warmup=args.warmup, pause=args.pause, batch_rounds=args.batch_rounds)
    results = {"threads": threads}
    if args.quick:
        common.update(model=SMALL, batch=4)
        results["sample"] = bench_corpus("quick", _texts(args.data, 200), rounds=args.rounds, **common)
        print(json.dumps(results, indent=2))
        print("--quick: no results file written")
        return
    if args.corpus in ("sample", "both"):
        results["sample"] = bench_corpus("sample", _texts(args.data, 2183), rounds=args.rounds, **common)
    if args.corpus in ("1m", "both"):
        rounds_1m = max(MIN_ROUNDS, args.rounds // 3)
        results["1m"] = bench_corpus("1m", _texts(args.data, 1_000_000), rounds=rounds_1m, **common)
    print("results:", write_results("serving", results))


if __name__ == "__main__":
    main()
