"""The extra held-out question set is exactly the training-size run's new questions, none of the sample's."""

import pytest

from benchmarks.extra_dev_questions import MORE_TRAIN, OUT, SAMPLE, extra_questions, read_jsonl


def test_committed_file_is_what_the_script_writes():
    extra = extra_questions(read_jsonl(MORE_TRAIN), read_jsonl(SAMPLE))
    assert read_jsonl(OUT) == extra
    assert len(extra) == 379
    assert {q["split"] for q in extra} == {"dev"}
    assert not {q["question"] for q in extra} & {q["question"] for q in read_jsonl(SAMPLE)}


def test_a_file_that_is_not_the_sample_plus_new_questions_is_refused():
    sample = [{"question": "a", "answer": ["x"], "split": "train"}, {"question": "b", "answer": ["y"], "split": "dev"}]
    more = [*sample, {"question": "c", "answer": ["z"], "split": "train"}]
    assert [q["question"] for q in extra_questions(more, sample)] == ["c"]
    with pytest.raises(ValueError, match="sample set plus new questions"):
        extra_questions(more[1:], sample)  # a sample question missing


def test_questions_load_as_dev_split():
    from realm.finetuning.questions import QuestionFileError, load_questions

    assert len(load_questions(OUT, "dev")) == 379
    with pytest.raises(QuestionFileError, match="no question of split 'train'"):
        load_questions(OUT, "train")
