"""benchmarks.common: interleaved timing alternates which side runs first and gives every side the same count."""

import argparse

import pytest

from benchmarks.common import (
    MIN_ROUNDS,
    add_timing_arguments,
    check_timing_arguments,
    interleaved,
    ratio_of_medians,
    round_order,
    summary,
)


def _logging_calls(log: list[str], *names: str) -> dict:
    return {name: (lambda name=name: log.append(name)) for name in names}


def test_two_sides_alternate_which_runs_first_and_get_the_same_count():
    log: list[str] = []
    durations = interleaved(_logging_calls(log, "ours", "hf"), rounds=4, warmup=1)
    # warm-up round 0 (untimed), then timed rounds 0-3: AB BA AB BA
    assert log == ["ours", "hf", "ours", "hf", "hf", "ours", "ours", "hf", "hf", "ours"]
    assert {k: len(v) for k, v in durations.items()} == {"ours": 4, "hf": 4}
    assert all(s >= 0 for v in durations.values() for s in v)


def test_rounds_round_up_so_each_of_three_sides_runs_first_equally_often():
    log: list[str] = []
    durations = interleaved(_logging_calls(log, "a", "b", "c"), rounds=4, warmup=0)
    assert {k: len(v) for k, v in durations.items()} == {"a": 6, "b": 6, "c": 6}
    firsts = log[::3]
    assert firsts == ["a", "b", "c", "a", "b", "c"]
    assert round_order(["a", "b", "c"], 1) == ["b", "c", "a"]


def test_warmup_calls_are_not_timed_and_bad_counts_are_refused():
    log: list[str] = []
    durations = interleaved(_logging_calls(log, "x", "y"), rounds=2, warmup=3)
    assert len(log) == 2 * (3 + 2)
    assert [len(v) for v in durations.values()] == [2, 2]
    with pytest.raises(ValueError):
        interleaved(_logging_calls(log, "x"), rounds=0)
    with pytest.raises(ValueError):
        interleaved({}, rounds=3)


def test_summary_and_ratio_of_medians():
    s = summary([3.0, 1.0, 2.0, 10.0, 4.0])
    assert (s["n"], s["median"], s["min"], s["max"], s["q1"], s["q3"]) == (5, 3.0, 1.0, 10.0, 2.0, 4.0)
    assert summary([2.0])["q1"] == summary([2.0])["q3"] == 2.0
    assert ratio_of_medians({"hf": [4.0, 6.0, 5.0], "ours": [1.0, 2.0, 9.0]}, "hf", "ours") == 2.5


def test_a_measurement_needs_the_minimum_rounds_unless_quick():
    parser = argparse.ArgumentParser()
    add_timing_arguments(parser, rounds=20, quick_rounds=2)
    args = parser.parse_args([])
    check_timing_arguments(parser, args)
    assert (args.rounds, args.threads >= 1) == (20, True)
    quick = parser.parse_args(["--quick"])
    check_timing_arguments(parser, quick)
    assert quick.rounds == 2
    with pytest.raises(SystemExit):
        check_timing_arguments(parser, parser.parse_args(["--rounds", str(MIN_ROUNDS - 1)]))
