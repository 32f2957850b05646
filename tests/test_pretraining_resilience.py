"""Pre-training runs that are killed: a SIGKILLed trainer resumes from its last checkpoint, and a sidecar killed
mid-write is restarted without ever exposing a half-written index (tiny model, slice of the real sample)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

from tests.conftest import run_metrics

TINY_ARGS = [
    "--preset", "tiny", "--batch-size", "8", "--query-seq-len", "32", "--candidate-seq-len", "64",
    "--learning-rate", "2e-3", "--warmup-steps", "10", "--log-every", "5",
]  # fmt: skip


def test_sigkilled_run_resumes_from_its_last_checkpoint(slice_corpus, tmp_path):
    run = str(tmp_path / "run")
    command = [sys.executable, "-m", "realm.cli", "pretrain", "--data", slice_corpus, "--out", run, *TINY_ARGS]
    command += ["--steps", "60", "--refresh-every", "10", "--checkpoint-every", "10", "--no-jit"]
    log_path = tmp_path / "first.log"
    with open(log_path, "w") as log:
        first = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    # ckpt-20 counts once CheckpointManager has published it in its `checkpoint` file, not when its first file
    # appears: a kill between the two (seen on loaded cores) rightly resumes from ckpt-10.
    state = os.path.join(run, "checkpoints", "checkpoint")

    def published() -> bool:
        return os.path.exists(state) and 'model_checkpoint_path: "ckpt-20"' in open(state).read()

    deadline = time.time() + 300
    while not published() and first.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert published(), log_path.read_text()[-3000:]
    first.send_signal(signal.SIGKILL)
    first.wait()
    sidecar_pid = int(re.search(r"started refresh sidecar \(pid (\d+)\)", log_path.read_text()).group(1))
    deadline = time.time() + 30
    while _running(sidecar_pid) and time.time() < deadline:
        time.sleep(0.5)
    assert not _running(sidecar_pid), "the sidecar outlived its killed trainer"
    killed_at = max(m["step"] for m in run_metrics(run))
    assert 20 <= killed_at < 60

    second = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    resumed = int(re.search(r"resumed pre-training from \S+ at step (\d+)", second.stderr).group(1))
    assert 20 <= resumed <= killed_at and killed_at - resumed <= 10  # at most one checkpoint interval lost
    assert json.loads(second.stdout[second.stdout.index("{") :])["step"] == 60
    assert run_metrics(run)[-1]["step"] == 60


def test_sidecar_killed_mid_write_is_restarted_and_never_exposes_a_partial_index(slice_corpus, tmp_path):
    from realm.pretraining.refresh import PAUSE_ENV
    from realm.retrieval.index import BlockIndex, latest_version

    run = str(tmp_path / "run")
    index_dir = os.path.join(run, "index")
    command = [sys.executable, "-m", "realm.cli", "pretrain", "--data", slice_corpus, "--out", run, *TINY_ARGS]
    command += ["--steps", "40", "--refresh-every", "10", "--checkpoint-every", "20", "--no-jit"]
    log_path = tmp_path / "trainer.log"
    with open(log_path, "w") as log:  # every publish pauses 3 s after writing its version, before the rename
        trainer = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, PAUSE_ENV: "3"})
    deadline = time.time() + 300

    def staging_after_first() -> bool:
        names = os.listdir(index_dir) if os.path.isdir(index_dir) else []
        return latest_version(index_dir) is not None and any(n.startswith(".staging-") for n in names)

    while not staging_after_first():
        assert trainer.poll() is None and time.time() < deadline, log_path.read_text()[-3000:]
        time.sleep(0.1)
    published_before = latest_version(index_dir)
    sidecar_pid = int(re.findall(r"started refresh sidecar \(pid (\d+)\)", log_path.read_text())[-1])
    os.kill(sidecar_pid, signal.SIGKILL)
    # The half-written version is never what LATEST names, and the published one still loads.
    assert latest_version(index_dir) == published_before
    assert BlockIndex.load_latest(index_dir).embedder_step == int(published_before[1:])

    assert trainer.wait(timeout=600) == 0, log_path.read_text()[-3000:]
    log = log_path.read_text()
    assert re.search(r"refresh sidecar exited with -9; restarting \(1/3\)", log), log[-3000:]
    metrics = run_metrics(run)
    assert metrics[-1]["step"] == 40 and metrics[-1]["sidecar_restarts"] >= 1
    assert BlockIndex.load_latest(index_dir).embedder_step == 40  # the restarted sidecar indexed the final embedder


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False
