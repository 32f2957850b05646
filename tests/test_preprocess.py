"""`realm preprocess` on the real Wikipedia sample and on every kind of bad input the issue names."""

from __future__ import annotations

import bz2
import collections
import glob
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from realm.cli import main as realm_main
from realm.data.block_store import BlockStore, BlockStoreError
from realm.data.examples import read_blocks, read_pretraining_examples
from realm.data.pages import DumpReadError, iter_raw_pages, parse_page
from realm.data.preprocess import (
    BYTES_PER_SHARD,
    PreprocessError,
    PreprocessOptions,
    auto_num_shards,
    quarantine_shard_of,
    run_preprocess,
)
from realm.resources import sample_wikipedia_dump
from realm.tokenization import RealmTokenizer

SINGLE_WORKER = ["--direct_num_workers=1"]  # in-process: the small inputs below do not need two workers


@pytest.fixture(scope="module")
def tokenizer() -> RealmTokenizer:
    return RealmTokenizer.from_default_vocab()


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory) -> tuple[str, dict]:
    """The sample dump through the default local runner (two worker processes on this machine)."""
    out = str(tmp_path_factory.mktemp("sample"))
    stats = run_preprocess(PreprocessOptions(sample_wikipedia_dump(), out, num_shards=3))
    return out, stats


@pytest.fixture(scope="module")
def sample_blocks(sample_run) -> list[dict]:
    return [
        {k: (v.numpy() if hasattr(v, "numpy") else v) for k, v in record.items()}
        for record in read_blocks(sample_run[0])
    ]


@pytest.fixture(scope="module")
def sample_examples(sample_run) -> list[dict]:
    return list(read_pretraining_examples(sample_run[0]).as_numpy_iterator())


def _decode(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


# ----------------------------------------------------------------------------------------- the real sample
def test_sample_statistics_count_every_page(sample_run):
    _, stats = sample_run
    pages = stats["pages_read"]
    assert pages == 206
    assert pages == stats["articles"] + sum(stats["skipped"].values()) + stats["quarantined"]
    assert stats["skipped"]["redirect"] > 50 and stats["skipped"]["disambiguation"] > 0
    assert stats["blocks"] > 1000 and stats["examples"] > 1000
    assert stats["spans"]["link"] > 1000 and stats["spans"]["date"] > 100
    assert sum(b["blocks"] for b in stats["block_length_histogram"]) == stats["blocks"]
    with open(os.path.join(sample_run[0], "stats.md")) as f:
        assert f"| blocks | {stats['blocks']:,}" in f.read()


def test_blocks_fit_and_start_with_their_title(sample_blocks, tokenizer):
    titles = sorted({_decode(b["title"]) for b in sample_blocks})
    title_ids = dict(zip(titles, tokenizer.tokenize(titles).to_list(), strict=True))
    for block in sample_blocks:
        ids = block["token_ids"].tolist()
        title = title_ids[_decode(block["title"])]
        assert len(ids) <= 288
        assert ids[: len(title) + 2] == [tokenizer.cls_id, *title, tokenizer.sep_id]
        assert ids[-1] == tokenizer.sep_id and block["title_length"] == len(title)


def test_block_token_ids_are_the_tokenized_block_text(sample_blocks, tokenizer):
    chosen = sample_blocks[::7]
    bodies = tokenizer.tokenize([_decode(b["text"]) for b in chosen]).to_list()
    for block, body in zip(chosen, bodies, strict=True):
        assert block["token_ids"][block["title_length"] + 2 : -1].tolist() == body


def test_no_wiki_markup_left_in_blocks(sample_blocks):
    markup = re.compile(r"\[\[|\]\]|\{\{|\}\}|<ref|\{\||\|\}|<!--")
    leftovers = [(_decode(b["title"]), _decode(b["text"])) for b in sample_blocks if markup.search(_decode(b["text"]))]
    assert leftovers == []


def test_redirect_pages_are_absent(sample_blocks):
    redirects = set()
    for raw in iter_raw_pages(sample_wikipedia_dump()):
        page = parse_page(raw)
        if page.redirect:
            redirects.add(page.title)
    assert len(redirects) > 50
    assert not redirects & {_decode(b["title"]) for b in sample_blocks}


def test_abraham_lincoln_blocks_and_spans(sample_blocks, sample_examples):
    lincoln = [b for b in sample_blocks if _decode(b["title"]) == "Abraham Lincoln"]
    assert len(lincoln) > 20
    assert [b["block_index"] for b in lincoln] == list(range(len(lincoln)))
    assert any("Kentucky" in _decode(b["text"]) for b in lincoln)
    spans = [
        (_decode(e["text"])[s:t], _decode(kind))
        for e in sample_examples
        if _decode(e["title"]) == "Abraham Lincoln"
        for s, t, kind in zip(e["span_char_starts"], e["span_char_ends"], e["span_kinds"], strict=True)
    ]
    assert ("John Wilkes Booth", "link") in spans
    assert any(kind == "date" and re.fullmatch(r"\d{4}", text) for text, kind in spans)
    assert any(kind == "date" and re.search(r"[A-Z][a-z]+ \d{1,2}, \d{4}", text) for text, kind in spans)


def test_example_spans_agree_in_characters_and_wordpieces(sample_examples, tokenizer):
    vocab = tokenizer._vocab_list
    for example in sample_examples[::25]:
        text = _decode(example["text"])
        assert example["token_ids"].tolist() == tokenizer.tokenize([text]).to_list()[0]
        for s, e, cs, ce in zip(
            example["span_starts"],
            example["span_ends"],
            example["span_char_starts"],
            example["span_char_ends"],
            strict=True,
        ):
            pieces = "".join(vocab[i].removeprefix("##") for i in example["token_ids"][s : e + 1])
            span_text = re.sub(r"\s+", "", text[cs:ce]).lower()
            # The uncased tokenizer strips accents: compare on ASCII letters and digits only.
            assert re.sub(r"[^a-z0-9]", "", pieces) == re.sub(r"[^a-z0-9]", "", span_text) or not span_text.isascii()


def test_block_store_matches_the_tfrecords(sample_run, sample_blocks):
    store = BlockStore.open(sample_run[0])
    assert len(store) == len(sample_blocks)
    ids = np.array([b["block_id"] for b in sample_blocks])
    assert sorted(ids.tolist()) == list(range(len(store)))
    picked = np.concatenate([ids[::97], ids[[np.argmin([len(b["token_ids"]) for b in sample_blocks])]]])
    by_id = {b["block_id"]: b for b in sample_blocks}
    assert store.titles(picked) == [_decode(by_id[i]["title"]) for i in picked]
    assert store.doc_uids(picked) == [_decode(by_id[i]["doc_uid"]) for i in picked]
    assert store.block_indices(picked).tolist() == [by_id[i]["block_index"] for i in picked]
    docs = store.doc_uids(picked)
    assert store.find_blocks(docs, store.block_indices(picked)).tolist() == picked.tolist()
    assert store.find_blocks([docs[0], "no-such-article"], [10_000, 0]).tolist() == [-1, -1]
    input_ids, mask, types = store.padded_token_ids(picked, 64)
    for row, block_id in enumerate(picked):
        tokens = by_id[block_id]["token_ids"].tolist()
        expected = tokens if len(tokens) <= 64 else tokens[:63] + tokens[-1:]  # truncation keeps the final [SEP]
        assert input_ids[row].tolist() == expected + [0] * (64 - len(expected))
        assert mask[row].sum() == min(len(tokens), 64)
        assert types[row, : by_id[block_id]["title_length"] + 2].sum() == 0
        assert types[row].sum() == mask[row].sum() - by_id[block_id]["title_length"] - 2


def test_block_store_says_when_a_length_cuts_blocks(sample_run, sample_blocks):
    """Embedding or reading blocks at a length shorter than theirs hides their tails: the store says so."""
    store = BlockStore.open(sample_run[0])
    lengths = [len(b["token_ids"]) for b in sample_blocks]
    assert store.longest_block() == max(lengths) and store.truncation_warning(max(lengths)) is None
    warning = store.truncation_warning(128)
    cut = sum(length > 128 for length in lengths)
    assert 0 < cut < len(lengths)
    assert warning.startswith(f"{cut} of {len(lengths)} blocks are longer than 128 wordpieces (up to {max(lengths)})")
    assert "--block-max-tokens 128" in warning


def test_each_example_names_the_block_holding_its_sentence(sample_blocks, sample_examples):
    """The trivial retrieval pre-training drops: the sentence's wordpieces lie in that block of its article."""
    by_key = {(_decode(b["doc_uid"]), int(b["block_index"])): b["token_ids"].tolist() for b in sample_blocks}
    blocks_per_doc = collections.Counter(_decode(b["doc_uid"]) for b in sample_blocks)
    for example in sample_examples:
        own = example["block_indices"].tolist()
        assert own, "every example names at least one block"
        pieces = [by_key[(_decode(example["doc_uid"]), i)] for i in own]
        joined = " " + " ".join(str(t) for piece in pieces for t in piece) + " "
        if len(own) == 1:
            sentence = " " + " ".join(str(t) for t in example["token_ids"].tolist()) + " "
            assert sentence in joined
        assert all(0 <= i < blocks_per_doc[_decode(example["doc_uid"])] for i in own)


def test_block_store_of_an_older_version_asks_for_a_rerun(sample_run, tmp_path):
    copy = tmp_path / "block_store"
    shutil.copytree(os.path.join(sample_run[0], "block_store"), copy)
    index = json.loads((copy / "index.json").read_text())
    (copy / "index.json").write_text(json.dumps({**index, "version": 1}))
    with pytest.raises(BlockStoreError, match="re-run `realm preprocess`"):
        BlockStore.open(str(copy))


def test_outputs_are_byte_identical_across_runs_and_worker_counts(sample_run, tmp_path):
    first, _ = sample_run
    run_preprocess(PreprocessOptions(sample_wikipedia_dump(), str(tmp_path), num_shards=3), SINGLE_WORKER)
    _assert_same_bytes(first, str(tmp_path))


def _files(root) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, names in os.walk(root) for f in names)


def _assert_same_bytes(first, second) -> None:
    assert _files(first) == _files(second)
    for name in _files(first):
        with open(os.path.join(first, name), "rb") as a, open(os.path.join(second, name), "rb") as b:
            assert a.read() == b.read(), name


def test_default_shard_count_grows_with_the_input():
    sample_bytes = os.path.getsize(sample_wikipedia_dump())
    assert auto_num_shards(0) == auto_num_shards(sample_bytes) == 1
    assert auto_num_shards(BYTES_PER_SHARD) == 1 and auto_num_shards(BYTES_PER_SHARD + 1) == 2
    # The 22 GB English dump (~13M blocks) in shards of at most ~50k blocks each.
    assert auto_num_shards(22 * 10**9) >= 13_000_000 // 50_000
    assert auto_num_shards(1000, bytes_per_shard=334) == 3
    with pytest.raises(PreprocessError, match="bytes per shard"):
        auto_num_shards(1000, bytes_per_shard=0)


def test_existing_outputs_need_overwrite(sample_run):
    with pytest.raises(PreprocessError, match="--overwrite"):
        run_preprocess(PreprocessOptions(sample_wikipedia_dump(), sample_run[0]), SINGLE_WORKER)


# -------------------------------------------------------------------------------------------- bad input
ARTICLE = """<page>
    <title>Ada Lovelace</title>
    <ns>0</ns>
    <id>{page_id}</id>
    <revision>
      <id>1</id>
      <text xml:space="preserve">'''Ada Lovelace''' (10 December 1815 – 27 November 1852) was an English \
[[mathematician]] and writer.{{Infobox person|name=Ada}} She worked with [[Charles Babbage]] on the \
[[Analytical Engine]].<ref>A source.</ref>

== Legacy ==
In 1953 her notes were republished. The [[Ada (programming language)|Ada language]] is named after her.
</text>
    </revision>
  </page>
"""


def _dump(*pages: bytes) -> bytes:
    head = b'<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" xml:lang="en">\n  <siteinfo>\n  </siteinfo>\n'
    return head + b"".join(b"  " + p for p in pages) + b"</mediawiki>\n"


def _write(path, data: bytes, compress: bool = True) -> str:
    with open(path, "wb") as f:
        f.write(bz2.compress(data) if compress else data)
    return str(path)


def _run(tmp_path, dump_path: str, **kwargs) -> dict:
    return run_preprocess(PreprocessOptions(dump_path, str(tmp_path / "out"), num_shards=2, **kwargs), SINGLE_WORKER)


def _quarantine_shards(out) -> dict[str, list[dict]]:
    shards = {}
    for path in sorted(glob.glob(os.path.join(out, "quarantine", "quarantine-*-of-*.jsonl"))):
        with open(path) as f:
            shards[os.path.basename(path)] = [json.loads(line) for line in f]
    return shards


def _quarantine(tmp_path) -> list[dict]:
    return [record for records in _quarantine_shards(tmp_path / "out").values() for record in records]


def test_malformed_page_and_invalid_utf8_are_quarantined_with_reasons(tmp_path):
    broken_xml = b"<page>\n<title>Broken</title>\n<ns>0</ns>\n<id>7</id>\n<revision><text>never closed\n  </page>\n"
    bad_utf8 = ARTICLE.format(page_id=8).replace("Ada Lovelace", "Bad Bytes", 1).encode()
    bad_utf8 = bad_utf8.replace(b"writer", b"wr\xff\xfeiter")
    good = [ARTICLE.format(page_id=i).replace("Ada Lovelace", f"Ada {i}", 1).encode() for i in (1, 2, 3)]
    dump = _write(tmp_path / "dump.xml.bz2", _dump(good[0], broken_xml, good[1], bad_utf8, good[2]))
    stats = _run(tmp_path, dump)
    assert stats["pages_read"] == 5 and stats["quarantined"] == 2 and stats["articles"] == 3
    records = _quarantine(tmp_path)
    reasons = {r.get("title"): r["reason"] for r in records}
    assert "malformed XML" in reasons["Broken"]
    assert "invalid UTF-8" in reasons["Bad Bytes"]
    bad = next(r for r in records if r.get("title") == "Bad Bytes")
    assert b"wr\xff\xfeiter" in __import__("base64").b64decode(bad["raw_base64"])  # nothing lost
    assert all(r["source"] == dump and r["offset"] > 0 for r in records)


def test_quarantine_is_sharded_like_the_blocks_and_byte_identical(tmp_path):
    broken = [f"<page>\n<title>Broken {i}</title>\n<ns>0</ns>\n</page>\n".encode() for i in range(5)]
    good = [ARTICLE.format(page_id=i).replace("Ada Lovelace", f"Ada {i}", 1).encode() for i in range(6)]
    pages = [good[0]] + [page for pair in zip(broken, good[1:], strict=True) for page in pair]
    dump = _write(tmp_path / "dump.xml.bz2", _dump(*pages))
    size = os.path.getsize(dump)
    runs = []
    for name in ("a", "b"):
        out = str(tmp_path / name)  # the default shard count: one per bytes_per_shard of compressed input
        options = PreprocessOptions(dump, out, bytes_per_shard=size // 3 + 1)
        runs.append((out, run_preprocess(options, SINGLE_WORKER)))
    (out, stats), (again, _) = runs
    assert stats["num_shards"] == 3 and stats["quarantined"] == 5
    shards = _quarantine_shards(out)
    assert sorted(shards) == [f"quarantine-{s:05d}-of-00003.jsonl" for s in range(3)]
    assert sorted(r["title"] for records in shards.values() for r in records) == [f"Broken {i}" for i in range(5)]
    for name, records in shards.items():
        assert [(r["source"], r["offset"]) for r in records] == sorted((r["source"], r["offset"]) for r in records)
        assert all(f"quarantine-{quarantine_shard_of(r, 3):05d}-of-00003.jsonl" == name for r in records)
    assert len(os.listdir(os.path.join(out, "blocks"))) == len(os.listdir(os.path.join(out, "examples"))) == 3
    _assert_same_bytes(out, again)


def test_article_without_links_or_dates_fails_for_want_of_salient_spans(tmp_path):
    head, _, tail = ARTICLE.format(page_id=1).replace("Ada Lovelace", "Quiet Meadow", 1).partition("'''Ada")
    body = "'''Quiet Meadow''' is a small meadow beside a slow river. Sheep graze there in summer.\n"
    plain = head + body + tail[tail.index("</text>") :]
    with pytest.raises(PreprocessError, match="no salient spans"):
        _run(tmp_path, _write(tmp_path / "plain.xml.bz2", _dump(plain.encode())))
    with open(tmp_path / "out" / "stats.json") as f:
        stats = json.load(f)
    assert stats["articles"] == 1 and stats["blocks"] == 1 and stats["spans_total"] == 0


def lovelace_person_spans(sentence: str) -> list[tuple[int, int, str]]:
    """A stand-in NER model for the `--ner-hook` test: every "Lovelace" is a PERSON."""
    return [(m.start(), m.end(), "PERSON") for m in re.finditer(r"\bLovelace\b", sentence)]


def test_cli_runs_the_ner_hook_and_passes_beam_options_through(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1]))  # `tests.` importable under plain pytest
    dump = _write(tmp_path / "d.xml.bz2", _dump(ARTICLE.format(page_id=1).encode()))
    out = tmp_path / "out"
    hook = "tests.test_preprocess:lovelace_person_spans"
    argv = ["preprocess", "--input", dump, "--out", str(out), "--ner-hook", hook, "--direct_num_workers=1"]
    assert realm_main(argv) == 0
    with open(out / "stats.json") as f:
        stats = json.load(f)
    assert stats["spans"]["PERSON"] >= 1 and stats["spans"]["link"] >= 3
    spans = [
        (_decode(e["text"])[s:t], _decode(kind))
        for e in read_pretraining_examples(str(out)).as_numpy_iterator()
        for s, t, kind in zip(e["span_char_starts"], e["span_char_ends"], e["span_kinds"], strict=True)
    ]
    assert ("Lovelace", "PERSON") in spans


def test_cli_heads_blocks_with_lead_names_when_asked(tmp_path, tokenizer):
    # The bold "Ada Lovelace" of the lead is another name of the article "Lovelace".
    page = ARTICLE.format(page_id=1).replace("<title>Ada Lovelace</title>", "<title>Lovelace</title>")
    dump = _write(tmp_path / "d.xml.bz2", _dump(page.encode()))
    for flag, heading in (("--lead-names", "Lovelace (Ada Lovelace)"), ("--no-lead-names", "Lovelace")):
        out = tmp_path / flag
        assert realm_main(["preprocess", "--input", dump, "--out", str(out), flag, "--direct_num_workers=1"]) == 0
        with open(out / "stats.json") as f:
            assert json.load(f).get("articles_headed_with_lead_names", 0) == (flag == "--lead-names")
        store = BlockStore.open(str(out))
        expected = tokenizer.tokenize([heading]).flat_values.numpy().tolist()
        assert store.token_ids(0)[1 : 1 + len(expected) + 1].tolist() == [*expected, tokenizer.sep_id]
        assert store.titles([0]) == ["Lovelace"]


def test_unknown_namespace_is_skipped_and_counted(tmp_path):
    other = ARTICLE.format(page_id=2).replace("<ns>0</ns>", "<ns>9999</ns>").replace("Ada Lovelace", "Odd:Page", 1)
    stats = _run(tmp_path, _write(tmp_path / "d.xml.bz2", _dump(ARTICLE.format(page_id=1).encode(), other.encode())))
    assert stats["skipped"] == {"namespace": 1}
    assert stats["articles"] == 1 and stats["spans"]["link"] >= 3 and stats["spans"]["date"] >= 2
    store = BlockStore.open(str(tmp_path / "out"))
    assert store.titles(range(len(store))) == ["Ada Lovelace"] * len(store)


def test_plain_xml_input_is_read_too(tmp_path):
    stats = _run(tmp_path, _write(tmp_path / "d.xml", _dump(ARTICLE.format(page_id=1).encode()), compress=False))
    assert stats["articles"] == 1 and stats["blocks"] == 1


def test_truncated_bz2_fails_naming_file_and_offset(tmp_path):
    with open(sample_wikipedia_dump(), "rb") as f:
        data = f.read()
    truncated = _write(tmp_path / "cut.xml.bz2", data[: len(data) // 2], compress=False)
    with pytest.raises(DumpReadError) as err:
        _run(tmp_path, truncated)
    message = str(err.value)
    assert truncated in message and re.search(r"decompressed byte \d+", message), message


def test_empty_dump_fails_clearly(tmp_path):
    with pytest.raises(PreprocessError, match="corpus is empty"):
        _run(tmp_path, _write(tmp_path / "empty.xml.bz2", b""))


def test_dump_without_articles_fails_clearly(tmp_path):
    redirect = ARTICLE.format(page_id=3).replace("<ns>0</ns>", '<ns>0</ns>\n    <redirect title="Ada" />')
    with pytest.raises(PreprocessError, match="no blocks"):
        _run(tmp_path, _write(tmp_path / "r.xml.bz2", _dump(redirect.encode())))


def test_mostly_unparseable_input_fails_and_keeps_the_quarantine(tmp_path):
    junk = b"<page>\n<title>X</title>\n</page>\n"
    with pytest.raises(PreprocessError, match="could not be parsed"):
        _run(tmp_path, _write(tmp_path / "j.xml.bz2", _dump(ARTICLE.format(page_id=1).encode(), junk, junk, junk)))
    assert len(_quarantine(tmp_path)) == 3
    # Nothing half-made stays beside the diagnostics, and the next run needs no --overwrite.
    assert sorted(os.listdir(tmp_path / "out")) == ["quarantine", "stats.json", "stats.md"]
    stats = _run(tmp_path, _write(tmp_path / "ok.xml.bz2", _dump(ARTICLE.format(page_id=1).encode())))
    assert stats["blocks"] >= 1 and not _quarantine(tmp_path)


def test_missing_input_fails_clearly(tmp_path):
    with pytest.raises(PreprocessError, match="no input file matches"):
        _run(tmp_path, str(tmp_path / "nowhere" / "enwiki-*.xml.bz2"))
    assert not (tmp_path / "out").exists()


def test_glob_of_part_files_reads_them_all(tmp_path):
    for part in (1, 2):
        text = ARTICLE.format(page_id=part).replace("Ada Lovelace", f"Ada Lovelace {part}")
        _write(tmp_path / f"enwiki-pages-articles{part}.xml-p{part}.bz2", _dump(text.encode()))
    stats = _run(tmp_path, str(tmp_path / "enwiki-pages-articles*.bz2"))
    assert stats["articles"] == 2 and len(stats["inputs"]) == 2


def test_tf_data_reader_feeds_masking(sample_run):
    example = next(iter(read_pretraining_examples(sample_run[0])))
    assert example["token_ids"].dtype == tf.int64 and example["span_starts"].shape[0] >= 1
    assert example["doc_uid"].dtype == tf.string


def test_a_mistyped_flag_is_refused_before_anything_is_made(tmp_path, capsys):
    """Beam only logs the arguments it cannot parse and runs: a typo would be silently ignored."""
    out = tmp_path / "corpus"
    assert realm_main(["preprocess", "--out", str(out), "--blok-max-tokens", "64", "--direct_num_workers=1"]) == 2
    err = capsys.readouterr().err
    assert "unknown option(s) --blok-max-tokens: neither a `realm preprocess` flag nor a Beam pipeline option" in err
    assert not out.exists()


def test_a_truncated_dump_is_one_line_not_every_workers_traceback(tmp_path):
    """Beam's workers each log the traceback of a failed read (about 200 lines with two workers): the console
    gets the project's lines and one error line, pointing at the workers' log."""
    import subprocess
    import sys

    data = Path(sample_wikipedia_dump()).read_bytes()
    truncated = tmp_path / "truncated.xml.bz2"
    truncated.write_bytes(data[: len(data) // 2])
    command = [sys.executable, "-m", "realm.cli", "preprocess", "--input", str(truncated), "--out",
               str(tmp_path / "out"), "--direct_num_workers=2", "--direct_running_mode=multi_processing"]  # fmt: skip
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 2
    lines = [line for line in finished.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("realm preprocess: error: ") and "truncated.xml.bz2" in lines[-1], lines[-5:]
    assert "cannot be read past decompressed byte" in lines[-1] and "while running" not in lines[-1]
    assert "Traceback" not in finished.stderr and len(lines) <= 5, lines
    assert not (tmp_path / "out").exists()
