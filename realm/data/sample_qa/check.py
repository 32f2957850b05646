"""Check the sample question set against the sample's articles: `python -m realm.data.sample_qa.check [FILE]`.

The questions are written by hand, so nothing else catches a typo in an answer or a title: an answer that is
not in its article gives fine-tuning no span to label and evaluation a question no retriever can answer. The
checks (`check_questions`, also run by the tests) are:
- every line is a JSON object with `question`, `answer` (a non-empty list of strings), `title`, `split`
  ("train", "dev" or "test") and optionally `title_kept`, nothing else;
- the title is an article of the sample, and every answer occurs verbatim (case-insensitively) in that
  article's text as `realm preprocess` cleans it;
- no question repeats (compared case- and space-insensitively);
- questions are lower-case, with no question mark at the end (NaturalQuestions-Open style);
- a question does not contain its article title verbatim (case-insensitively, as whole words, also as a
  plural; a trailing "(qualifier)" of the title is ignored) unless `title_kept` says why the title cannot be
  avoided; and `title_kept` is not set on a question that no longer contains the title.
Exit status 0 when every line passes, 1 with the offending lines listed, 2 when the inputs cannot be read.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import re
import sys
from collections.abc import Iterable

from realm.errors import RealmError
from realm.finetuning.questions import SPLITS

QUESTIONS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "questions.jsonl")
REQUIRED_FIELDS = ("question", "answer", "title", "split")
FIELDS = frozenset((*REQUIRED_FIELDS, "title_kept"))
_QUALIFIER = re.compile(r"\s*\([^()]*\)\s*$")
_SPACES = re.compile(r"\s+")


@dataclasses.dataclass(frozen=True)
class Problem:
    """One failed check: the 1-based line of the question file and what is wrong with it."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclasses.dataclass
class CheckReport:
    """What `check_questions` found: counts for the summary and every problem (empty when the file passes)."""

    questions: int = 0
    splits: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    titles: set[str] = dataclasses.field(default_factory=set)
    title_kept: list[tuple[int, str, str, str]] = dataclasses.field(default_factory=list)  # line, title, q, why
    problems: list[Problem] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        splits = ", ".join(f"{split} {self.splits[split]}" for split in SPLITS)
        lines = [
            f"{self.questions} questions on {len(self.titles)} articles ({splits})",
            f"{len(self.title_kept)} contain their article title verbatim, each with a reason (title_kept):",
        ]
        lines += [f"  line {line} [{title}] {question!r}: {why}" for line, title, question, why in self.title_kept]
        return "\n".join(lines)


def title_pattern(title: str) -> re.Pattern:
    """The article title as whole words, case-insensitive, optionally plural ("amphibians" for "Amphibian");
    a disambiguating "(qualifier)" is dropped ("Android (robot)" -> "android"): that is what a question would
    copy."""
    core = _QUALIFIER.sub("", title).strip() or title
    return re.compile(rf"(?<!\w){re.escape(core)}(?:e?s)?(?!\w)", re.IGNORECASE)


def contains_title(question: str, title: str) -> bool:
    return title_pattern(title).search(question) is not None


def sample_articles(dump: str | None = None) -> dict[str, str]:
    """Title -> article text of every article in the dump (default: the Wikipedia sample in the gensim wheel),
    cleaned exactly as `realm preprocess` cleans it (realm.data.process.PageProcessor: same page filter, same
    wikitext cleaning, paragraphs joined by newlines), so "the answer is in the article" means "in the text the
    corpus blocks are cut from"."""
    from realm.data.pages import MalformedPageError, iter_raw_pages, parse_page
    from realm.data.process import skip_reason
    from realm.data.wikitext import clean_wikitext
    from realm.resources import sample_wikipedia_dump

    articles: dict[str, str] = {}
    for raw in iter_raw_pages(dump or sample_wikipedia_dump()):
        try:
            page = parse_page(raw)
        except MalformedPageError:
            continue  # quarantined by `realm preprocess`: no blocks, so no article to answer from
        if skip_reason(page) is not None:
            continue
        text = "\n".join(paragraph.text for paragraph in clean_wikitext(page.text).paragraphs)
        if text.strip():
            articles[page.title] = text
    return articles


def _normalized(question: str) -> str:
    return _SPACES.sub(" ", question).strip().lower()


def _check_record(line: int, record: dict, articles: dict[str, str], report: CheckReport) -> None:
    def problem(message: str) -> None:
        report.problems.append(Problem(line, message))

    missing = [name for name in REQUIRED_FIELDS if name not in record]
    unknown = sorted(set(record) - FIELDS)
    if missing:
        problem(f"missing field(s) {', '.join(missing)}")
    if unknown:
        problem(f"unknown field(s) {', '.join(unknown)} (allowed: {', '.join(sorted(FIELDS))})")
    question, answers, title = record.get("question"), record.get("answer"), record.get("title")
    split, kept = record.get("split"), record.get("title_kept")
    if "split" in record and split not in SPLITS:
        problem(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    elif split in SPLITS:
        report.splits[split] += 1
    if not isinstance(question, str) or not question.strip():
        problem("no question text")
        question = None
    else:
        if question != question.strip():
            problem(f"question has leading or trailing spaces: {question!r}")
        if question != question.lower():
            problem(f"question is not lower-case: {question!r}")
        if question.rstrip().endswith("?"):
            problem(f"question ends with a question mark: {question!r}")
    if not isinstance(answers, list) or not answers or not all(isinstance(a, str) and a.strip() for a in answers):
        problem(f"answer must be a non-empty list of non-empty strings, got {answers!r}")
        answers = []
    if not isinstance(title, str) or not title:
        if "title" in record:
            problem(f"title must be a non-empty string, got {title!r}")
        return
    report.titles.add(title)
    text = articles.get(title)
    if text is None:
        problem(f"unknown title {title!r}: not an article of the sample")
    else:
        lowered = text.lower()
        for answer in answers:
            if answer.lower() not in lowered:
                problem(f"answer {answer!r} does not occur in the article {title!r}")
    if question is None:
        return
    copied = contains_title(question, title)
    if kept is not None and (not isinstance(kept, str) or not kept.strip()):
        problem(f"title_kept must be a non-empty reason, got {kept!r}")
    elif copied and kept is None:
        problem(
            f"question copies its article title {title!r} verbatim: {question!r} "
            "(describe the subject instead, or say why the title is unavoidable in title_kept)"
        )
    elif kept is not None and not copied:
        problem(f"title_kept is set but the question does not contain the title {title!r}: {question!r}")
    elif copied:
        report.title_kept.append((line, title, question, kept))


def check_questions(lines: Iterable[str], articles: dict[str, str]) -> CheckReport:
    """Run every check on the lines of a question file (blank lines skipped, numbered from 1) against
    `articles` (title -> cleaned text, see `sample_articles`)."""
    report = CheckReport()
    first_line: dict[str, int] = {}
    for line, text in enumerate(lines, 1):
        if not text.strip():
            continue
        report.questions += 1
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            report.problems.append(Problem(line, f"invalid JSON ({exc})"))
            continue
        if not isinstance(record, dict):
            report.problems.append(Problem(line, f"expected a JSON object, got {type(record).__name__}"))
            continue
        _check_record(line, record, articles, report)
        question = record.get("question")
        if isinstance(question, str) and question.strip():
            key = _normalized(question)
            if key in first_line:
                report.problems.append(Problem(line, f"duplicate of line {first_line[key]}: {question!r}"))
            else:
                first_line[key] = line
    if report.questions == 0:
        report.problems.append(Problem(0, "no questions"))
    return report


def check_file(path: str = QUESTIONS_FILE, articles: dict[str, str] | None = None) -> CheckReport:
    """`check_questions` on a file; the articles default to the Wikipedia sample's."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    return check_questions(lines, sample_articles() if articles is None else articles)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m realm.data.sample_qa.check",
        description="Check a question file against the articles of the Wikipedia sample (see README.md here).",
    )
    parser.add_argument("questions", nargs="?", default=QUESTIONS_FILE, help="JSONL file (default: the shipped set)")
    parser.add_argument("--dump", default=None, help="MediaWiki dump (default: the sample in the gensim wheel)")
    args = parser.parse_args(argv)
    try:
        articles = sample_articles(args.dump)
        report = check_file(args.questions, articles)
    except (OSError, RealmError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.questions}:")
    print(report.summary())
    if report.ok:
        print("OK: every answer is in its article, every title is a sample article, no duplicates")
        return 0
    print(f"FAILED: {len(report.problems)} problem(s):", file=sys.stderr)
    for problem in report.problems:
        print(f"  {args.questions}:{problem.line}: {problem.message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
