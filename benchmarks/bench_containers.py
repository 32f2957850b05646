"""The pipeline in its container images: build time and size of the images, and the wall-clock time of whole
pipeline runs with `realm pipeline run --local --runner docker` (every task in the image the compiled YAML names).

Needs an engine answering the Docker API (Docker, or Podman's service with DOCKER_HOST set). Each run uses the
preset's own defaults on the Wikipedia sample (the README's main command, in containers) and checks that the
pushed model answers. Results merge into benchmarks/results/containers.json: a figure is replaced only by a run
that measures it again.

Run: python -m benchmarks.bench_containers [--build cpu gpu] [--no-cache] [--run tiny minilm] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time

from benchmarks.common import read_results, write_results

NAME = "containers"


def build(variant: str, no_cache: bool) -> dict:
    """docker/build.sh for one image: its reference, size and build time (cold with no_cache, else what the
    engine's layer cache left to do)."""
    from pipeline.containers import BUILD_SCRIPT

    extra = os.environ.get("EXTRA_BUILD_ARGS", "")
    command = ["bash", BUILD_SCRIPT, f"--{variant}-only", *(["--no-cache"] if no_cache else [])]
    line = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()[-1]
    ref, size, seconds = line.split()
    return {
        "image": ref,
        "size_bytes": int(size),
        "size_gb": round(int(size) / 1e9, 2),
        "build_seconds": int(seconds),
        # --layers=false (EXTRA_BUILD_ARGS) caches no layer either: the build starts from the base image too.
        "layer_cache": "none" if no_cache or "--layers=false" in extra else "used",
        "extra_build_args": extra,
    }


def run(preset: str, out: str) -> dict:
    """The whole pipeline of `preset` in containers, timed, and the pushed model asked one question."""
    from pipeline.cli import run_local
    from realm.export.saved_model import answer_locally

    shutil.rmtree(out, ignore_errors=True)
    started = time.time()
    summary = run_local(out, preset, runner="docker")
    minutes = round((time.time() - started) / 60, 1)
    answer = answer_locally(summary["pushed_model"], ["who was the 16th president of the united states"])[0]
    evaluation = summary.get("evaluation", {})
    return {
        "minutes": minutes,
        "blessed": summary.get("blessed"),
        "exact_match": evaluation.get("exact_match"),
        "questions": evaluation.get("questions"),
        "answer_to_a_test_question": answer["answer"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", nargs="*", choices=["cpu", "gpu"], default=["cpu"], help="images to (re)build")
    parser.add_argument("--no-cache", action="store_true", help="build from scratch (the cold build time)")
    parser.add_argument("--run", nargs="*", choices=["tiny", "minilm"], default=["tiny"], help="presets to run")
    parser.add_argument("--out", default="outputs/bench-containers", metavar="DIR")
    args = parser.parse_args()

    from pipeline.containers import docker_client
    from realm.version import pipeline_version

    docker_client()  # a clear error before any work when no engine answers
    # Pinned: a commit made during the benchmark must not change the tag between the build and the runs.
    os.environ["REALM_PIPELINE_VERSION"] = version = pipeline_version()
    measured: dict[str, dict] = {"images": {}, "runs_in_containers": {}}
    for variant in args.build:
        measured["images"][variant] = {**build(variant, args.no_cache), "pipeline_version": version}
        print(json.dumps(measured["images"][variant]))
    for preset in args.run:
        figures = run(preset, os.path.join(args.out, preset))
        measured["runs_in_containers"][preset] = {**figures, "image_version": version}
        print(preset, json.dumps(measured["runs_in_containers"][preset]))
    print(write_results(NAME, _merged(measured)))


def _merged(measured: dict[str, dict]) -> dict:
    """The results file with this run's figures in place of the ones it measured again (read at the end, so two
    benchmarks run side by side, e.g. a build and a run, both keep theirs)."""
    results = read_results(NAME)
    for section, figures in measured.items():
        results[section] = {**results.get(section, {}), **figures}
    return results


if __name__ == "__main__":
    main()
