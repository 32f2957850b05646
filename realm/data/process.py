"""Per-page work of `realm preprocess`, independent of Beam: filter, clean, split, tokenize, pack, find spans.

`PageProcessor.process(raw_pages)` handles a batch of raw `<page>` elements at once so that every title and
sentence of the batch goes through the TensorFlow tokenizer in a single call. It returns plain dicts (cheap to
pickle between Beam stages): blocks, pre-training examples, quarantine records and a counter of statistics.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import re
from collections.abc import Callable

import numpy as np

from realm.data.blocks import TokenizedText, blocks_of_sentences, document_uid, pack_blocks
from realm.data.lead_names import block_heading, lead_names
from realm.data.pages import MalformedPageError, Page, RawPage, parse_page
from realm.data.sentences import split_sentences
from realm.data.spans import SpanFinder, salient_spans
from realm.data.wikitext import clean_wikitext

SKIP_NAMESPACE = "namespace"
SKIP_REDIRECT = "redirect"
SKIP_LIST = "list_page"
SKIP_DISAMBIGUATION = "disambiguation"
SKIP_EMPTY = "empty"
SKIP_LONG_TITLE = "title_too_long"

_LIST_PREFIXES = ("List of", "Lists of", "Index of", "Outline of")
_DISAMBIGUATION_TEMPLATE = re.compile(
    r"\{\{\s*(?:disambiguation|disambig|dab|disamb|hndis|geodis|numberdis|letter-numbercombdisambig"
    r"|mathdab|shipindex|surname|given name|set index article|sia)\s*(?:\||\}\})",
    re.I,
)
_REDIRECT = re.compile(r"^\s*#redirect", re.I)
HISTOGRAM_BIN = 32


@dataclasses.dataclass(frozen=True)
class ProcessConfig:
    block_max_tokens: int = 288
    max_title_tokens: int = 64
    min_example_tokens: int = 4  # shorter "sentences" (captions, fragments) make no useful query
    # Every block headed `title (other names from the lead)` for the retriever (realm.data.lead_names); off until
    # measured better on dev (docs/finetuning.md).
    lead_names: bool = False


def skip_reason(page: Page) -> str | None:
    if page.namespace != 0:
        return SKIP_NAMESPACE
    if page.redirect or _REDIRECT.match(page.text):
        return SKIP_REDIRECT
    if page.title.startswith(_LIST_PREFIXES):
        return SKIP_LIST
    if "(disambiguation)" in page.title or _DISAMBIGUATION_TEMPLATE.search(page.text):
        return SKIP_DISAMBIGUATION
    return None


def quarantine_record(raw: RawPage, reason: str) -> dict:
    record = {"source": raw.source, "offset": raw.offset, "reason": reason}
    title = re.search(rb"<title>(.*?)</title>", raw.data)
    if title:
        record["title"] = title.group(1).decode("utf-8", errors="replace")
    try:
        record["raw"] = raw.data.decode("utf-8")
    except UnicodeDecodeError:
        record["raw_base64"] = base64.b64encode(raw.data).decode("ascii")
    return record


def _char_to_byte(text: str) -> np.ndarray:
    """byte offset of every character position 0..len(text) (identity for ASCII)."""
    widths = np.fromiter((len(ch.encode("utf-8")) for ch in text), np.int64, len(text))
    return np.concatenate([[0], np.cumsum(widths)])


@dataclasses.dataclass
class _Article:
    page: Page
    title: str
    text: str
    sentences: list[tuple[str, list[tuple[int, int]]]]  # sentence text, link ranges within it
    heading: str  # what heads each block before its [SEP]: the title, with the lead's other names when enabled


class PageProcessor:
    def __init__(
        self,
        tokenizer,
        config: ProcessConfig = ProcessConfig(),
        span_finder: SpanFinder | None = None,
        sentence_splitter: Callable[[str], list[tuple[int, int]]] | None = None,
    ):
        self.tokenizer = tokenizer
        self.config = config
        self.span_finder = span_finder
        self.split_sentences = sentence_splitter or split_sentences
        vocab = tokenizer._vocab_list
        self.is_continuation = np.array([token.startswith("##") for token in vocab], bool)

    # ---------------------------------------------------------------------------------------------- stages
    def _article(self, raw: RawPage, stats: collections.Counter, quarantine: list[dict]) -> _Article | None:
        try:
            page = parse_page(raw)
        except MalformedPageError as exc:
            quarantine.append(quarantine_record(raw, str(exc)))
            stats["quarantined"] += 1
            return None
        reason = skip_reason(page)
        if reason:
            stats[f"skipped.{reason}"] += 1
            return None
        stats["wikitext_bytes"] += len(raw.data)
        try:
            cleaned = clean_wikitext(page.text)
        except Exception as exc:
            quarantine.append(quarantine_record(raw, f"wikitext could not be cleaned: {type(exc).__name__}: {exc}"))
            stats["quarantined"] += 1
            return None
        stats["dropped_markup_lines"] += cleaned.dropped_markup_lines
        sentences = []
        for paragraph in cleaned.paragraphs:
            for start, end in self.split_sentences(paragraph.text):
                links = [(s - start, e - start) for s, e in paragraph.links if s >= start and e <= end]
                sentences.append((paragraph.text[start:end], links))
        if not sentences:
            stats[f"skipped.{SKIP_EMPTY}"] += 1
            return None
        text = "\n".join(p.text for p in cleaned.paragraphs)
        heading = block_heading(page.title, lead_names(page.text, page.title)) if self.config.lead_names else page.title
        return _Article(page, page.title, text, sentences, heading)

    def _tokenize(self, texts: list[str]) -> list[TokenizedText]:
        if not texts:
            return []
        ids, starts, ends = self.tokenizer.tokenize_with_offsets(texts)
        splits = ids.row_splits.numpy()
        flat_ids, flat_starts, flat_ends = ids.flat_values.numpy(), starts.flat_values.numpy(), ends.flat_values.numpy()
        return [
            TokenizedText(text, flat_ids[a:b], flat_starts[a:b], flat_ends[a:b])
            for text, a, b in zip(texts, splits[:-1], splits[1:], strict=True)
        ]

    def _example(
        self, article: _Article, doc_uid: str, index: int, tokens: TokenizedText, block_indices: list[int], stats
    ) -> dict | None:
        sentence, links = article.sentences[index]
        if len(tokens.ids) < self.config.min_example_tokens:
            return None
        spans = salient_spans(sentence, links, self.span_finder)
        if not spans:
            return None
        to_byte = None if len(sentence) == len(tokens.text.encode("utf-8")) else _char_to_byte(sentence)
        kept = []
        for span in spans:
            b0, b1 = (span.start, span.end) if to_byte is None else (int(to_byte[span.start]), int(to_byte[span.end]))
            covered = np.nonzero((tokens.byte_starts < b1) & (tokens.byte_ends > b0))[0]
            if len(covered):
                kept.append((span, int(covered[0]), int(covered[-1])))
        if not kept:
            return None
        for span, _, _ in kept:
            stats[f"spans.{span.kind}"] += 1
        return {
            "doc_uid": doc_uid,
            "sentence_index": index,
            "block_indices": np.array(block_indices, np.int32),
            "title": article.title,
            "text": sentence,
            "token_ids": tokens.ids.astype(np.int32),
            "span_starts": np.array([k[1] for k in kept], np.int32),
            "span_ends": np.array([k[2] for k in kept], np.int32),
            "span_char_starts": np.array([k[0].start for k in kept], np.int32),
            "span_char_ends": np.array([k[0].end for k in kept], np.int32),
            "span_kinds": [k[0].kind for k in kept],
        }

    # ------------------------------------------------------------------------------------------------ main
    def process(self, raw_pages: list[RawPage]) -> tuple[list[dict], list[dict], list[dict], collections.Counter]:
        """-> (blocks, examples, quarantine records, statistics) for a batch of raw pages."""
        stats: collections.Counter = collections.Counter()
        quarantine: list[dict] = []
        articles = []
        for raw in raw_pages:
            stats["pages_read"] += 1
            article = self._article(raw, stats, quarantine)
            if article is not None:
                articles.append(article)
        n = len(articles)
        named = [a for a in articles if a.heading != a.title]  # headed with lead names: their headings tokenized too
        texts = [a.title for a in articles] + [a.heading for a in named]
        texts += [s for a in articles for s, _ in a.sentences]
        tokenized = self._tokenize(texts)
        titles, sentence_tokens = tokenized[:n], tokenized[n + len(named) :]
        named_headings = iter(tokenized[n : n + len(named)])
        headings = [next(named_headings) if a.heading != a.title else None for a in articles]
        blocks: list[dict] = []
        examples: list[dict] = []
        cursor = 0
        cls_id, sep_id = self.tokenizer.cls_id, self.tokenizer.sep_id
        for article, title, named_heading in zip(articles, titles, headings, strict=True):
            sentences = sentence_tokens[cursor : cursor + len(article.sentences)]
            cursor += len(article.sentences)
            if len(title.ids) > self.config.max_title_tokens:
                stats[f"skipped.{SKIP_LONG_TITLE}"] += 1
                continue
            stats["articles"] += 1
            stats["sentences"] += len(sentences)
            heading = title
            # Names too long to head every block: the title alone.
            if named_heading is not None and len(named_heading.ids) <= self.config.max_title_tokens:
                heading = named_heading
                stats["articles_headed_with_lead_names"] += 1
            doc_uid = document_uid(article.title, article.text)
            packed = pack_blocks(len(heading.ids), sentences, self.config.block_max_tokens, self.is_continuation)
            for block in packed:
                token_ids = np.concatenate([[cls_id], heading.ids, [sep_id], block.body_ids, [sep_id]]).astype(np.int32)
                blocks.append(
                    {
                        "doc_uid": doc_uid,
                        "block_index": block.block_index,
                        "title": article.title,
                        "text": block.text,
                        "token_ids": token_ids,
                        "title_length": len(heading.ids),
                    }
                )
                stats["blocks"] += 1
                stats["block_tokens"] += len(token_ids)
                low = (len(token_ids) - 1) // HISTOGRAM_BIN * HISTOGRAM_BIN
                stats[f"block_length_histogram.{low + 1}-{low + HISTOGRAM_BIN}"] += 1
            holders = blocks_of_sentences(packed, len(sentences))
            for index, tokens in enumerate(sentences):
                example = self._example(article, doc_uid, index, tokens, holders[index], stats)
                if example is not None:
                    examples.append(example)
                    stats["examples"] += 1
        return blocks, examples, quarantine, stats


def article_texts(raw_pages) -> list[str]:
    """Every article title and sentence among raw pages, cleaned and split as `realm preprocess` does (for
    tokenizer parity checks and benchmarks; the pipeline itself streams through PageProcessor)."""
    texts = []
    for raw in raw_pages:
        try:
            page = parse_page(raw)
        except MalformedPageError:
            continue
        if skip_reason(page) is None:
            texts.append(page.title)
            for paragraph in clean_wikitext(page.text).paragraphs:
                texts += [paragraph.text[s:e] for s, e in split_sentences(paragraph.text)]
    return texts
