"""Seconds per ICT step with and without XLA, in interleaved processes: is `jit_compile` still worth it on CPU?

The `minilm` recipe compiles the ICT and pre-training steps with XLA (`Recipe.jit_compile`), chosen when the
tiny test model did not pay off and MiniLM did. On a slower machine a quick probe (an embedder's train step
alone) ran faster without XLA, so this times the warm-start step's own work: `realm ict` with
the preset's ICT settings for `--steps` steps, with and without `--no-jit`, the two sides alternating (A B, then
B A, ...) so the machine's drifts fall on both. Per process the rate of each logged interval after the first
(which holds the tracing and compilation) is read from its metrics.jsonl; the process's wall time, start-up
included, is recorded too.

Run: python -m benchmarks.bench_xla --corpus DIR [--steps 40] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

from benchmarks.common import round_order, write_results

NAME = "xla"
SIDES = {"xla": [], "no_xla": ["--no-jit"]}


def ict_command(corpus: str, out: str, steps: int, log_every: int, preset: str) -> list[str]:
    """`realm ict` as the pipeline's warm-start step runs it for the preset, for `steps` steps."""
    from realm.presets import get

    recipe = get(preset).recipe
    return [
        sys.executable, "-m", "realm.cli", "ict", "--preset", preset, "--data", corpus, "--out", out,
        "--init-bert", "minilm", "--steps", str(steps), "--batch-size", str(recipe.ict_batch_size),
        "--learning-rate", str(recipe.ict_learning_rate), "--warmup-steps", str(max(1, steps // 10)),
        "--query-seq-len", str(recipe.query_seq_len), "--candidate-seq-len", str(recipe.candidate_seq_len),
        "--log-every", str(log_every), "--checkpoint-every", str(steps),
    ]  # fmt: skip


def time_side(command: list[str], out: str, batch_size: int) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    with open(os.path.join(out, "metrics.jsonl"), encoding="utf-8") as f:
        rates = [json.loads(line)["examples_per_second"] for line in f if line.strip()]
    # The first logged interval holds the tracing (and, with XLA, the compilation): left out.
    return {"wall_seconds": round(wall, 1), "step_seconds": [round(batch_size / r, 3) for r in rates[1:]]}


def main() -> None:
    from realm.presets import get

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True, metavar="DIR", help="`realm preprocess` output")
    parser.add_argument("--preset", default="minilm")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2, help="processes per side, interleaved")
    parser.add_argument("--out", default="outputs/bench-xla", metavar="DIR")
    args = parser.parse_args()
    batch_size = get(args.preset).recipe.ict_batch_size
    runs: dict[str, list[dict]] = {side: [] for side in SIDES}
    for r in range(args.rounds):
        for side in round_order(list(SIDES), r):
            out = os.path.join(args.out, f"{side}-{r}")
            command = ict_command(args.corpus, out, args.steps, args.log_every, args.preset) + SIDES[side]
            print(f"round {r + 1}/{args.rounds}: {side}", flush=True)
            runs[side].append(time_side(command, out, batch_size))
    sides = {}
    for side, measured in runs.items():
        steps = [s for m in measured for s in m["step_seconds"]]
        sides[side] = {
            "runs": measured,
            "median_step_seconds": round(statistics.median(steps), 3),
            "mean_step_seconds": round(statistics.mean(steps), 3),
            "mean_wall_seconds": round(statistics.mean(m["wall_seconds"] for m in measured), 1),
        }
    result = {
        "preset": args.preset,
        "corpus": args.corpus,
        "method": f"`realm ict`, {args.steps} steps of {batch_size}, {args.rounds} interleaved processes a side; "
        f"the rate of each {args.log_every}-step interval after the first",
        "sides": sides,
        "no_xla_over_xla": round(sides["no_xla"]["mean_step_seconds"] / sides["xla"]["mean_step_seconds"], 3),
    }
    print(json.dumps(result, indent=1))
    print(write_results(NAME, result))


if __name__ == "__main__":
    main()
