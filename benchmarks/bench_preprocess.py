"""Corpus preprocessing throughput on this machine, stage by stage, and a projection to the full English dump.

Per-core cost of each stage on the same input (the gensim enwiki sample, repeated to smooth timer noise):
- decompress: bz2 decompression alone (the floor: every byte of the dump must pass through it);
- read: decompression plus cutting the stream into `<page>` elements;
- parse: XML of each page, filters, wikitext cleaning (regex pre-pass + mwparserfromhell), sentence splitting;
- tokenize: every title and sentence through the TF WordPiece tokenizer, batched as the pipeline does;
- pack+spans: the rest of PageProcessor (block packing, salient spans, example assembly);
- write: tf.Example serialisation, TFRecord and Arrow writing of all blocks and examples.
Then the whole Beam pipeline end to end (`realm preprocess`, local runner on all cores).

Target (issue 3): parse + tokenize within 3x of decompression. The projection uses the per-core cost of all
stages and the 2024 English dump size (~100 GB of XML in ~22 GB of bz2); decompression runs once per input file,
so the 27 part files of the `pages-articles-multistream{1..27}` set are the unit of parallelism for it.

Run: python -m benchmarks.bench_preprocess [--repeat N]
"""

from __future__ import annotations

import argparse
import bz2
import collections
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.common import write_results

FULL_DUMP_XML_BYTES = 100e9  # enwiki pages-articles, 2024: ~22 GB bz2, ~100 GB decompressed
FULL_DUMP_PART_FILES = 27


def _best(fn, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def stage_costs(path: str, repeat: int) -> dict:
    import pyarrow as pa

    from realm.data import block_store
    from realm.data.pages import iter_raw_pages
    from realm.data.process import PageProcessor, article_texts
    from realm.data.records import block_example, pretraining_example
    from realm.tokenization import RealmTokenizer

    def decompress() -> int:
        total = 0
        with bz2.open(path) as f:
            while chunk := f.read(1 << 20):
                total += len(chunk)
        return total

    t_decompress, xml_bytes = _best(decompress, repeat)
    t_read, raws = _best(lambda: list(iter_raw_pages(path)), repeat)

    def parse() -> list:
        return article_texts(raws)  # XML, filters, wikitext cleaning and sentence splitting of every page

    t_parse, texts = _best(parse, repeat)
    tokenizer = RealmTokenizer.from_default_vocab()
    batch = 2000

    def tokenize() -> None:
        for start in range(0, len(texts), batch):
            tokenizer.tokenize_with_offsets(texts[start : start + batch])

    tokenize()  # trace the graph once
    t_tokenize, _ = _best(tokenize, repeat)
    processor = PageProcessor(tokenizer)

    def process() -> tuple[list, list, collections.Counter]:
        blocks, examples, stats = [], [], collections.Counter()
        for start in range(0, len(raws), 32):
            b, e, _, s = processor.process(raws[start : start + 32])
            blocks += b
            examples += e
            stats.update(s)
        return blocks, examples, stats

    t_process, (blocks, examples, stats) = _best(process, repeat)

    def write() -> None:
        import tensorflow as tf

        with tempfile.TemporaryDirectory() as tmp:
            with tf.io.TFRecordWriter(os.path.join(tmp, "blocks.tfrecord")) as w:
                for i, b in enumerate(blocks):
                    w.write(block_example(b, i))
            with tf.io.TFRecordWriter(os.path.join(tmp, "examples.tfrecord")) as w:
                for e in examples:
                    w.write(pretraining_example(e))
            sink = pa.BufferOutputStream()
            block_store.write_shard(sink, block_store.blocks_to_table(blocks, 0))

    t_write, _ = _best(write, repeat)
    return {
        "input": os.path.basename(path),
        "compressed_mb": os.path.getsize(path) / 1e6,
        "xml_mb": xml_bytes / 1e6,
        "wikitext_mb_articles": stats["wikitext_bytes"] / 1e6,
        "pages": len(raws),
        "blocks": stats["blocks"],
        "examples": stats["examples"],
        "seconds_per_core": {
            "decompress": t_decompress,
            "read_pages": t_read,
            "parse": t_parse,
            "tokenize": t_tokenize,
            "pack_and_spans": max(t_process - t_parse - t_tokenize, 0.0),
            "process_total": t_process,
            "write": t_write,
        },
    }


def pipeline_wall_time(path: str) -> float:
    from realm.data.preprocess import PreprocessOptions, run_preprocess

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        run_preprocess(PreprocessOptions(path, out, num_shards=4, overwrite=True))
        return time.perf_counter() - start


def main() -> None:
    import logging

    from realm.resources import sample_wikipedia_dump

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", default=None, help="a bz2 dump (default: the gensim sample)")
    parser.add_argument("--repeat", type=int, default=3, help="best of N per stage")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    path = args.input or sample_wikipedia_dump()

    costs = stage_costs(path, args.repeat)
    seconds = costs["seconds_per_core"]
    xml_mb = costs["xml_mb"]
    ratio = (seconds["parse"] + seconds["tokenize"]) / seconds["decompress"]
    per_core_total = seconds["read_pages"] + seconds["process_total"] + seconds["write"]
    wall = pipeline_wall_time(path)
    scale = FULL_DUMP_XML_BYTES / (xml_mb * 1e6)
    projections = {}
    for workers in (1, 8, 32, 128):
        # Decompression of one file is serial; everything after the reshuffle spreads over all workers.
        decompress_floor = seconds["read_pages"] * scale / min(workers, FULL_DUMP_PART_FILES)
        spread = per_core_total * scale / workers
        projections[f"{workers}_workers_hours"] = round(max(decompress_floor, spread) / 3600, 2)
    results = {
        **costs,
        "throughput_per_core": {
            "xml_mb_per_second": xml_mb / per_core_total,
            "article_wikitext_mb_per_second": costs["wikitext_mb_articles"] / per_core_total,
            "blocks_per_second": costs["blocks"] / per_core_total,
        },
        "parse_plus_tokenize_over_decompress": ratio,
        "target_ratio": 3.0,
        "pipeline_wall_seconds_all_cores": wall,
        "pipeline_blocks_per_second": costs["blocks"] / wall,
        "full_english_dump_projection": projections,
    }
    out = write_results("preprocess", results)
    print(f"input {costs['input']}: {costs['compressed_mb']:.1f} MB bz2, {xml_mb:.1f} MB XML, {costs['pages']} pages")
    for stage, value in seconds.items():
        print(f"  {stage:15s} {value:7.3f} s/core  ({xml_mb / value:6.1f} MB XML/s)")
    print(f"parse+tokenize / decompress = {ratio:.2f}x (target <= 3x)")
    print(f"per core: {xml_mb / per_core_total:.1f} MB XML/s, {costs['blocks'] / per_core_total:.0f} blocks/s")
    print(f"pipeline end to end on {os.cpu_count()} cores: {wall:.1f} s (start-up included)")
    print("full English dump:", ", ".join(f"{k.split('_')[0]} workers {v} h" for k, v in projections.items()))
    print(f"results: {out}")


if __name__ == "__main__":
    main()
