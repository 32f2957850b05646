"""Streaming MediaWiki XML reader: one `<page>` element at a time, never the whole dump in memory.

Pages are cut out of the byte stream line by line (dumps put `<page>` and `</page>` on their own lines) and each
is parsed on its own, so one malformed page or one page with invalid UTF-8 is quarantined instead of aborting
the whole stream. A stream that cannot be read (a truncated or corrupt bz2 file) raises `DumpReadError` naming
the file and the offsets reached.
"""

from __future__ import annotations

import bz2
import dataclasses
import io
import xml.etree.ElementTree as ET
from collections.abc import Iterator

from realm.errors import RealmError

_MAX_PAGE_BYTES = 64 * 1024 * 1024  # larger than any real page (the largest enwiki pages are a few MB)


class DumpReadError(RealmError):
    """The dump stream itself cannot be read; the run must fail rather than silently drop the rest."""


class MalformedPageError(ValueError):
    """One page cannot be parsed; it goes to quarantine with this message as the reason."""


@dataclasses.dataclass(frozen=True)
class RawPage:
    """The bytes of one `<page>...</page>` element and where it starts in the decompressed stream."""

    source: str
    offset: int
    data: bytes


@dataclasses.dataclass(frozen=True)
class Page:
    title: str
    namespace: int
    page_id: int
    redirect: bool
    text: str
    source: str
    offset: int


def open_dump(path: str) -> tuple[io.BufferedIOBase, io.RawIOBase]:
    """(decompressed stream, raw stream) for a local or remote (gs://, s3://, ...) dump, bz2 or plain XML.

    Beam's FileSystems resolves the scheme so the same code reads from a worker's bucket on Dataflow.
    """
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    try:
        raw = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    except Exception as exc:
        raise DumpReadError(f"{path}: cannot open dump ({exc})") from exc
    if path.endswith(".bz2"):
        return bz2.BZ2File(raw), raw  # BZ2File reads multistream (concatenated) files too
    return raw, raw


class DumpReader:
    """Iterates the `<page>` elements of one dump in file order; `compressed_position` tells how far it got."""

    def __init__(self, path: str):
        self.path = path
        self._raw = None

    def compressed_position(self) -> int | None:
        """Bytes of the (compressed) file consumed so far, for progress and ETA; None before the first read."""
        position = _tell(self._raw) if self._raw is not None else None
        return position if isinstance(position, int) else None

    def __iter__(self) -> Iterator[RawPage]:
        path = self.path
        stream, self._raw = open_dump(path)
        offset = 0
        page_start = -1
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                try:
                    line = stream.readline()
                except (EOFError, OSError, ValueError) as exc:
                    raise DumpReadError(
                        f"{path}: the stream cannot be read past decompressed byte {offset} "
                        f"(compressed byte ~{_tell(self._raw)}): {exc}"
                    ) from exc
                if not line:
                    break
                stripped = line.strip()
                if stripped.startswith(b"<page>"):
                    if page_start >= 0:  # the previous page never closed: hand it over for quarantine
                        yield RawPage(path, page_start, b"".join(chunks))
                    page_start, chunks, size = offset, [], 0
                if page_start >= 0:
                    chunks.append(line)
                    size += len(line)
                    if stripped.endswith(b"</page>") or size > _MAX_PAGE_BYTES:
                        yield RawPage(path, page_start, b"".join(chunks))
                        page_start = -1
                offset += len(line)
            if page_start >= 0:
                yield RawPage(path, page_start, b"".join(chunks))  # unterminated at the end of the stream
        finally:
            stream.close()


def iter_raw_pages(path: str) -> Iterator[RawPage]:
    """Every `<page>` of a dump, in file order."""
    return iter(DumpReader(path))


def _tell(raw) -> int | str:
    try:
        return raw.tell()
    except Exception:
        return "unknown"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_page(raw: RawPage) -> Page:
    """Parse one page element; raises MalformedPageError with a reason a person can act on."""
    try:
        raw.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedPageError(f"invalid UTF-8 at page byte {exc.start}: {exc.reason}") from exc
    try:
        element = ET.fromstring(raw.data)
    except ET.ParseError as exc:
        raise MalformedPageError(f"malformed XML: {exc}") from exc
    if _local(element.tag) != "page":
        raise MalformedPageError(f"expected a <page> element, found <{_local(element.tag)}>")
    fields: dict[str, str | None] = {}
    redirect = False
    text: str | None = None
    for child in element:
        name = _local(child.tag)
        if name in ("title", "ns", "id"):
            fields[name] = child.text
        elif name == "redirect":
            redirect = True
        elif name == "revision":
            for part in child:
                if _local(part.tag) == "text":
                    text = part.text or ""
    title = (fields.get("title") or "").strip()
    if not title:
        raise MalformedPageError("page has no <title>")
    ns_text = (fields.get("ns") or "").strip()
    try:
        namespace = int(ns_text)
    except ValueError:
        raise MalformedPageError(f"page {title!r} has a namespace that is not an integer: {ns_text!r}") from None
    try:
        page_id = int((fields.get("id") or "").strip())
    except ValueError:
        raise MalformedPageError(f"page {title!r} has no integer <id>") from None
    if text is None:
        raise MalformedPageError(f"page {title!r} has no <revision><text>")
    return Page(title, namespace, page_id, redirect, text, raw.source, raw.offset)
