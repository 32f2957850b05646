"""The sample question set: its checker (`python -m realm.data.sample_qa.check`), its fixed split field, and
its answers in the blocks `realm preprocess` cuts from the sample."""

from __future__ import annotations

import bz2
import collections
import dataclasses
import json

import pytest

from realm.data.sample_qa.check import QUESTIONS_FILE, check_file, check_questions, main, sample_articles, title_pattern
from realm.finetuning.questions import (
    Question,
    QuestionFileError,
    read_questions,
    sample_questions,
    split_of,
    write_questions,
)

SHIPPED_SPLITS = {"train": 306, "dev": 95, "test": 103}  # fixed when the field was added: must never change
ARTICLES = {
    "Zebra Lake": "Zebra Lake is a lake in the Kettle Mountains. Its deepest point is 212 metres below the surface.",
    "Mira Holt": "Mira Holt was a Danish sculptor. She was born in Aarhus in 1871.",
    "Android (robot)": "An android is a robot designed to look and act like a human.",
}
GOOD = {"question": "where was the danish sculptor born", "answer": ["Aarhus"], "title": "Mira Holt"}


def _line(**fields) -> str:
    record = {**GOOD, "split": "train", **fields}
    return json.dumps({k: v for k, v in record.items() if v is not None}, ensure_ascii=False)


@pytest.fixture(scope="module")
def articles() -> dict[str, str]:
    return sample_articles()


# ------------------------------------------------------------------------------------------- the checker
def test_shipped_question_set_passes_every_check(articles):
    report = check_file(QUESTIONS_FILE, articles)
    assert report.ok, "\n".join(map(str, report.problems))
    assert report.questions == 504 and len(report.titles) == 96
    assert dict(report.splits) == SHIPPED_SPLITS
    assert len(report.title_kept) < 60  # the rest describe their subject instead of naming it
    assert all(why.strip() for *_, why in report.title_kept)


def test_a_good_line_passes():
    lake = _line(question="how deep is the lake in the kettle mountains", answer=["212 metres"], title="Zebra Lake")
    report = check_questions([_line(), "", lake.replace('"train"', '"test"')], ARTICLES)
    assert report.ok, report.problems
    assert report.questions == 2 and report.splits == collections.Counter(train=1, test=1)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (_line(answer=["Copenhagen"]), "answer 'Copenhagen' does not occur in the article 'Mira Holt'"),
        (_line(title="Mira Holm"), "unknown title 'Mira Holm': not an article of the sample"),
        (_line(question="where was mira holt born"), "copies its article title 'Mira Holt' verbatim"),
        (_line(question="who built androids", title="Android (robot)", answer=["robot"]), "copies its article"),
        (_line(title_kept="a reason"), "title_kept is set but the question does not contain the title"),
        (_line(title_kept=""), "title_kept must be a non-empty reason"),
        (_line(question="Where was the danish sculptor born"), "not lower-case"),
        (_line(question="where was the danish sculptor born?"), "ends with a question mark"),
        (_line(split="validation"), "split must be one of train, dev, test"),
        (_line(split=None), "missing field(s) split"),
        (_line(answers=["Aarhus"]), "unknown field(s) answers"),
        (_line(answer="Aarhus"), "answer must be a non-empty list"),
        ('{"question": ', "invalid JSON"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_each_kind_of_bad_line_is_reported_with_its_line(line, message):
    kept = _line(question="how deep is zebra lake", answer=["212 metres"], title="Zebra Lake", title_kept="no alias")
    report = check_questions([kept, line], ARTICLES)
    assert not report.ok
    assert [p.line for p in report.problems] == [2], report.problems
    assert message in report.problems[0].message


def test_duplicates_are_reported_against_the_first_occurrence():
    lines = [_line(), _line(split="dev"), _line(question="where was the danish  sculptor born")]
    report = check_questions(lines, ARTICLES)
    assert [(p.line, p.message.split(":")[0]) for p in report.problems] == [
        (2, "duplicate of line 1"),
        (3, "duplicate of line 1"),
    ]


def test_title_match_is_whole_words_plural_and_ignores_the_qualifier():
    assert title_pattern("Amphibian").search("what is the study of amphibians called")
    assert title_pattern("Alkali metal").search("the alkali metals make up which group")
    assert title_pattern("Android (robot)").search("who coined the word android")
    assert not title_pattern("Art").search("which artist painted it")
    assert not title_pattern("A").search("what is the first letter of the latin alphabet")
    assert title_pattern("A").search("what is a letter")


def test_command_exits_non_zero_listing_the_offending_lines(tmp_path, capsys):
    pages = "".join(
        f"<page><title>{title}</title><ns>0</ns><id>{i}</id><revision><text>{text}</text></revision></page>\n"
        for i, (title, text) in enumerate(ARTICLES.items(), 1)
    )
    dump = tmp_path / "tiny.xml.bz2"
    dump.write_bytes(bz2.compress(f"<mediawiki>\n{pages}</mediawiki>\n".encode()))
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    good.write_text(_line() + "\n")
    bad.write_text("\n".join([_line(), _line(answer=["Oslo"], question="a second question"), _line()]) + "\n")
    assert main([str(good), "--dump", str(dump)]) == 0
    assert "OK" in capsys.readouterr().out
    assert main([str(bad), "--dump", str(dump)]) == 1
    err = capsys.readouterr().err
    assert "FAILED: 2 problem(s)" in err
    assert f"{bad}:2: answer 'Oslo' does not occur in the article 'Mira Holt'" in err
    assert f"{bad}:3: duplicate of line 1" in err
    assert main([str(tmp_path / "missing.jsonl"), "--dump", str(dump)]) == 2


# --------------------------------------------------------------------------------------------- the split
def test_sample_splits_come_from_the_split_field_and_have_the_shipped_sizes():
    questions = sample_questions()
    assert all(q.split in SHIPPED_SPLITS for q in questions)
    assert {s: len(sample_questions(s)) for s in SHIPPED_SPLITS} == SHIPPED_SPLITS
    for split in SHIPPED_SPLITS:
        assert all(q.split == split for q in sample_questions(split))
    reworded = [dataclasses.replace(q, question=q.question + " in the sample") for q in questions]
    assert [split_of(q) for q in reworded] == [q.split for q in questions]  # rewording never moves a question


def test_split_field_is_honoured_and_files_without_it_fall_back_to_the_hash(tmp_path):
    hashed = Question("who designed the quillon bridge", ("Tomas Weller",))
    other = next(s for s in ("train", "dev", "test") if s != split_of(hashed))
    path = tmp_path / "own.jsonl"
    lines = [{"question": hashed.question, "answer": ["Tomas Weller"], "split": other}, {**hashed.to_json()}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    named, plain = read_questions(str(path))
    assert named.split == other and split_of(named) == other
    assert plain.split is None and split_of(plain) == split_of(hashed)
    written = tmp_path / "written.jsonl"
    write_questions(str(written), [named, plain])
    assert read_questions(str(written)) == [named, plain]  # the field survives a round trip


def test_a_files_split_field_limits_what_finetune_and_evaluate_load(tmp_path):
    """`--questions FILE --split train` loaded the file's dev and test lines too: fine-tuning on held-out answers."""
    from realm.cli import main
    from realm.finetuning.questions import load_questions

    path = tmp_path / "own.jsonl"
    lines = [{"question": f"q{i}", "answer": ["a"], "split": split} for i, split in enumerate(("train", "dev", "test"))]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert [q.question for q in load_questions(str(path), "train")] == ["q0"]
    assert [q.question for q in load_questions(str(path), "test")] == ["q2"]
    assert len(load_questions(str(path), "all")) == len(load_questions(str(path), None)) == 3
    plain = tmp_path / "nq-open-dev.jsonl"  # no split fields: someone's evaluation file, used whole
    plain.write_text("".join(json.dumps({"question": f"q{i}", "answer": ["a"]}) + "\n" for i in range(10)))
    assert len(load_questions(str(plain), "test")) == 10
    only_dev = tmp_path / "dev.jsonl"
    only_dev.write_text(json.dumps(lines[1]) + "\n")
    with pytest.raises(QuestionFileError, match=r"dev\.jsonl: no question of split 'train'"):
        load_questions(str(only_dev), "train")
    with pytest.raises(QuestionFileError, match="unknown split 'val'"):
        load_questions(str(path), "val")
    assert load_questions("sample", "dev") == sample_questions("dev")
    # the command line refuses before any work, naming the file
    code = main(["finetune", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--questions", str(only_dev)])
    assert code == 2


def test_an_unknown_split_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "q", "answer": ["a"]}\n{"question": "q2", "answer": ["a"], "split": "val"}\n')
    with pytest.raises(QuestionFileError, match=r"bad\.jsonl:2: split must be one of"):
        read_questions(str(path))


# ------------------------------------------------------------------------------------------- the corpus
def test_every_answer_is_in_a_block_of_its_article():
    """The blocks `realm preprocess` writes for the sample (PageProcessor without Beam: the same per-page work,
    a few seconds), so fine-tuning can label every sample question in its own article's blocks."""
    from realm.data.pages import iter_raw_pages
    from realm.data.process import PageProcessor
    from realm.resources import sample_wikipedia_dump
    from realm.tokenization import RealmTokenizer

    blocks, _, _, _ = PageProcessor(RealmTokenizer.from_default_vocab()).process(
        list(iter_raw_pages(sample_wikipedia_dump()))
    )
    texts = collections.defaultdict(list)
    for block in blocks:
        texts[block["title"]].append(block["text"].lower())
    missing = [
        (q.title, answer)
        for q in sample_questions()
        for answer in q.answers
        if not any(answer.lower() in text for text in texts[q.title])
    ]
    assert not missing
