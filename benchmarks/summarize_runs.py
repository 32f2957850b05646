"""Small summaries of training runs from their per-step logs, so the raw logs need not be kept.

For every `metrics*.jsonl` in each directory given (a `realm pretrain` or `realm ict` run's `metrics.jsonl`, or a
copy of it renamed `metrics-NAME.jsonl` in a results directory), writes `summary*.json` beside it
(`metrics-realm.jsonl` -> `summary-realm.json`). A pre-training log is cut into its phases: the MLM warm-up
(`retriever_frozen` 1, the retriever frozen) and the REALM steps (the retriever trains; a log without the key is
all REALM steps). For each phase:
- `steps`: the first and last step logged;
- for the loss, the retrieval utility (log-probability of the span under the marginal minus under the null
  document) and p(null document | x): the first and last logged value, the mean of the first and the last
  window, and the mean of every window (25 steps when the phase has at most 400, 100 steps otherwise), each
  window named by the steps it covers;
- examples/s (median, min, max), index staleness in steps (min, mean, max) and the index versions used.
An ICT log (`in_batch_accuracy`, no retrieval) gets its loss and in-batch accuracy, first and last and at every
logged step, and its examples/s. Means are rounded to 4 decimals.

A directory whose log has been deleted keeps the summary written from it: the script writes only the summaries
of the logs it finds.

Run: python -m benchmarks.summarize_runs benchmarks/results/demo_pretraining_control [RUN_DIR ...]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics

SERIES = ("loss", "retrieval_utility", "null_document_prob")
SMALL_PHASE_STEPS = 400
DIGITS = 4


def _round(value: float) -> float:
    return round(float(value), DIGITS)


def read_log(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _windows(rows: list[dict], first: int, last: int) -> list[tuple[int, int, list[dict]]]:
    """Consecutive windows of the phase's step range, each with the rows logged in it (empty ones dropped)."""
    size = 25 if last - first + 1 <= SMALL_PHASE_STEPS else 100
    out = []
    for start in range(first, last + 1, size):
        end = min(start + size - 1, last)
        inside = [r for r in rows if start <= r["step"] <= end]
        if inside:
            out.append((start, end, inside))
    return out


def _mean(rows: list[dict], key: str) -> float | None:
    values = [r[key] for r in rows if key in r]
    return _round(statistics.fmean(values)) if values else None


def summarize_phase(rows: list[dict]) -> dict:
    first, last = rows[0]["step"], rows[-1]["step"]
    windows = _windows(rows, first, last)
    phase: dict = {"steps": [first, last], "logged_steps": len(rows)}
    for key in SERIES:
        if not any(key in r for r in rows):
            continue
        values = [r[key] for r in rows if key in r]
        phase[key] = {
            "first": _round(values[0]),
            "last": _round(values[-1]),
            "first_window_mean": _mean(windows[0][2], key),
            "last_window_mean": _mean(windows[-1][2], key),
        }
    phase["windows"] = [
        {"steps": [start, end], **{key: _mean(inside, key) for key in SERIES if any(key in r for r in inside)}}
        for start, end, inside in windows
    ]
    speed = [r["examples_per_second"] for r in rows if "examples_per_second" in r]
    if speed:
        phase["examples_per_second"] = {
            "median": _round(statistics.median(speed)),
            "min": _round(min(speed)),
            "max": _round(max(speed)),
        }
    stale = [r["staleness_steps"] for r in rows if "staleness_steps" in r]
    if stale:
        phase["staleness_steps"] = {"min": min(stale), "mean": _round(statistics.fmean(stale)), "max": max(stale)}
    versions = sorted({r["index_version"] for r in rows if "index_version" in r})
    if versions:
        phase["index_versions"] = {"count": len(versions), "first": versions[0], "last": versions[-1]}
    restarts = [r["sidecar_restarts"] for r in rows if "sidecar_restarts" in r]
    if restarts:
        phase["sidecar_restarts"] = max(restarts)
    return phase


def summarize_log(rows: list[dict], name: str) -> dict:
    rows = sorted(rows, key=lambda r: r["step"])
    summary: dict = {"log": name, "logged_steps": len(rows), "steps": rows[-1]["step"]}
    if any("in_batch_accuracy" in r for r in rows):
        summary["kind"] = "ict"
        summary["loss"] = {"first": _round(rows[0]["loss"]), "last": _round(rows[-1]["loss"])}
        summary["in_batch_accuracy"] = {
            "first": _round(rows[0]["in_batch_accuracy"]),
            "last": _round(rows[-1]["in_batch_accuracy"]),
        }
        speed = [r["examples_per_second"] for r in rows]
        summary["examples_per_second"] = {
            "median": _round(statistics.median(speed)),
            "min": _round(min(speed)),
            "max": _round(max(speed)),
        }
        summary["curve"] = [
            {"step": r["step"], "loss": _round(r["loss"]), "in_batch_accuracy": _round(r["in_batch_accuracy"])}
            for r in rows
        ]
        return summary
    summary["kind"] = "pretrain"
    warm_up = [r for r in rows if r.get("retriever_frozen") == 1]
    realm = [r for r in rows if r.get("retriever_frozen", 0) == 0]
    summary["phases"] = {}
    if warm_up:
        summary["phases"]["warm_up"] = summarize_phase(warm_up)
    if realm:
        summary["phases"]["realm"] = summarize_phase(realm)
    return summary


def summary_name(log_name: str) -> str:
    """`metrics.jsonl` -> `summary.json`, `metrics-realm.jsonl` -> `summary-realm.json`."""
    stem = os.path.basename(log_name)[: -len(".jsonl")]
    return "summary" + stem[len("metrics") :] + ".json"


def summarize_dir(run_dir: str) -> list[str]:
    written = []
    for log in sorted(glob.glob(os.path.join(run_dir, "metrics*.jsonl"))):
        summary = summarize_log(read_log(log), os.path.basename(log))
        out = os.path.join(run_dir, summary_name(log))
        with open(out, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=1)
            f.write("\n")
        written.append(out)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", help="directories holding metrics*.jsonl")
    args = parser.parse_args()
    for run_dir in args.run_dirs:
        written = summarize_dir(run_dir)
        print(run_dir, "->", ", ".join(os.path.basename(p) for p in written) or "no metrics*.jsonl")


if __name__ == "__main__":
    main()
