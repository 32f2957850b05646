"""Small timing helpers shared by the benchmarks (wall-clock, best-of-N after warm-up)."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable

RESULTS_DIR = os.path.join(os.path.dirname(__file__), "results")


def time_per_call(fn: Callable[[], object], *, warmup: int = 2, min_seconds: float = 5.0, min_calls: int = 3) -> float:
    """Median seconds per call of `fn` after `warmup` calls, running at least `min_seconds` in total."""
    for _ in range(warmup):
        fn()
    durations: list[float] = []
    start = time.perf_counter()
    while len(durations) < min_calls or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        durations.append(time.perf_counter() - t0)
    durations.sort()
    return durations[len(durations) // 2]


def machine() -> dict[str, object]:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


def write_results(name: str, results: dict) -> str:
    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = os.path.join(RESULTS_DIR, f"{name}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"machine": machine(), **results}, f, indent=2)
        f.write("\n")
    return path
