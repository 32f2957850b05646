"""Random access to the knowledge corpus by block id, the format the retriever, refresh sidecar and exporter read.

Layout of `<preprocess out>/block_store/` (written by `realm preprocess`):

- `index.json`: `{"format": "realm-block-store", "version": 2, "num_blocks": N, "shards": [{"file":
  "shard-00000.arrow", "first_block_id": 0, "num_blocks": n0}, ...]}`. Block ids are dense, 0..N-1, and shard
  `s` holds ids `first_block_id .. first_block_id + num_blocks - 1` in row order.
- `shard-SSSSS.arrow`: one Arrow IPC file per shard with columns `block_id` (int64), `doc_uid` (string),
  `block_index` (int32, position of the block in its article: with `doc_uid`, what names a pre-training
  example's trivial retrieval), `title` (string), `text` (string), `token_ids` (list<int32>:
  `[CLS] title [SEP] text [SEP]`, or `[CLS] title (other names) [SEP] ...` with `realm preprocess --lead-names`),
  `title_length` (int32, wordpieces before the first [SEP]: the title, or the title with its other names).

The files are memory-mapped: opening a 13M-block store costs no RAM up front and every process (trainer,
sidecar, exporter) shares the OS page cache. Arrow was chosen over numpy files because the titles and texts are
variable-length strings, and over indexed TFRecords because random access needs no per-record seek table.
"""

from __future__ import annotations

import bisect
import json
import os
from collections.abc import Iterator, Sequence

import numpy as np
import pyarrow as pa

from realm.errors import RealmError

FORMAT = "realm-block-store"
VERSION = 2  # 2 added `block_index`
INDEX_FILE = "index.json"
SCHEMA = pa.schema(
    [
        ("block_id", pa.int64()),
        ("doc_uid", pa.string()),
        ("block_index", pa.int32()),
        ("title", pa.string()),
        ("text", pa.string()),
        ("token_ids", pa.list_(pa.int32())),
        ("title_length", pa.int32()),
    ]
)


class BlockStoreError(RealmError):
    """The block store is missing, incomplete or not in the expected format."""


def shard_file_name(shard: int) -> str:
    return f"shard-{shard:05d}.arrow"


def blocks_to_table(blocks: Sequence[dict], first_block_id: int) -> pa.Table:
    """Rows in the given order, numbered from `first_block_id`."""
    return pa.table(
        {
            "block_id": pa.array(np.arange(first_block_id, first_block_id + len(blocks), dtype=np.int64)),
            "doc_uid": pa.array([b["doc_uid"] for b in blocks], pa.string()),
            "block_index": pa.array([int(b["block_index"]) for b in blocks], pa.int32()),
            "title": pa.array([b["title"] for b in blocks], pa.string()),
            "text": pa.array([b["text"] for b in blocks], pa.string()),
            "token_ids": pa.array([np.asarray(b["token_ids"], np.int32) for b in blocks], pa.list_(pa.int32())),
            "title_length": pa.array([int(b["title_length"]) for b in blocks], pa.int32()),
        },
        schema=SCHEMA,
    )


def write_shard(sink, table: pa.Table) -> None:
    """One record batch per shard, so the reader gets contiguous (zero-copy) columns."""
    with pa.ipc.new_file(sink, SCHEMA) as writer:
        writer.write_table(table.combine_chunks(), max_chunksize=max(table.num_rows, 1))


def index_document(shard_counts: Sequence[int]) -> dict:
    starts = np.concatenate([[0], np.cumsum(shard_counts)]).astype(int)
    return {
        "format": FORMAT,
        "version": VERSION,
        "num_blocks": int(starts[-1]),
        "shards": [
            {"file": shard_file_name(s), "first_block_id": int(starts[s]), "num_blocks": int(n)}
            for s, n in enumerate(shard_counts)
        ],
    }


class _Shard:
    def __init__(self, path: str, expected_rows: int):
        try:
            source = pa.memory_map(path, "r")
            table = pa.ipc.open_file(source).read_all().combine_chunks()
        except (OSError, pa.ArrowInvalid) as exc:
            raise BlockStoreError(f"{path}: cannot read block store shard ({exc})") from exc
        if table.num_rows != expected_rows:
            raise BlockStoreError(f"{path}: has {table.num_rows} blocks, index.json says {expected_rows}")
        self.table = table
        token_ids = table.column("token_ids").chunk(0) if table.num_rows else pa.array([], pa.list_(pa.int32()))
        self.offsets = token_ids.offsets.to_numpy()
        self.values = token_ids.values.to_numpy()
        self.title_length = table.column("title_length").to_numpy()
        self.block_index = table.column("block_index").to_numpy()
        self._strings: dict[str, pa.Array] = {}

    def strings(self, column: str) -> pa.Array:
        if column not in self._strings:
            self._strings[column] = self.table.column(column).combine_chunks()
        return self._strings[column]


class _ArrowStrings:
    """A sorted Arrow string column as a sequence of Python strings, for `bisect` (which reads O(log n) of them)."""

    def __init__(self, column: pa.Array):
        self.column = column

    def __len__(self) -> int:
        return len(self.column)

    def __getitem__(self, i: int) -> str:
        return self.column[i].as_py()


class BlockStore:
    """Read-only view of a block store directory; lookups are vectorised over arrays of block ids."""

    def __init__(self, directory: str):
        index_path = os.path.join(directory, INDEX_FILE)
        try:
            with open(index_path) as f:
                index = json.load(f)
        except FileNotFoundError:
            raise BlockStoreError(
                f"{directory}: no {INDEX_FILE}; point at the output directory of `realm preprocess` "
                "(or its block_store/ subdirectory)"
            ) from None
        if index.get("format") != FORMAT:
            raise BlockStoreError(f"{index_path}: not a {FORMAT} index")
        if index.get("version") != VERSION:
            raise BlockStoreError(
                f"{index_path}: block store version {index.get('version')}, this code reads version {VERSION}; "
                "re-run `realm preprocess` to rewrite the corpus"
            )
        self.directory = directory
        self.index = index
        self._shards = [_Shard(os.path.join(directory, s["file"]), s["num_blocks"]) for s in index["shards"]]
        self._starts = np.array([s["first_block_id"] for s in index["shards"]] + [index["num_blocks"]], np.int64)

    @classmethod
    def open(cls, path: str) -> BlockStore:
        """`path` is a block store directory or a `realm preprocess` output containing `block_store/`."""
        nested = os.path.join(path, "block_store")
        return cls(nested if os.path.isdir(nested) else path)

    def __len__(self) -> int:
        return int(self._starts[-1])

    # ------------------------------------------------------------------------------------------ lookups
    def _locate(self, block_ids) -> tuple[np.ndarray, np.ndarray]:
        ids = np.asarray(block_ids, np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            bad = ids[(ids < 0) | (ids >= len(self))][0]
            raise IndexError(f"block id {bad} is outside the store (0..{len(self) - 1})")
        shard = np.searchsorted(self._starts, ids, side="right") - 1
        return shard, ids - self._starts[shard]

    def _strings(self, column: str, block_ids) -> list[str]:
        shards, rows = self._locate(block_ids)
        out: list[str] = [""] * len(rows)
        for s in np.unique(shards):
            where = np.nonzero(shards == s)[0]
            values = self._shards[s].strings(column).take(pa.array(rows[where])).to_pylist()
            for position, value in zip(where, values, strict=True):
                out[position] = value
        return out

    def doc_uids(self, block_ids) -> list[str]:
        return self._strings("doc_uid", block_ids)

    def block_indices(self, block_ids) -> np.ndarray:
        """Each block's position within its article."""
        shards, rows = self._locate(block_ids)
        out = np.zeros(len(rows), np.int64)
        for s in np.unique(shards):
            where = shards == s
            out[where] = self._shards[s].block_index[rows[where]]
        return out

    def find_blocks(self, doc_uids, block_indices) -> np.ndarray:
        """Block ids of (doc_uid, block_index) pairs, -1 where the store has no such block.

        `realm preprocess` writes each shard sorted by (doc_uid, block_index), so a binary search per shard
        finds an article's blocks without an in-memory table of all ids (13M blocks for the full dump).
        """
        out = np.full(len(doc_uids), -1, np.int64)
        columns = [_ArrowStrings(shard.strings("doc_uid")) for shard in self._shards]
        for row, (doc, position) in enumerate(zip(doc_uids, block_indices, strict=True)):
            doc = doc.decode() if isinstance(doc, bytes) else doc
            for start, shard, sorted_docs in zip(self._starts, self._shards, columns, strict=False):
                column = sorted_docs.column
                first = bisect.bisect_left(sorted_docs, doc)
                candidate = first + int(position)
                if first < len(column) and column[first].as_py() == doc:
                    if candidate < len(column) and column[candidate].as_py() == doc:
                        if int(shard.block_index[candidate]) != int(position):
                            raise BlockStoreError(f"{self.directory}: blocks of {doc} are not stored in order")
                        out[row] = start + candidate
                    break
        return out

    def titles(self, block_ids) -> list[str]:
        return self._strings("title", block_ids)

    def texts(self, block_ids) -> list[str]:
        return self._strings("text", block_ids)

    def token_ids(self, block_id: int) -> np.ndarray:
        (shard,), (row,) = self._locate([block_id])
        part = self._shards[shard]
        return part.values[part.offsets[row] : part.offsets[row + 1]]

    def padded_token_ids(self, block_ids, max_length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(input_ids, attention_mask, token_type_ids), each [n, max_length] int32.

        Token type 1 starts after the title's [SEP]. A block longer than `max_length` keeps its first
        `max_length - 1` tokens and its final [SEP], as ORQA's candidate encoding does.
        """
        shards, rows = self._locate(block_ids)
        n = len(rows)
        input_ids = np.zeros((n, max_length), np.int32)
        mask = np.zeros((n, max_length), np.int32)
        types = np.zeros((n, max_length), np.int32)
        for i, (s, r) in enumerate(zip(shards, rows, strict=True)):
            part = self._shards[s]
            tokens = part.values[part.offsets[r] : part.offsets[r + 1]]
            if len(tokens) > max_length:
                tokens = np.concatenate([tokens[: max_length - 1], tokens[-1:]])
            length = len(tokens)
            input_ids[i, :length] = tokens
            mask[i, :length] = 1
            types[i, min(int(part.title_length[r]) + 2, length) : length] = 1
        return input_ids, mask, types

    def longest_block(self) -> int:
        """Wordpieces in the longest block: any sequence length at least this embeds every block whole."""
        return max((int(np.diff(part.offsets).max(initial=0)) for part in self._shards), default=0)

    def truncation_warning(self, max_length: int, flag: str = "--candidate-seq-len") -> str | None:
        """A sentence for the log when some blocks are longer than `max_length` wordpieces, else None.

        A block cut to its first `max_length` wordpieces is embedded (and read) without its tail, so sentences
        there are invisible to the retriever and the encoder while the corpus still counts them as its own.
        """
        longer = longest = 0
        for part in self._shards:
            lengths = np.diff(part.offsets)
            longer += int((lengths > max_length).sum())
            longest = max(longest, int(lengths.max(initial=0)))
        if not longer:
            return None
        return (
            f"{longer} of {len(self)} blocks are longer than {max_length} wordpieces (up to {longest}): only their "
            f"first {max_length} are seen. Raise {flag} to {longest}, or re-run `realm preprocess "
            f"--block-max-tokens {max_length}` for blocks that fit"
        )

    def iter_batches(
        self, batch_size: int, max_length: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """(block_ids, input_ids, attention_mask, token_type_ids) over the whole store in id order."""
        for start in range(0, len(self), batch_size):
            ids = np.arange(start, min(start + batch_size, len(self)), dtype=np.int64)
            yield (ids, *self.padded_token_ids(ids, max_length))
