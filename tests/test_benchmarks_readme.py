"""benchmarks/README.md is generated from benchmarks/results/: a stale table, or a result file whose headline
figures nobody chose, fails here."""

import json
import os
import shutil

from benchmarks.make_readme import README, RESULTS_DIR, UNCLAIMED, render, run_line, table_rows


def _copy_results(tmp_path) -> str:
    copy = tmp_path / "results"
    shutil.copytree(RESULTS_DIR, copy, ignore=shutil.ignore_patterns("*.jsonl", "*.png"))
    return str(copy)


def test_readme_is_what_make_readme_writes_from_the_results():
    with open(README, encoding="utf-8") as f:
        committed = f.read()
    assert committed == render(), "benchmarks/README.md is stale: run `python -m benchmarks.make_readme`"


def test_a_changed_result_makes_the_committed_table_stale(tmp_path):
    results = _copy_results(tmp_path)
    path = os.path.join(results, "half_precision.json")
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    data["synthetic"]["search_latency_ms"]["chunk_65536"]["batch_32"]["float16"] = 999.0
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f)
    with open(README, encoding="utf-8") as f:
        committed = f.read()
    regenerated = render(results)
    assert regenerated != committed
    assert "| 472 / 999 ms |" in regenerated


def test_a_new_result_file_without_headline_figures_is_flagged(tmp_path):
    results = _copy_results(tmp_path)
    with open(os.path.join(results, "new_benchmark.json"), "w", encoding="utf-8") as f:
        json.dump({"seconds": 1.0}, f)
    assert [r for r in table_rows(results) if r[1] == UNCLAIMED] == [
        ("new_benchmark.json", UNCLAIMED, "", "new_benchmark.json", "")
    ]


def test_every_result_file_has_headline_figures():
    unclaimed = [r[3] for r in table_rows() if r[1] == UNCLAIMED]
    assert not unclaimed, f"no extractor in benchmarks/make_readme.py for {unclaimed}"
    files = {r[3].split(" → ")[0] for r in table_rows()}
    assert "demo_pretraining_mlm_warmup_lr5e-5/recall-before.json" in files  # the worst runs are listed too
    assert "demo_pretraining/recall-before.json" in files


def test_the_command_is_the_modules_run_line_with_its_continuations():
    assert run_line("bench_tokenization") == "python -m benchmarks.bench_tokenization"
    probe = run_line("probe_reader_copying")
    assert probe.startswith("python -m benchmarks.probe_reader_copying --data outputs/corpus128")
    assert probe.endswith("--out benchmarks/results/probe_reader_copying/span.json") and "\\" not in probe
    assert run_line("bench_presets").startswith("python -m benchmarks.bench_presets")  # no Run: line, a usage line
