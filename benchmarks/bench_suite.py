"""How long the README's test command takes here: the unit suite (`python -m pytest`, its default options: xdist
workers, heavy/gpu/container tests deselected) timed end to end, with its pass/fail counts.

Run: python -m benchmarks.bench_suite
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

from benchmarks.common import write_results

NAME = "suite"


def main() -> None:
    started = time.time()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], capture_output=True, text=True
    )
    minutes = round((time.time() - started) / 60, 1)
    summary = (done.stdout.strip().splitlines() or [""])[-1]
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|skipped|deselected|errors?)", summary)}
    # A failing run says which tests failed (pytest's short summary), so it need not be run again to find out.
    failures = re.findall(r"^(?:FAILED|ERROR) (\S+)", done.stdout, flags=re.MULTILINE)
    print("\n".join([*failures, summary]))
    record = {"command": "python -m pytest", "minutes": minutes, "exit_code": done.returncode, **counts}
    if failures:
        record["failures"] = failures
    print(write_results(NAME, record))


if __name__ == "__main__":
    main()
