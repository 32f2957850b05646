"""Tokenizer throughput: ours (RealmTokenizer, tensorflow-text graph ops) against HF RealmTokenizerFast (Rust), with
the same number of threads on both sides; and whether the two agree on every id and every offset.

Input: every title and sentence of the real Wikipedia sample, as `realm preprocess` produces them, in batches of
2,000 (the preprocessing batch); no special tokens. One timed call tokenizes every batch, and for each batch turns
the result into the same kind of output on both sides, Python lists of wordpiece ids and of (start, end) offsets
per text:
  ours: RealmTokenizer.tokenize_with_offsets (byte offsets), then ids.to_list() and the stacked [start, end]
  offsets .to_list();
  HF: RealmTokenizerFast(batch, add_special_tokens=False, return_offsets_mapping=True) with no attention mask or
  token type ids (character offsets; HF builds the Python lists inside the call).
The sides are timed in interleaved rounds (benchmarks.common.interleaved: the side that runs first alternates each
round), at least 10 timed calls per side. Reported per side: median seconds with spread (min, max, quartiles), texts
and MB per second at the median, and the ratio of medians (HF / ours). Threads: --threads N (default: every core)
sets TF's intra- and inter-op pools and the HF tokenizers Rust pool (RAYON_NUM_THREADS, RAYON_RS_NUM_CPUS,
TOKENIZERS_PARALLELISM), recorded in the results file.
Run it on an otherwise idle machine (torch's OpenMP threads stall when cores are busy elsewhere); the load
averages before and after are recorded.
Checked, untimed: texts whose ids differ (`id_mismatches`) and texts whose offsets differ once ours are converted
from bytes to characters (`offset_mismatches`); both must be zero.

Run: python -m benchmarks.bench_tokenization
Options: --threads N, --rounds R (default 20), --warmup W (default 1), --pause S (untimed sleep before each timed
call, default 0.1); --quick: the first 2,000 texts, 2 rounds, printed only (no results file written).
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.common import (
    add_timing_arguments,
    check_timing_arguments,
    configure_threads,
    interleaved,
    ratio_of_medians,
    summary,
    timing_record,
    write_results,
)

BATCH = 2000


def char_offsets(text: str, byte_offsets: list[list[int]]) -> list[tuple[int, int] | None]:
    """(start, end) byte offsets into `text`'s UTF-8 -> character offsets; None for one not on a character boundary."""
    if text.isascii():
        return [(s, e) for s, e in byte_offsets]
    char_at: dict[int, int] = {}
    position = 0
    for i, ch in enumerate(text):
        char_at[position] = i
        position += len(ch.encode("utf-8"))
    char_at[position] = len(text)
    out: list[tuple[int, int] | None] = []
    for s, e in byte_offsets:
        out.append((char_at[s], char_at[e]) if s in char_at and e in char_at else None)
    return out


def compare(texts: list[str], ours: tuple[list, list], hf: tuple[list, list]) -> dict:
    """Texts whose ids differ, texts whose offsets differ (ours converted to characters), and a few examples."""
    id_mismatches = offset_mismatches = 0
    examples = []
    for text, ours_ids, ours_offsets, hf_ids, hf_offsets in zip(texts, *ours, *hf, strict=True):
        ids_differ = ours_ids != hf_ids
        offsets_differ = char_offsets(text, ours_offsets) != [tuple(o) for o in hf_offsets]
        id_mismatches += ids_differ
        offset_mismatches += offsets_differ
        if (ids_differ or offsets_differ) and len(examples) < 3:
            examples.append({"text": text[:200], "ids_differ": ids_differ, "offsets_differ": offsets_differ})
    return {"id_mismatches": id_mismatches, "offset_mismatches": offset_mismatches, "mismatch_examples": examples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_timing_arguments(parser, rounds=20, quick_rounds=2, warmup=1)
    args = parser.parse_args()
    check_timing_arguments(parser, args)
    threads = configure_threads(args.threads)  # before TensorFlow runs anything or the Rust pool starts

    import tensorflow as tf
    import transformers

    from realm.data.pages import iter_raw_pages
    from realm.data.process import article_texts
    from realm.resources import default_vocab_file, sample_wikipedia_dump
    from realm.tokenization import RealmTokenizer

    texts = article_texts(iter_raw_pages(sample_wikipedia_dump()))
    if args.quick:
        texts = texts[:BATCH]
    megabytes = sum(len(t.encode()) for t in texts) / 1e6
    ours = RealmTokenizer.from_default_vocab()
    hf = transformers.RealmTokenizerFast(default_vocab_file(), do_lower_case=True)
    batches = [texts[i : i + BATCH] for i in range(0, len(texts), BATCH)]

    def run_ours() -> tuple[list, list]:
        ids, offsets = [], []
        for batch in batches:
            batch_ids, starts, ends = ours.tokenize_with_offsets(batch)
            ids += batch_ids.to_list()
            offsets += tf.stack([starts, ends], axis=-1).to_list()
        return ids, offsets

    def run_hf() -> tuple[list, list]:
        ids, offsets = [], []
        for batch in batches:
            out = hf(
                batch,
                add_special_tokens=False,
                return_offsets_mapping=True,
                return_attention_mask=False,
                return_token_type_ids=False,
            )
            ids += out["input_ids"]
            offsets += out["offset_mapping"]
        return ids, offsets

    timing = dict(rounds=args.rounds, warmup=args.warmup, pause=args.pause)
    durations = interleaved({"ours": run_ours, "hf": run_hf}, **timing)
    agreement = compare(texts, run_ours(), run_hf())
    ours_s, hf_s = (summary(durations[side])["median"] for side in ("ours", "hf"))
    results = {
        "texts": len(texts),
        "megabytes": megabytes,
        "batch": BATCH,
        "threads": threads,
        "timed": {
            "ours": "RealmTokenizer.tokenize_with_offsets per batch, ids and [start, end] byte offsets to Python lists",
            "hf": "RealmTokenizerFast(batch, add_special_tokens=False, return_offsets_mapping=True, no attention "
            "mask or token type ids): Python lists of ids and (start, end) character offsets",
        },
        "ours_seconds": ours_s,
        "hf_seconds": hf_s,
        "ours_texts_per_second": len(texts) / ours_s,
        "hf_texts_per_second": len(texts) / hf_s,
        "ours_mb_per_second": megabytes / ours_s,
        "hf_mb_per_second": megabytes / hf_s,
        "speedup_vs_hf": ratio_of_medians(durations, "hf", "ours"),
        **agreement,
        "timing": timing_record(durations, **timing),
    }
    ours_spread, hf_spread = (summary(durations[side]) for side in ("ours", "hf"))
    print(
        f"{len(texts)} texts, {megabytes:.1f} MB, median (min-max) seconds: ours {ours_s:.3f} "
        f"({ours_spread['min']:.3f}-{ours_spread['max']:.3f}, {len(texts) / ours_s:,.0f} texts/s), "
        f"HF {hf_s:.3f} ({hf_spread['min']:.3f}-{hf_spread['max']:.3f}) -> {results['speedup_vs_hf']:.2f}x; "
        f"id mismatches {agreement['id_mismatches']}, offset mismatches {agreement['offset_mismatches']}"
    )
    if args.quick:
        print(json.dumps(results, indent=2))
        print("--quick: no results file written")
        return
    print(f"results: {write_results('tokenization', results)}")


if __name__ == "__main__":
    main()
