"""Helpers shared by the benchmarks: interleaved timing of several sides, summaries of the timings, thread set-up,
and the results file."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable

RESULTS_DIR = os.path.join(os.path.dirname(__file__), "results")
MIN_ROUNDS = 10  # timed calls per side of a full (not --quick) comparison, at least


def round_order(names: list[str], round_index: int) -> list[str]:
    """The order the sides run in round `round_index`: rotated by one each round, so with two sides A runs first
    in even rounds and B in odd ones (AB, BA, AB, ...), and every side runs first equally often over len(names)
    rounds."""
    shift = round_index % len(names)
    return names[shift:] + names[:shift]


def interleaved(
    calls: dict[str, Callable[[], object]], *, rounds: int = MIN_ROUNDS, warmup: int = 1, pause: float = 0.0
) -> dict[str, list[float]]:
    """Wall-clock seconds of each call of every side, timed in interleaved rounds.

    Each round calls every side once, in `round_order` (the first side first in round 0, the next one first in
    round 1, ...), so slow drifts of the machine (thermal, other load, caches) fall on all sides alike rather than
    on whichever ran last. `warmup` untimed rounds come first, in the same rotating order. `rounds` is rounded up
    to a multiple of the number of sides, so each side runs first equally often; every side gets exactly that many
    timed calls. `pause` seconds of sleep (untimed) before every call let the previous side's worker threads, which
    spin-wait for a while after their work (OpenMP, Eigen, rayon), go idle before the next side is timed.
    Returns {side: [seconds of each timed call, in call order]}.
    """
    if not calls:
        raise ValueError("interleaved() needs at least one side to time")
    if rounds < 1 or warmup < 0:
        raise ValueError(f"rounds must be >= 1 and warmup >= 0, got rounds={rounds}, warmup={warmup}")
    names = list(calls)
    rounds = -(-rounds // len(names)) * len(names)
    for r in range(warmup):
        for name in round_order(names, r):
            calls[name]()
    durations: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in round_order(names, r):
            if pause:
                time.sleep(pause)
            start = time.perf_counter()
            calls[name]()
            durations[name].append(time.perf_counter() - start)
    return durations


def summary(seconds: list[float]) -> dict[str, float | int]:
    """Median and spread of one side's timed calls: n, median, min, max, q1, q3 (inclusive quartiles), seconds."""
    if not seconds:
        raise ValueError("no timed calls to summarise")
    q1, _, q3 = statistics.quantiles(seconds, n=4, method="inclusive") if len(seconds) > 1 else seconds * 3
    return {
        "n": len(seconds),
        "median": statistics.median(seconds),
        "min": min(seconds),
        "max": max(seconds),
        "q1": q1,
        "q3": q3,
    }


def summaries(durations: dict[str, list[float]]) -> dict[str, dict[str, float | int]]:
    return {name: summary(seconds) for name, seconds in durations.items()}


def ratio_of_medians(durations: dict[str, list[float]], slower: str, faster: str) -> float:
    """median(slower) / median(faster): how many times faster `faster` is (below 1: it is slower)."""
    return statistics.median(durations[slower]) / statistics.median(durations[faster])


def describe(seconds: list[float], per_call: float = 1.0, unit: str = "/s") -> str:
    """'<rate at the median> (min-max <rate range>)' for printing: `per_call` items per call, as items per second."""
    s = summary(seconds)
    return f"{per_call / s['median']:,.2f}{unit} ({per_call / s['max']:,.2f}-{per_call / s['min']:,.2f})"


def timing_record(durations: dict[str, list[float]], *, rounds: int, warmup: int, pause: float = 0.0) -> dict:
    """What the results files keep about how a comparison was timed, and its per-side summaries."""
    return {
        "method": "interleaved rounds: every side once per round, the side that runs first rotating each round",
        "rounds": len(next(iter(durations.values()))),
        "rounds_requested": rounds,
        "warmup_rounds": warmup,
        "pause_seconds_before_each_call": pause,
        "load_average_after": list(os.getloadavg()),
        "seconds_per_call": summaries(durations),
    }


def configure_threads(threads: int | None = None) -> dict[str, object]:
    """Give TensorFlow, torch and HF tokenizers the same number of threads (default: os.cpu_count()).

    Call it first, before TensorFlow runs any op (its thread pools are fixed then) and before HF tokenizers first
    work in parallel (the Rust pool reads RAYON_NUM_THREADS / RAYON_RS_NUM_CPUS once). Returns what was set, for the
    results file, with the load average (1, 5, 15 minutes) at the start.

    A comparison needs an otherwise idle machine: with its cores busy elsewhere, torch's OpenMP threads wait on each
    other at every parallel region (on a loaded 2-core machine, HF's tiny-model embedder ran 50x slower with 2
    threads than with 1, TensorFlow's hardly slower), so the load averages go into the results file.
    """
    n = int(threads or os.cpu_count() or 1)
    if n < 1:
        raise ValueError(f"--threads must be >= 1, got {n}")
    os.environ["RAYON_NUM_THREADS"] = str(n)
    os.environ["RAYON_RS_NUM_CPUS"] = str(n)
    os.environ["TOKENIZERS_PARALLELISM"] = "true" if n > 1 else "false"
    import tensorflow as tf
    import torch

    tf.config.threading.set_intra_op_parallelism_threads(n)
    tf.config.threading.set_inter_op_parallelism_threads(n)
    torch.set_num_threads(n)
    with contextlib.suppress(RuntimeError):  # already set, or torch already ran parallel work: keep what it has
        torch.set_num_interop_threads(n)
    return {
        "threads": n,
        "tensorflow_intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
        "tensorflow_inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        "torch_intra_op": torch.get_num_threads(),
        "torch_inter_op": torch.get_num_interop_threads(),
        "hf_tokenizers_rayon": n,
        "tokenizers_parallelism": os.environ["TOKENIZERS_PARALLELISM"],
        "load_average_at_start": list(os.getloadavg()),
    }


def add_timing_arguments(parser, *, rounds: int = MIN_ROUNDS, quick_rounds: int = 2, warmup: int = 2) -> None:
    """--threads, --rounds, --warmup, --pause and --quick, the same in every comparison benchmark;
    `check_timing_arguments` then fills in the rounds (`rounds`, or `quick_rounds` with --quick) and rejects a
    measurement under MIN_ROUNDS."""
    parser.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="threads for both sides: TF intra- and inter-op, torch, HF tokenizers (default: every core)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help=f"timed interleaved rounds, one call per side each (default {rounds}, {quick_rounds} with --quick; "
        f"at least {MIN_ROUNDS} unless --quick)",
    )
    parser.add_argument(
        "--warmup", type=int, default=warmup, help=f"untimed interleaved rounds first (default {warmup})"
    )
    parser.add_argument(
        "--pause",
        type=float,
        default=0.1,
        help="untimed seconds of sleep before every timed call, so the other side's threads are idle (default 0.1)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke check: small inputs, few rounds, results printed only (no results file written)",
    )
    parser.set_defaults(_rounds=rounds, _quick_rounds=quick_rounds)


def check_timing_arguments(parser, args) -> None:
    if args.rounds is None:
        args.rounds = args._quick_rounds if args.quick else args._rounds
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    if args.pause < 0:
        parser.error(f"--pause must be at least 0, got {args.pause}")
    if args.warmup < 0:
        parser.error(f"--warmup must be at least 0, got {args.warmup}")
    if args.rounds < (1 if args.quick else MIN_ROUNDS):
        parser.error(f"--rounds must be at least {MIN_ROUNDS} for a measurement (or use --quick), got {args.rounds}")


def cpu_model() -> str:
    """The CPU's model name and its widest vector unit (hosts differ: an AVX2-only AMD EPYC ran the main command
    1.7 times as long as an AVX-512 host, docs/main-command-runs.md); "" where /proc/cpuinfo is not readable."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            first_cpu = f.read().split("\n\n")[0].splitlines()
        fields = {
            key.strip(): value.strip() for key, value in (line.split(":", 1) for line in first_cpu if ":" in line)
        }
    except OSError:
        return ""
    name, flags = fields.get("model name", ""), fields.get("flags", "").split()
    widest = next((unit for unit in ("amx_bf16", "avx512f", "avx2") if unit in flags), "")
    return f"{name} ({widest})" if widest else name


def machine() -> dict[str, object]:
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def read_results(name: str) -> dict:
    """A results file as written, without its machine record ({} when there is none): what a benchmark that adds
    to the file merges into, read just before writing so that two runs side by side both keep theirs."""
    path = os.path.join(RESULTS_DIR, f"{name}.json")
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return {k: v for k, v in json.load(f).items() if k != "machine"}


def write_results(name: str, results: dict) -> str:
    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = os.path.join(RESULTS_DIR, f"{name}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"machine": machine(), **results}, f, indent=2)
        f.write("\n")
    return path
