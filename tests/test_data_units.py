"""Unit tests of the corpus pieces: dump reading, wikitext cleaning, sentences, spans, block packing, processing."""

from __future__ import annotations

import bz2

import numpy as np
import pytest

from realm.data.blocks import TokenizedText, blocks_of_sentences, pack_blocks
from realm.data.pages import MalformedPageError, RawPage, iter_raw_pages, parse_page
from realm.data.process import PageProcessor, skip_reason
from realm.data.sentences import split_sentences
from realm.data.spans import DATE, LINK, Span, date_spans, load_callable, salient_spans, select_spans
from realm.data.wikitext import clean_wikitext
from realm.tokenization import RealmTokenizer


@pytest.fixture(scope="module")
def tokenizer() -> RealmTokenizer:
    return RealmTokenizer.from_default_vocab()


def _page(title="T", ns="0", text="Body.", extra="") -> RawPage:
    xml = f"<page><title>{title}</title><ns>{ns}</ns><id>5</id>{extra}<revision><text>{text}</text></revision></page>"
    return RawPage("dump.xml", 0, xml.encode())


# ---------------------------------------------------------------------------------------------------- pages
def test_reader_hands_over_an_unterminated_page(tmp_path):
    data = b"<mediawiki>\n  <page>\n    <title>A</title>\n  </page>\n  <page>\n    <title>B</title>\n"
    path = tmp_path / "d.xml.bz2"
    path.write_bytes(bz2.compress(data))
    pages = list(iter_raw_pages(str(path)))
    assert [p.offset for p in pages] == [12, data.index(b"  <page>", 20)]
    with pytest.raises(MalformedPageError):
        parse_page(pages[1])


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (_page(ns="x"), "namespace that is not an integer"),
        (RawPage("d", 0, b"<page><ns>0</ns><id>1</id></page>"), "no <title>"),
        (RawPage("d", 0, "<page><title>É</title>".encode("latin-1")), "invalid UTF-8"),
        (RawPage("d", 0, b"<page><title>A</title><ns>0</ns><id>1</id></page>"), "no <revision><text>"),
    ],
)
def test_parse_page_errors_say_why(raw, reason):
    with pytest.raises(MalformedPageError, match=reason):
        parse_page(raw)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (_page(ns="1"), "namespace"),
        (_page(text="#REDIRECT [[X]]"), "redirect"),
        (_page(extra='<redirect title="X" />'), "redirect"),
        (_page(title="List of lakes"), "list_page"),
        (_page(title="Outline of physics"), "list_page"),
        (_page(title="Index of physics articles"), "list_page"),
        (_page(title="Mercury (disambiguation)"), "disambiguation"),
        (_page(text="'''Mercury''' may be: {{disambiguation}}"), "disambiguation"),
        (_page(), None),
    ],
)
def test_skip_reasons(raw, reason):
    assert skip_reason(parse_page(raw)) == reason


# ------------------------------------------------------------------------------------------------- wikitext
def test_clean_wikitext_keeps_prose_and_link_anchors():
    text = (
        "{{Infobox|a={{nested|b}}}}'''Paris''' is the capital of [[France]].<ref name=x>cite</ref> "
        "It lies on the [[Seine (river)|Seine]]s.<!-- note -->\n"
        "[[File:Paris.jpg|thumb|A [[view]]]]\n"
        "{| class=wikitable\n|-\n| cell\n|}\n"
        "== History ==\nFounded in the 3rd century BC by the [[Parisii]].\n"
        "== References ==\n* A book.\n"
        "[[Category:Capitals]]\n[[de:Paris]]"
    )
    cleaned = clean_wikitext(text)
    texts = [p.text for p in cleaned.paragraphs]
    assert texts == [
        "Paris is the capital of France. It lies on the Seines.",
        "Founded in the 3rd century BC by the Parisii.",
    ]
    anchors = [[p.text[s:e] for s, e in p.links] for p in cleaned.paragraphs]
    assert anchors == [["France", "Seines"], ["Parisii"]]


def test_lines_with_unparsed_markup_are_dropped_and_counted():
    cleaned = clean_wikitext("Good line.\nBad [[unclosed link line.\nAnother good line.")
    assert [p.text for p in cleaned.paragraphs] == ["Good line.", "Another good line."]
    assert cleaned.dropped_markup_lines == 1


# ------------------------------------------------------------------------------------------- sentences, spans
def test_sentence_splitter_respects_abbreviations_and_initials():
    text = 'Dr. Smith met J. R. R. Tolkien in the U.S. in 1950. They talked. "Why?" he asked.'
    assert [text[s:e] for s, e in split_sentences(text)] == [
        "Dr. Smith met J. R. R. Tolkien in the U.S. in 1950.",
        "They talked.",
        '"Why?" he asked.',
    ]


def test_date_spans_cover_the_common_english_forms():
    text = "On April 14, 1865, in April 1865, on 14 April 1865, in 44 BC, AD 79, the 1860s and 1865 but not 12,000."
    assert [text[s.start : s.end] for s in date_spans(text)] == [
        "April 14, 1865", "April 1865", "14 April 1865", "44 BC", "AD 79", "1860s", "1865",
    ]  # fmt: skip


def test_links_win_over_overlapping_dates_and_hooks():
    chosen = select_spans([Span(0, 10, DATE), Span(5, 20, LINK), Span(25, 30, "PER"), Span(26, 28, DATE)])
    assert chosen == [Span(5, 20, LINK), Span(26, 28, DATE)]
    spans = salient_spans(" Ada met  Babbage in 1833.", [(0, 5)], lambda s: [(10, 17, "PER")])
    assert [(s.start, s.end, s.kind) for s in spans] == [(1, 4, LINK), (10, 17, "PER"), (21, 25, DATE)]


def test_load_callable_names_the_problem():
    assert load_callable("realm.data.sentences:split_sentences") is split_sentences
    with pytest.raises(ValueError, match=r"package\.module:function"):
        load_callable("realm.data.sentences")


# ------------------------------------------------------------------------------------------------- packing
def _sentence(n: int, start_id: int = 2000) -> TokenizedText:
    words = [f"w{i}" for i in range(n)]
    text = " ".join(words)
    starts = np.array([text.index(w) if i == 0 else sum(len(x) + 1 for x in words[:i]) for i, w in enumerate(words)])
    return TokenizedText(text, np.arange(start_id, start_id + n), starts, starts + np.array([len(w) for w in words]))


def test_pack_blocks_is_greedy_within_the_budget():
    continuation = np.zeros(5000, bool)
    blocks = pack_blocks(3, [_sentence(100), _sentence(100), _sentence(80), _sentence(50)], 288, continuation)
    assert [len(b.body_ids) for b in blocks] == [280, 50]  # 3 specials + 3 title + 280 <= 288
    assert [b.block_index for b in blocks] == [0, 1]
    assert [b.sentence_indices for b in blocks] == [(0, 1, 2), (3,)]
    assert blocks_of_sentences(blocks, 4) == [[0], [0], [0], [1]]


def test_a_sentence_cut_across_blocks_is_held_by_each_of_them():
    continuation = np.zeros(5000, bool)
    blocks = pack_blocks(
        2,
        [_sentence(20), _sentence(400), TokenizedText("", np.array([], int), [], []), _sentence(9)],
        288,
        continuation,
    )
    # 283 pieces per block: the 400-piece sentence fills block 1 and starts block 2
    assert [b.sentence_indices for b in blocks] == [(0,), (1,), (1, 3)]
    assert blocks_of_sentences(blocks, 4) == [[0], [1, 2], [], [2]]


def test_over_long_sentence_is_cut_at_word_starts_and_nothing_is_lost():
    continuation = np.zeros(5000, bool)
    continuation[2001::2] = True  # every second piece continues a word: cuts must land on even offsets
    sentence = _sentence(700)
    blocks = pack_blocks(2, [sentence], 288, continuation)
    assert all(len(b.body_ids) <= 283 for b in blocks)
    assert np.array_equal(np.concatenate([b.body_ids for b in blocks]), sentence.ids)
    assert all(b.body_ids[0] % 2 == 0 for b in blocks)
    assert " ".join(b.text for b in blocks) == sentence.text


def test_processor_on_one_page(tokenizer):
    text = (
        "'''Ada Lovelace''' (10 December 1815 – 27 November 1852) was an English [[mathematician]]. "
        "She worked with [[Charles Babbage]] in 1833."
    )
    blocks, examples, quarantine, stats = PageProcessor(tokenizer, span_finder=lambda s: []).process(
        [_page("Ada Lovelace", text=text), _page("Broken", ns="?")]
    )
    assert len(quarantine) == 1 and stats["quarantined"] == 1 and stats["pages_read"] == 2
    assert len(blocks) == 1 and blocks[0]["title"] == "Ada Lovelace"
    spans = [(e["text"][s:t], k) for e in examples for s, t, k in zip(
        e["span_char_starts"], e["span_char_ends"], e["span_kinds"], strict=True)]  # fmt: skip
    assert ("Charles Babbage", LINK) in spans and ("10 December 1815", DATE) in spans and ("1833", DATE) in spans


def test_regex_fast_path_gives_the_parser_result_on_the_whole_sample():
    from realm.data.pages import iter_raw_pages
    from realm.resources import sample_wikipedia_dump

    articles = [p for p in map(parse_page, iter_raw_pages(sample_wikipedia_dump())) if skip_reason(p) is None]
    assert len(articles) > 90
    for page in articles:
        fast, slow = clean_wikitext(page.text), clean_wikitext(page.text, regex_fast_path=False)
        assert [(p.text, p.links) for p in fast.paragraphs] == [(p.text, p.links) for p in slow.paragraphs], page.title
        assert fast.dropped_markup_lines == slow.dropped_markup_lines


def test_quote_runs_follow_mediawiki():
    text = "'''Bold''' and ''italic'' and '''''both''''' and l''''apostrophe''' and [[wikt:x|gone]]''s''."
    assert clean_wikitext(text).paragraphs[0].text == "Bold and italic and both and l'apostrophe and s."


@pytest.mark.parametrize(
    "wikitext",
    [
        "a [[b| c ]] d [[e|f [[g]] h]] i\n[[x|\ny]] z",  # spaces inside anchors, a nested link, a broken one
        "[[a|  ]] b [[c]][[d|e]] f",  # an anchor of spaces only, links back to back
        "x &amp; [[y|z&nbsp;w]] <br/> v",  # entities inside and outside anchors, a line break tag
    ],
)
def test_regex_fast_path_gives_the_parser_result_on_link_edge_cases(wikitext):
    fast, slow = clean_wikitext(wikitext), clean_wikitext(wikitext, regex_fast_path=False)
    assert [(p.text, p.links) for p in fast.paragraphs] == [(p.text, p.links) for p in slow.paragraphs]
    for paragraph in fast.paragraphs:
        assert all(paragraph.text[s:e].strip() == paragraph.text[s:e] for s, e in paragraph.links)


def test_internal_anchor_markers_never_reach_the_text():
    """The fast path marks anchors with private-use characters; an entity decoding to one must not leak."""
    paragraphs = clean_wikitext("&#57344;x [[y]] &#57345;z").paragraphs
    assert paragraphs[0].text == "x y z"
    assert not any(c in p.text for p in paragraphs for c in "\ue000\ue001")


# ------------------------------------------------------------------------------------ token walk, fast paths
def test_token_walk_gives_the_tree_walk_result_on_the_whole_sample():
    """`clean_wikitext` reads the parser's token stream instead of building mwparserfromhell's node tree; the
    tree walk it replaces must give the same paragraphs, links and counts, with and without the regex pass."""
    from realm.resources import sample_wikipedia_dump

    pages = list(map(parse_page, iter_raw_pages(sample_wikipedia_dump())))
    for page in pages:
        for fast in (True, False):
            tokens, tree = clean_wikitext(page.text, fast), clean_wikitext(page.text, fast, token_walk=False)
            assert [(p.text, p.links) for p in tokens.paragraphs] == [(p.text, p.links) for p in tree.paragraphs]
            assert tokens.dropped_markup_lines == tree.dropped_markup_lines, page.title


@pytest.mark.parametrize(
    "wikitext",
    [
        # tags: dropped, kept with attributes, nested, self-closing, line breaks, wiki-markup lists and tables
        'a <sub class="x">b [[c]] <sup>d</sup></sub> e <math>x^2</math> f<br/>g <span>h<span>i</span></span>',
        "a <div>b</div> c <small>d</small> <nowiki>[[e]]</nowiki> f <ref name=x/> <b>g</b> <unclosed>h",
        "; term : definition [[x]]\n:: indented <!-- open comment",
        "{| class=x\n|-\n| a || b\n|}\n{|\n| [[x|y]] {|\n| nested\n|}\n|}\ntext after",
        # links: nested markup, namespaces, interlanguage, empty anchors, external with and without titles
        "[[a|b ''c'' [[d]]]] [[File:x.jpg|thumb|cap [[y]]]] [[de:X]] [[:Category:Y|shown]] [[z|]] [[ w ]]",
        "[http://x.org title [[y]] &amp;] [http://bare.org] http://free.org [[a|see http://x.org]] [[b|c]]",
        # entities, headings with markup, skipped sections with deeper levels, templates and arguments
        "&nbsp;x&#91;y&#x5D;z&bogus; &#57344;q [[r|s&eacute;t]]",
        "== [[History]] of ''x'' ==\ntext\n== References ==\n=== Deeper ===\ngone\n== Notes <!-- c --> ==\n"
        "gone too\n= Top =\nback\n==Empty==\n== {{tmpl}} ==\nkept",
        "{{a|{{b}}|c=[[d]]}} {{{arg|default}}} {{unclosed [[x]] text\n{{#if:x|y}} tail",
    ],
)
def test_token_walk_gives_the_tree_walk_result_on_edge_cases(wikitext):
    for fast in (True, False):
        tokens, tree = clean_wikitext(wikitext, fast), clean_wikitext(wikitext, fast, token_walk=False)
        assert [(p.text, p.links) for p in tokens.paragraphs] == [(p.text, p.links) for p in tree.paragraphs]
        assert tokens.dropped_markup_lines == tree.dropped_markup_lines


def test_rewritten_prestrip_patterns_match_what_their_plain_forms_match():
    """The reference and table patterns are written out without a lazy `.*?` for speed; same matches."""
    import random
    import re

    from realm.data import wikitext

    reference = re.compile(r"<ref\b[^>]*/>|<ref\b[^>/]*>.*?</ref\s*>", re.S | re.I)
    table = re.compile(r"\{\|(?:(?!\{\|).)*?\n\|\}", re.S)
    pieces = ["<ref>", "<ref n=1>", "<REF>", "</ref>", "</ref >", "</Ref\n>", "<ref/>", "<ref a/>", "<refs>", "</re",
              "{|", "|}", "\n|}", "\n", "{", "|", "}", "<", "/", ">", "a", " "]  # fmt: skip
    rng = random.Random(0)
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        assert wikitext._REFERENCE.sub("", text) == reference.sub("", text), text
        assert wikitext._INNER_TABLE.sub("", text) == table.sub("", text), text


def _split_sentences_by_the_plain_rule(text: str) -> list[tuple[int, int]]:
    """The splitter's rule without its shortcuts: one boundary pattern, every full stop's word looked up."""
    import re

    from realm.data import sentences

    boundary = re.compile(r"([.!?][\"'\u201d\u2019)\]]*)\s+(?=[\"'\u201c\u2018(\[]?[A-Z0-9\u00c0-\u024f])")
    spans, start = [], 0
    for match in boundary.finditer(text):
        if text[match.start()] == ".":
            word = re.compile(r"([A-Za-z][A-Za-z.]*)\.$").search(text, max(0, match.start() - 12), match.start() + 1)
            if word:
                word = word.group(1).lower()
                if word in sentences._ABBREVIATIONS or len(word) == 1 or re.fullmatch(r"([a-z]\.)+[a-z]", word):
                    continue
        if match.end(1) > start:
            spans.append((start, match.end(1)))
        start = match.end()
    if len(text.rstrip()) > start:
        spans.append((start, len(text.rstrip())))
    return spans


def test_sentence_splitter_shortcuts_change_nothing():
    import random

    pieces = ["abcdefghijklmno", "Abcdefg", "approx", "Messrs", "x.y.z", "e.g", "u.s", "J. R", "Mr", "p", "Q", "A",
              " ", ". ", ".", "!", "? ", '"', ")", "é", "1865", "\t"]  # fmt: skip
    rng = random.Random(0)
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        assert split_sentences(text) == _split_sentences_by_the_plain_rule(text), text


def test_token_shapes_the_walk_does_not_read_itself_go_through_the_builder():
    """Token shapes the C tokenizer does not produce today (a tag name in two pieces, a tag without its `</`, an
    external link with two separators) are handed to mwparserfromhell's Builder: same parts as the tree walk."""
    from mwparserfromhell.parser import tokens as tk
    from mwparserfromhell.parser.builder import Builder

    from realm.data import wikitext

    streams = [
        [tk.TagOpenOpen(), tk.Text(text="s"), tk.Text(text="pan"), tk.TagCloseOpen(padding=""), tk.Text(text="x"),
         tk.TagOpenClose(), tk.Text(text="span"), tk.TagCloseClose(), tk.Text(text=" y")],
        [tk.TagOpenOpen(), tk.Text(text="b"), tk.TagCloseOpen(padding=""), tk.Text(text="x"), tk.TagCloseClose()],
        [tk.ExternalLinkOpen(brackets=True), tk.Text(text="http://a.b"), tk.ExternalLinkSeparator(),
         tk.Text(text="t"), tk.ExternalLinkSeparator(), tk.Text(text="u"), tk.ExternalLinkClose()],
        [tk.WikilinkOpen(), tk.Text(text="a"), tk.Text(text="b"), tk.WikilinkClose(), tk.Text(text="c")],
    ]  # fmt: skip
    for stream in streams:
        read, walked = [], []
        wikitext._emit_tokens(list(stream), 0, len(stream), read)
        wikitext._walk(Builder().build(list(stream)).nodes, walked)
        assert "".join(read) == "".join(walked)


# ---------------------------------------------------------------------------------------------- lead names
AARDVARK = (
    "{{speciesbox\n| genus = Orycteropus\n| name = Aardvark\n}}\n"
    "The '''aardvark''' ({{IPAc-en|ˈ|ɑr|d}} {{respell|ARD|vark}}; ''Orycteropus afer'') is a medium-sized, "
    "burrowing, [[nocturnal]] mammal native to [[Africa]].<ref>Hoiberg</ref> It is the only living species of the "
    "order ''[[Tubulidentata]]''.\n\n== Gestation ==\nGestation is seven months.\n"
)


@pytest.mark.parametrize(
    ("title", "wikitext", "names"),
    [
        ("Aardvark", AARDVARK, ["Orycteropus afer"]),  # italic in the parenthesis; the title's case ignored
        (
            "ASCII",
            "'''ASCII''' (''American Standard'' or '''US-ASCII''') is a code.",
            ["American Standard", "US-ASCII"],
        ),
        ("Animalia (book)", "'''''Animalia''''' is a book. '''Animalia''' again.", []),  # the title less "(book)"
        ("A", "'''A''' (plural ''As'', ''A's'') is a letter.", []),  # short italics are not names
        ("X", "Intro without bold.\n\n'''Y''' is later.", []),  # only the first paragraph
        ("X", "== Heading ==\n'''Y''' is in a section.", []),  # no lead
        (
            "X",
            "[[File:x.png|thumb]]\n'''X''' or '''Ex''' ('''Eks''', '''Ecks''', '''Eckz''') is.",
            ["Ex", "Eks", "Ecks"],
        ),
    ],
)
def test_lead_names(title, wikitext, names):
    from realm.data.lead_names import lead_names

    assert lead_names(wikitext, title) == names


def test_lead_names_head_every_block_only_when_asked(tokenizer):
    from realm.data.process import ProcessConfig

    page = _page("Aardvark", text=AARDVARK.replace("<", "&lt;").replace(">", "&gt;"))
    plain, _, _, _ = PageProcessor(tokenizer, span_finder=lambda s: []).process([page])
    config = ProcessConfig(block_max_tokens=24, lead_names=True)
    headed, _, _, stats = PageProcessor(tokenizer, config, span_finder=lambda s: []).process([page])
    assert stats["articles_headed_with_lead_names"] == 1 and len(headed) > 1
    heading = tokenizer.tokenize(["Aardvark (Orycteropus afer)"]).flat_values.numpy().tolist()
    for block in headed:  # every block, not only the lead's, and the text the reader reads is untouched
        assert block["token_ids"][1 : 1 + block["title_length"]].tolist() == heading
        assert block["title"] == "Aardvark"
    assert [b["title_length"] for b in plain] == [len(tokenizer.tokenize(["Aardvark"]).flat_values)]
    assert " ".join(b["text"] for b in headed) == " ".join(b["text"] for b in plain)
