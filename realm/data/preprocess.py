"""`realm preprocess`: the Beam pipeline from MediaWiki XML dumps to REALM blocks and pre-training examples.

Shape of the pipeline (every stage streams; only one output shard is ever held by one worker):

    dump files -> ReadPages (one file per worker, page by page) -> Reshuffle -> BatchElements
      -> ProcessPages (parse, clean, split, tokenize, pack, find spans) -> blocks / examples / quarantine / stats
    blocks     -> key by hash(doc_uid) % num_shards -> group per shard -> sort -> TFRecord + Arrow block-store shard
    examples   -> key by hash(doc_uid) % num_shards -> group per shard -> sort -> TFRecord shard
    quarantine -> key by hash(source, offset) % num_shards -> group per shard -> sort -> JSONL shard
    stats      -> one summed counter -> stats.json + stats.md

Outputs are byte-identical from run to run: shard membership depends only on the document id (the page's file
and offset for quarantine) and every shard is sorted before it is written; block ids are shard prefix offsets
plus the row in the shard. A shard writer sorts its shard in memory, so the number of shards must grow with the
corpus: by default there is one shard per `BYTES_PER_SHARD` of compressed input (about 20k blocks of English
Wikipedia, a few hundred MB in a writer), which the input sizes alone decide, so the same input and options
still give the same bytes.

Locally the pipeline runs on Beam's FnApiRunner with one SDK worker process per core (no download: the default
DirectRunner would fetch the Prism binary). Any other runner (`--runner=DataflowRunner`, `FlinkRunner`,
`SparkRunner`, ...) is chosen by passing its Beam options through unchanged.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Iterable, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from realm.data.process import ProcessConfig
from realm.errors import RealmError

logger = logging.getLogger(__name__)

BLOCKS_DIR = "blocks"
EXAMPLES_DIR = "examples"
BLOCK_STORE_DIR = "block_store"
QUARANTINE_DIR = "quarantine"
QUARANTINE_FILES = "quarantine/quarantine-*-of-*.jsonl"  # one JSONL file per shard; read them all
STATS_JSON = "stats.json"
STATS_MARKDOWN = "stats.md"
_OUTPUTS = (BLOCKS_DIR, EXAMPLES_DIR, BLOCK_STORE_DIR, QUARANTINE_DIR, STATS_JSON, STATS_MARKDOWN)
# What a run that failed validation keeps: the statistics and the pages it could not parse, which say why.
_DIAGNOSTICS = (QUARANTINE_DIR, STATS_JSON, STATS_MARKDOWN)
# A shard writer holds its whole shard. English Wikipedia packs ~600 blocks per MB of bz2 dump (the article-dense
# sample ~1,300), ~3.8 KB per block dict and ~12 KB of sentence examples per block: 32 MiB of input per shard is
# ~20k blocks, ~80 MB in the block writer and ~250 MB in the example writer; ~650 shards for the 22 GB full dump.
BYTES_PER_SHARD = 32 * 2**20


class PreprocessError(RealmError):
    """The input cannot be preprocessed, or the result fails validation; the message says which and why."""


@dataclasses.dataclass
class PreprocessOptions:
    input_pattern: str  # a file, a comma-separated list, or a glob (gs://... works with the GCP extra)
    output_dir: str
    num_shards: int | None = None  # None: auto_num_shards(total compressed input bytes, bytes_per_shard)
    bytes_per_shard: int = BYTES_PER_SHARD
    pages_per_batch: int = 32
    vocab_file: str | None = None  # default: the BERT uncased vocabulary of the MiniLM wheel
    span_finder: str | None = None  # "package.module:function" NER hook, called per sentence
    sentence_splitter: str | None = None  # "package.module:function": text -> [(start, end)]; default: by rule
    process: ProcessConfig = dataclasses.field(default_factory=ProcessConfig)
    overwrite: bool = False
    max_quarantine_fraction: float = 0.5  # more than this share of pages unparseable means the input is not a dump


def shard_of(doc_uid: str, num_shards: int) -> int:
    return int(doc_uid[:8], 16) % num_shards


def quarantine_shard_of(record: dict, num_shards: int) -> int:
    """A broken page has no document id; its place in the dump is just as stable from run to run."""
    where = hashlib.sha1(f"{record['source']}\0{record['offset']}".encode()).hexdigest()
    return shard_of(where, num_shards)


def shard_name(kind: str, shard: int, num_shards: int, suffix: str = "tfrecord") -> str:
    return f"{kind}-{shard:05d}-of-{num_shards:05d}.{suffix}"


def auto_num_shards(total_compressed_bytes: int, bytes_per_shard: int = BYTES_PER_SHARD) -> int:
    """Shards for an input of this size: each writer sorts one shard in memory, so shards must grow with input."""
    if bytes_per_shard < 1:
        raise PreprocessError(f"bytes per shard must be at least 1, got {bytes_per_shard}")
    return max(1, -(-total_compressed_bytes // bytes_per_shard))


# ----------------------------------------------------------------------------------------------- inputs
def match_inputs(pattern: str) -> list[tuple[str, int]]:
    """(path, compressed size) of every input file, sorted by path; a pattern matching nothing is an error."""
    found: dict[str, int] = {}
    for part in [p.strip() for p in pattern.split(",") if p.strip()]:
        try:
            results = FileSystems.match([part])[0].metadata_list
        except Exception as exc:
            raise PreprocessError(f"cannot list input {part!r}: {exc}") from exc
        if not results:
            raise PreprocessError(f"no input file matches {part!r}")
        for meta in results:
            found[meta.path] = meta.size_in_bytes
    if not found:
        raise PreprocessError(f"no input file matches {pattern!r}")
    return sorted(found.items())


# ------------------------------------------------------------------------------------------------ DoFns
def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s"
        if seconds >= 3600
        else (f"{seconds // 60}m{seconds % 60:02d}s")
    )


class ReadPagesFn(beam.DoFn):
    """One dump file -> its raw `<page>` elements, logging pages/s, share of the file read and ETA."""

    def __init__(self, log_every_seconds: float = 15.0):
        self.log_every_seconds = log_every_seconds

    def process(self, element: tuple[str, int]) -> Iterable:
        from realm.data.pages import DumpReader

        path, size = element
        reader = DumpReader(path)
        started = last_log = time.monotonic()
        pages = 0
        for raw in reader:
            pages += 1
            yield raw
            now = time.monotonic()
            if now - last_log >= self.log_every_seconds:
                last_log = now
                self._log(path, size, pages, now - started, reader.compressed_position())
        logger.info(
            "read %s: %d pages in %s (%.0f pages/s)",
            path,
            pages,
            _duration(time.monotonic() - started),
            pages / max(time.monotonic() - started, 1e-9),
        )

    @staticmethod
    def _log(path: str, size: int, pages: int, elapsed: float, position: int | None) -> None:
        rate = pages / max(elapsed, 1e-9)
        if position and size:
            fraction = min(position / size, 1.0)
            eta = elapsed * (1 - fraction) / max(fraction, 1e-9)
            logger.info(
                "reading %s: %d pages, %.0f pages/s, %.1f%% of %.1f MB, ETA %s",
                path,
                pages,
                rate,
                100 * fraction,
                size / 1e6,
                _duration(eta),
            )
        else:
            logger.info("reading %s: %d pages, %.0f pages/s", path, pages, rate)


class ProcessPagesFn(beam.DoFn):
    """A batch of raw pages -> blocks (main output), examples, quarantine records and a statistics counter."""

    def __init__(self, options: PreprocessOptions):
        self.vocab_file = options.vocab_file
        self.span_finder = options.span_finder
        self.sentence_splitter = options.sentence_splitter
        self.config = options.process

    def setup(self) -> None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        from realm.data.process import PageProcessor
        from realm.data.spans import load_callable, load_span_finder
        from realm.tokenization import RealmTokenizer

        tokenizer = RealmTokenizer(self.vocab_file) if self.vocab_file else RealmTokenizer.from_default_vocab()
        self.processor = PageProcessor(
            tokenizer,
            self.config,
            load_span_finder(self.span_finder),
            load_callable(self.sentence_splitter, "sentence splitter"),
        )
        self.pages = 0
        self.started = self.last_log = time.monotonic()

    def process(self, raw_pages: Sequence) -> Iterable:
        blocks, examples, quarantine, stats = self.processor.process(list(raw_pages))
        yield from blocks
        for example in examples:
            yield beam.pvalue.TaggedOutput("examples", example)
        for record in quarantine:
            yield beam.pvalue.TaggedOutput("quarantine", record)
        yield beam.pvalue.TaggedOutput("stats", dict(stats))
        self.pages += len(raw_pages)
        now = time.monotonic()
        if now - self.last_log >= 30:
            self.last_log = now
            logger.info(
                "worker %d processed %d pages (%.0f pages/s)",
                os.getpid(),
                self.pages,
                self.pages / max(now - self.started, 1e-9),
            )


class SumCounters(beam.CombineFn):
    def create_accumulator(self) -> collections.Counter:
        return collections.Counter()

    def add_input(self, accumulator, element):
        accumulator.update(element)
        return accumulator

    def merge_accumulators(self, accumulators):
        total: collections.Counter = collections.Counter()
        for accumulator in accumulators:
            total.update(accumulator)
        return total

    def extract_output(self, accumulator) -> dict:
        return dict(accumulator)


def _atomic_write(path: str, write) -> None:
    """Write through a temporary name and rename, so a retried bundle never leaves a half-written file."""
    import tensorflow as tf

    tf.io.gfile.makedirs(os.path.dirname(path))
    temporary = f"{path}.tmp-{os.getpid()}"
    write(temporary)
    tf.io.gfile.rename(temporary, path, overwrite=True)


def _write_tfrecords(path: str, records: Iterable[bytes]) -> None:
    import tensorflow as tf

    def write(target: str) -> None:
        with tf.io.TFRecordWriter(target) as writer:
            for record in records:
                writer.write(record)

    _atomic_write(path, write)


class WriteBlockShardFn(beam.DoFn):
    """(shard, grouped blocks) -> the shard's TFRecord file and Arrow block-store file."""

    def __init__(self, output_dir: str, num_shards: int):
        self.output_dir = output_dir
        self.num_shards = num_shards

    def process(self, element, counts: dict[int, int]) -> Iterable[int]:
        import pyarrow as pa
        import tensorflow as tf

        from realm.data import block_store
        from realm.data.records import block_example

        shard, grouped = element
        blocks = sorted(grouped["blocks"], key=lambda b: (b["doc_uid"], b["block_index"], b["title"], b["text"]))
        first_id = sum(counts.get(s, 0) for s in range(shard))
        _write_tfrecords(
            os.path.join(self.output_dir, BLOCKS_DIR, shard_name("blocks", shard, self.num_shards)),
            (block_example(b, first_id + row) for row, b in enumerate(blocks)),
        )
        table = block_store.blocks_to_table(blocks, first_id)

        def write_arrow(target: str) -> None:
            buffer = pa.BufferOutputStream()  # pyarrow cannot write into a GFile; the shard fits in memory anyway
            block_store.write_shard(buffer, table)
            with tf.io.gfile.GFile(target, "wb") as sink:
                sink.write(buffer.getvalue().to_pybytes())

        _atomic_write(os.path.join(self.output_dir, BLOCK_STORE_DIR, block_store.shard_file_name(shard)), write_arrow)
        yield len(blocks)


class WriteExampleShardFn(beam.DoFn):
    def __init__(self, output_dir: str, num_shards: int):
        self.output_dir = output_dir
        self.num_shards = num_shards

    def process(self, element) -> Iterable[int]:
        from realm.data.records import pretraining_example

        shard, grouped = element
        examples = sorted(grouped["examples"], key=lambda e: (e["doc_uid"], e["sentence_index"], e["title"]))
        _write_tfrecords(
            os.path.join(self.output_dir, EXAMPLES_DIR, shard_name("examples", shard, self.num_shards)),
            (pretraining_example(e) for e in examples),
        )
        yield len(examples)


def _write_text(path: str, text: str) -> None:
    import tensorflow as tf

    def write(target: str) -> None:
        with tf.io.gfile.GFile(target, "w") as f:
            f.write(text)

    _atomic_write(path, write)


def write_block_store_index(_, output_dir: str, num_shards: int, counts: dict[int, int]) -> None:
    from realm.data import block_store

    document = block_store.index_document([counts.get(s, 0) for s in range(num_shards)])
    _write_text(os.path.join(output_dir, BLOCK_STORE_DIR, block_store.INDEX_FILE), json.dumps(document, indent=1))


class WriteQuarantineShardFn(beam.DoFn):
    """(shard, grouped quarantine records) -> one JSONL file, sorted by file and offset; empty shards too.

    Records carry the raw page, so a badly broken dump has a large quarantine: it is sharded like the blocks
    instead of being collected by one worker.
    """

    def __init__(self, output_dir: str, num_shards: int):
        self.output_dir = output_dir
        self.num_shards = num_shards

    def process(self, element) -> Iterable[int]:
        import tensorflow as tf

        shard, grouped = element
        records = sorted(grouped["quarantine"], key=lambda r: (r["source"], r["offset"]))

        def write(target: str) -> None:
            with tf.io.gfile.GFile(target, "w") as sink:
                sink.write("")  # GFile creates the file on the first write, and an empty shard must exist too
                for record in records:
                    sink.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")

        name = shard_name("quarantine", shard, self.num_shards, suffix="jsonl")
        _atomic_write(os.path.join(self.output_dir, QUARANTINE_DIR, name), write)
        yield len(records)


# --------------------------------------------------------------------------------------------- statistics
def nest_stats(flat: dict[str, int], inputs: list[tuple[str, int]], num_shards: int) -> dict:
    """Flat counter keys like `skipped.redirect` -> a nested, key-sorted document."""
    nested: dict = {}
    for key, value in sorted(flat.items()):
        head, _, tail = key.partition(".")
        if tail:
            nested.setdefault(head, {})[tail] = int(value)
        else:
            nested[head] = int(value)
    bins = nested.pop("block_length_histogram", {})
    nested["block_length_histogram"] = [
        {"min_tokens": int(low), "max_tokens": int(high), "blocks": count}
        for (low, high), count in sorted((tuple(map(int, key.split("-"))), count) for key, count in bins.items())
    ]
    for key in ("pages_read", "quarantined", "articles", "sentences", "blocks", "block_tokens", "examples"):
        nested.setdefault(key, 0)
    nested.setdefault("skipped", {})
    nested.setdefault("spans", {})
    nested["spans_total"] = sum(nested["spans"].values())
    nested["mean_block_tokens"] = round(nested["block_tokens"] / nested["blocks"], 2) if nested["blocks"] else 0.0
    nested["inputs"] = [{"path": path, "compressed_bytes": size} for path, size in inputs]
    nested["num_shards"] = num_shards
    return nested


def stats_markdown(stats: dict) -> str:
    skipped = ", ".join(f"{k} {v:,}" for k, v in stats["skipped"].items()) or "none"
    spans = ", ".join(f"{k} {v:,}" for k, v in stats["spans"].items()) or "none"
    lines = [
        "# Corpus preprocessing",
        "",
        "| | |",
        "|---|---|",
        f"| inputs | {', '.join(os.path.basename(i['path']) for i in stats['inputs'])} |",
        f"| pages read | {stats['pages_read']:,} |",
        f"| skipped | {skipped} |",
        f"| quarantined (failures) | {stats['quarantined']:,} |",
        f"| articles | {stats['articles']:,} |",
        f"| sentences | {stats['sentences']:,} |",
        f"| blocks | {stats['blocks']:,} (mean {stats['mean_block_tokens']} wordpieces) |",
        f"| wordpieces in blocks | {stats['block_tokens']:,} |",
        f"| pre-training examples | {stats['examples']:,} |",
        f"| salient spans | {stats['spans_total']:,} ({spans}) |",
        "",
        "Block length histogram (wordpieces: blocks):",
        "",
    ]
    lines += [f"- {b['min_tokens']}-{b['max_tokens']}: {b['blocks']:,}" for b in stats["block_length_histogram"]]
    return "\n".join(lines) + "\n"


def write_stats(flat: dict[str, int], output_dir: str, inputs: list[tuple[str, int]], num_shards: int) -> None:
    stats = nest_stats(flat, inputs, num_shards)
    _write_text(os.path.join(output_dir, STATS_JSON), json.dumps(stats, indent=1, sort_keys=True) + "\n")
    _write_text(os.path.join(output_dir, STATS_MARKDOWN), stats_markdown(stats))


def validate_stats(stats: dict, options: PreprocessOptions) -> None:
    """Fail the run, with the reason, on an empty or absurd corpus (the outputs stay for inspection)."""
    inputs = ", ".join(i["path"] for i in stats["inputs"])
    where = f"(see {os.path.join(options.output_dir, STATS_MARKDOWN)})"
    if stats["pages_read"] == 0:
        raise PreprocessError(f"the corpus is empty: no <page> element in {inputs}")
    if stats["quarantined"] > options.max_quarantine_fraction * stats["pages_read"]:
        raise PreprocessError(
            f"{stats['quarantined']} of {stats['pages_read']} pages could not be parsed: is {inputs} a MediaWiki "
            f"pages-articles dump? The pages and reasons are in {os.path.join(options.output_dir, QUARANTINE_FILES)}"
        )
    if stats["blocks"] == 0:
        raise PreprocessError(f"no blocks: none of the {stats['pages_read']} pages is a usable article {where}")
    if stats["spans_total"] == 0 or stats["examples"] == 0:
        raise PreprocessError(f"no salient spans found in {stats['sentences']} sentences {where}")


# ------------------------------------------------------------------------------------------------ pipeline
def build_pipeline(pipeline: beam.Pipeline, inputs: list[tuple[str, int]], options: PreprocessOptions) -> None:
    """The whole run as Beam transforms; `options.num_shards` is resolved (`resolve_num_shards`) beforehand."""
    if options.num_shards is None:
        raise PreprocessError("build_pipeline needs a shard count: resolve it with resolve_num_shards first")
    out, shards = options.output_dir, options.num_shards
    processed = (
        pipeline
        | "ListFiles" >> beam.Create(inputs)
        | "SpreadFiles" >> beam.Reshuffle()
        | "ReadPages" >> beam.ParDo(ReadPagesFn())
        | "SpreadPages" >> beam.Reshuffle()
        | "BatchPages"
        >> beam.BatchElements(min_batch_size=options.pages_per_batch, max_batch_size=options.pages_per_batch)
        | "ProcessPages"
        >> beam.ParDo(ProcessPagesFn(options)).with_outputs("examples", "quarantine", "stats", main="blocks")
    )
    every_shard = pipeline | "ShardIds" >> beam.Create([(s, None) for s in range(shards)])

    keyed_blocks = processed.blocks | "KeyBlocks" >> beam.Map(lambda b: (shard_of(b["doc_uid"], shards), b))
    counts = keyed_blocks | "CountBlocks" >> beam.combiners.Count.PerKey()
    (
        {"blocks": keyed_blocks, "shard": every_shard}
        | "GroupBlocks" >> beam.CoGroupByKey()
        | "WriteBlocks" >> beam.ParDo(WriteBlockShardFn(out, shards), counts=beam.pvalue.AsDict(counts))
    )
    (
        pipeline
        | "Once" >> beam.Create([None])
        | "WriteBlockIndex"
        >> beam.Map(write_block_store_index, output_dir=out, num_shards=shards, counts=beam.pvalue.AsDict(counts))
    )

    keyed_examples = processed.examples | "KeyExamples" >> beam.Map(lambda e: (shard_of(e["doc_uid"], shards), e))
    (
        {"examples": keyed_examples, "shard": every_shard}
        | "GroupExamples" >> beam.CoGroupByKey()
        | "WriteExamples" >> beam.ParDo(WriteExampleShardFn(out, shards))
    )

    keyed_quarantine = processed.quarantine | "KeyQuarantine" >> beam.Map(lambda r: (quarantine_shard_of(r, shards), r))
    (
        {"quarantine": keyed_quarantine, "shard": every_shard}
        | "GroupQuarantine" >> beam.CoGroupByKey()
        | "WriteQuarantine" >> beam.ParDo(WriteQuarantineShardFn(out, shards))
    )
    (
        processed.stats
        | "SumStats" >> beam.CombineGlobally(SumCounters())
        | "WriteStats" >> beam.Map(write_stats, output_dir=out, inputs=inputs, num_shards=shards)
    )


def _pipeline(beam_args: Sequence[str]) -> beam.Pipeline:
    from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

    options = PipelineOptions(list(beam_args))
    if options.view_as(StandardOptions).runner:
        return beam.Pipeline(options=options)
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    direct = options.view_as(DirectOptions)
    if not any(a.startswith("--direct_num_workers") for a in beam_args):
        direct.direct_num_workers = os.cpu_count() or 1
    if not any(a.startswith("--direct_running_mode") for a in beam_args):
        direct.direct_running_mode = "multi_processing" if direct.direct_num_workers > 1 else "in_memory"
    return beam.Pipeline(runner=FnApiRunner(provision_info=_quiet_workers()), options=options)


def _quiet_workers():
    """Worker processes log at WARNING except for this package, so the progress lines are not buried.

    FnApiRunner hands its worker subprocesses only the options in its provision info (not the pipeline's),
    so the log levels travel there.
    """
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner.fn_runner import ExtendedProvisionInfo
    from google.protobuf import struct_pb2

    options = struct_pb2.Struct()
    options.update({"default_sdk_harness_log_level": "WARNING", "sdk_harness_log_level_overrides": {"realm": "INFO"}})
    return ExtendedProvisionInfo(beam_provision_api_pb2.ProvisionInfo(pipeline_options=options))


def _prepare_output(options: PreprocessOptions) -> None:
    import tensorflow as tf

    existing = [name for name in _OUTPUTS if tf.io.gfile.exists(os.path.join(options.output_dir, name))]
    if existing and set(existing) <= set(_DIAGNOSTICS):  # all a failed run leaves: replaced without --overwrite
        options = dataclasses.replace(options, overwrite=True)
    if existing and not options.overwrite:
        raise PreprocessError(
            f"{options.output_dir} already holds preprocessing outputs ({', '.join(existing)}); "
            "pass --overwrite to replace them or choose another --out"
        )
    for name in existing:
        path = os.path.join(options.output_dir, name)
        if tf.io.gfile.isdir(path):
            tf.io.gfile.rmtree(path)
        else:
            tf.io.gfile.remove(path)
    tf.io.gfile.makedirs(options.output_dir)


def _remove_outputs(options: PreprocessOptions, keep: tuple[str, ...] = ()) -> None:
    """Take back what a failed run wrote, so the next run needs no --overwrite (nothing else in --out is touched;
    a kept quarantine is replaced by the next run without asking)."""
    import tensorflow as tf

    for name in (n for n in _OUTPUTS if n not in keep):
        path = os.path.join(options.output_dir, name)
        if tf.io.gfile.isdir(path):
            tf.io.gfile.rmtree(path)
        elif tf.io.gfile.exists(path):
            tf.io.gfile.remove(path)
    with contextlib.suppress(OSError, tf.errors.OpError):
        if not tf.io.gfile.listdir(options.output_dir):
            tf.io.gfile.rmtree(options.output_dir)  # an output directory this run made, left empty


def _failure_reason(exc: BaseException) -> str:
    """The message of our own error when a worker raised one, instead of the runner's wrapped traceback."""
    text = str(exc)
    for marker in ("DumpReadError: ",):
        if marker in text:
            reason = text.rsplit(marker, 1)[1].splitlines()[0]
            return re.sub(r"\s*\[while running '[^']*'\]\s*$", "", reason).strip(" '\"[]")
    return ""


def resolve_num_shards(options: PreprocessOptions, inputs: list[tuple[str, int]]) -> PreprocessOptions:
    """The options with an explicit shard count: the given one, or one per `bytes_per_shard` of input."""
    if options.num_shards is not None:
        return options
    total = sum(size for _, size in inputs)
    return dataclasses.replace(options, num_shards=auto_num_shards(total, options.bytes_per_shard))


def check_beam_args(beam_args: Sequence[str]) -> None:
    """Refuse an argument no Beam pipeline option knows, before any work: Beam itself only logs "Discarding
    unparseable args" and runs, so a mistyped flag (`--blok-max-tokens`) would be silently ignored."""
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    parser = _BeamArgumentParser(allow_abbrev=False)
    for options_class in {str(c): c for c in PipelineOptions.__subclasses__()}.values():  # as Beam parses them
        options_class._add_argparse_args(parser)
    _, unknown = parser.parse_known_args(list(beam_args))
    flags = [arg for arg in unknown if arg.startswith("-")]
    if flags:
        raise PreprocessError(
            f"unknown option(s) {' '.join(flags)}: neither a `realm preprocess` flag nor a Beam pipeline option "
            "(`realm preprocess --help`; Beam's are e.g. --runner, --direct_num_workers, --project)"
        )


def run_preprocess(options: PreprocessOptions, beam_args: Sequence[str] = ()) -> dict:
    """Run the pipeline to completion, validate it and return the statistics document."""
    import tensorflow as tf

    from realm.data.pages import DumpReadError

    if options.num_shards is not None and options.num_shards < 1:
        raise PreprocessError(f"--num-shards must be at least 1, got {options.num_shards}")
    check_beam_args(beam_args)
    from realm.data.spans import load_callable

    for spec, what in ((options.span_finder, "span finder"), (options.sentence_splitter, "sentence splitter")):
        try:
            load_callable(spec, what)  # fail here, not in every worker
        except (ImportError, AttributeError, ValueError) as exc:
            raise PreprocessError(f"cannot load the {what} {spec!r}: {exc}") from exc
    inputs = match_inputs(options.input_pattern)
    options = resolve_num_shards(options, inputs)
    _prepare_output(options)
    total = sum(size for _, size in inputs)
    logger.info(
        "preprocessing %d file(s), %.1f MB -> %s in %d shards",
        len(inputs),
        total / 1e6,
        options.output_dir,
        options.num_shards,
    )
    started = time.monotonic()
    pipeline = _pipeline(beam_args)
    build_pipeline(pipeline, inputs, options)
    try:
        pipeline.run().wait_until_finish()
    except Exception as exc:
        _remove_outputs(options)  # half-written shards are no corpus, and would force --overwrite next time
        reason = _failure_reason(exc)
        if reason:
            raise DumpReadError(reason) from exc
        raise
    with tf.io.gfile.GFile(os.path.join(options.output_dir, STATS_JSON)) as f:
        stats = json.load(f)
    try:
        validate_stats(stats, options)
    except PreprocessError:
        _remove_outputs(options, keep=_DIAGNOSTICS)  # why it failed stays to be looked at
        raise
    logger.info(
        "preprocessed %d pages into %d blocks and %d examples in %s; outputs in %s",
        stats["pages_read"],
        stats["blocks"],
        stats["examples"],
        _duration(time.monotonic() - started),
        options.output_dir,
    )
    return stats
