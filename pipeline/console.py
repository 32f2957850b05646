"""What `realm pipeline run` shows a person: the project's own log lines and a line per step, not kfp.local's stream.

kfp.local prints every task's whole output: the executor input as JSON, TensorFlow's C++ logs, CUDA probing on
machines without a GPU, KFP's warnings. A tiny run printed about 990 lines, 51 of them the project's. Quiet (the
default), everything still goes to `<out>/pipeline.log`, and the console gets the `realm.*` log lines (progress,
ETA, where outputs went), one line as each step starts and ends, and, when a step fails, the error that ended it.
`realm -v pipeline run` streams everything as before.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
import time
import warnings
from collections.abc import Iterator

ANSI = re.compile(r"\x1b\[[0-9;]*m")
STARTED = re.compile(r"Executing task '?([\w-]+?)(?:-op)?'?\s*$")
FINISHED = re.compile(r"Task '?([\w-]+?)(?:-op)?'? finished with status (\w+)")
PROJECT_LINE = re.compile(r"^\s*\d{4}-\d\d-\d\d [\d:,.]+ (INFO|WARNING|ERROR) (realm[\w.]*): (.*)$")
ERROR_LINE = re.compile(r"^\s*((?:[A-Za-z_][\w.]*)?(?:Error|Exception|Exit)\w*): (.+)$")


class StepConsole(io.TextIOBase):
    """A stdout stand-in: writes everything to the run's log file and shows the lines a person needs."""

    def __init__(self, log, console):
        self.log, self.console = log, console
        self.pending = ""
        self.started: dict[str, float] = {}

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.log.write(text)
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self._show(ANSI.sub("", line))
        return len(text)

    def flush(self) -> None:
        self.log.flush()
        self.console.flush()

    def _show(self, line: str) -> None:
        if match := STARTED.search(line):
            self.started[match.group(1)] = time.time()
            print(f"[{time.strftime('%H:%M:%S')}] step {match.group(1)}: started", file=self.console)
        elif match := FINISHED.search(line):
            step, status = match.groups()
            minutes = (time.time() - self.started.get(step, time.time())) / 60
            print(f"[{time.strftime('%H:%M:%S')}] step {step}: {status.lower()} ({minutes:.1f} min)", file=self.console)
        elif match := PROJECT_LINE.match(line):
            level, name, message = match.groups()
            print(f"  {'' if level == 'INFO' else level + ' '}{name}: {message}", file=self.console)


@contextlib.contextmanager
def quiet(log_path: str, verbose: bool) -> Iterator[None]:
    """Route kfp.local's output to `log_path`, showing only the project's lines and the steps (not when verbose)."""
    if verbose:
        yield
        return
    console = sys.stderr
    with (
        open(log_path, "a", encoding="utf-8") as log,
        contextlib.redirect_stdout(StepConsole(log, console)) as tee,
        contextlib.redirect_stderr(tee),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")  # kfp.local's per-task notes (settings it ignores, base images)
        print(f"kfp.local's full log: {log_path}", file=console)
        yield


def failure_cause(log_path: str, step: str) -> str | None:
    """The error that ended `step`, from the run's log: the last `SomeError: message` line of its output."""
    try:
        with open(log_path, encoding="utf-8", errors="replace") as f:
            text = ANSI.sub("", f.read())
    except OSError:
        return None
    start = max(text.rfind(f"Executing task '{step}-op'"), text.rfind(f"Executing task '{step}'"), 0)
    causes = [m.group(0).strip() for line in text[start:].splitlines() if (m := ERROR_LINE.match(line))]
    causes = [c for c in causes if not c.startswith(("RuntimeError: Task", "RuntimeError: Pipeline"))]
    return causes[-1][:500] if causes else None
