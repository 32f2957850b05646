"""Tokenizer throughput: RealmTokenizer (tensorflow-text graph ops) against HF BertTokenizerFast (Rust).

Input: every title and sentence of the real Wikipedia sample, as `realm preprocess` produces them, tokenized in
batches of 2,000 (the preprocessing batch) and with offsets (both sides). Also counts id mismatches, which must
be zero.

Run: python -m benchmarks.bench_tokenization
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.common import time_per_call, write_results

BATCH = 2000


def main() -> None:
    import transformers

    from realm.data.pages import iter_raw_pages
    from realm.data.process import article_texts
    from realm.resources import default_vocab_file, sample_wikipedia_dump
    from realm.tokenization import RealmTokenizer

    texts = article_texts(iter_raw_pages(sample_wikipedia_dump()))
    megabytes = sum(len(t.encode()) for t in texts) / 1e6
    ours = RealmTokenizer.from_default_vocab()
    hf = transformers.BertTokenizerFast(default_vocab_file(), do_lower_case=True)
    batches = [texts[i : i + BATCH] for i in range(0, len(texts), BATCH)]

    def run_ours() -> None:
        for batch in batches:
            ours.tokenize_with_offsets(batch)

    def run_hf() -> None:
        for batch in batches:
            hf(batch, add_special_tokens=False, return_offsets_mapping=True)

    ours_s = time_per_call(run_ours, warmup=1, min_seconds=5)
    hf_s = time_per_call(run_hf, warmup=1, min_seconds=5)
    mismatches = sum(
        a != b
        for batch in batches
        for a, b in zip(ours.tokenize(batch).to_list(), hf(batch, add_special_tokens=False)["input_ids"], strict=True)
    )
    results = {
        "texts": len(texts),
        "megabytes": megabytes,
        "ours_seconds": ours_s,
        "hf_seconds": hf_s,
        "ours_texts_per_second": len(texts) / ours_s,
        "hf_texts_per_second": len(texts) / hf_s,
        "ours_mb_per_second": megabytes / ours_s,
        "speedup_vs_hf": hf_s / ours_s,
        "id_mismatches": mismatches,
    }
    path = write_results("tokenization", results)
    print(
        f"{len(texts)} texts, {megabytes:.1f} MB: ours {ours_s:.3f} s ({len(texts) / ours_s:,.0f}/s, "
        f"{megabytes / ours_s:.1f} MB/s), HF {hf_s:.3f} s -> {hf_s / ours_s:.2f}x; mismatches {mismatches}"
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
