"""Starting and supervising the refresh sidecar as a child process of the trainer.

KFP v2 has no sidecar containers and kfp.local runs one task at a time, so the refresher runs as a child
process of the training task; the same code then behaves identically on a laptop and on a cluster node.
A sidecar that dies is restarted (up to a bound) while training goes on with the last published index.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time

logger = logging.getLogger(__name__)


class SidecarSupervisor:
    def __init__(self, args: list[str], log_path: str, max_restarts: int = 3, env: dict[str, str] | None = None):
        self.command = [sys.executable, "-m", "realm.cli", "refresh", *args, "--parent-pid", str(os.getpid())]
        self.log_path = log_path
        self.max_restarts = max_restarts
        self.env = {**os.environ, **(env or {})}
        self.restarts = 0
        self.process: subprocess.Popen | None = None
        self._log_file = None

    def start(self) -> None:
        os.makedirs(os.path.dirname(self.log_path) or ".", exist_ok=True)
        self._log_file = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the child
        self.process = subprocess.Popen(self.command, stdout=self._log_file, stderr=subprocess.STDOUT, env=self.env)
        logger.info("started refresh sidecar (pid %d), log: %s", self.process.pid, self.log_path)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check(self) -> None:
        """Restart a dead sidecar while restarts remain; otherwise keep training on the stale index."""
        if self.process is None or self.alive:
            return
        code = self.process.returncode
        if self.restarts >= self.max_restarts:
            if self.restarts == self.max_restarts:
                logger.error(
                    "refresh sidecar exited with %s and the restart budget (%d) is spent; training "
                    "continues on the last published index",
                    code,
                    self.max_restarts,
                )
                self.restarts += 1
            return
        self.restarts += 1
        logger.warning("refresh sidecar exited with %s; restarting (%d/%d)", code, self.restarts, self.max_restarts)
        self.start()

    def stop(self, timeout: float = 600.0) -> int | None:
        """Wait for a clean exit after TRAINING_DONE; terminate it if it does not come in time."""
        if self.process is None:
            return None
        deadline = time.time() + timeout
        while self.alive and time.time() < deadline:
            time.sleep(0.2)
        if self.alive:
            logger.warning("refresh sidecar did not exit in %.0fs; terminating it", timeout)
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self._log_file:
            self._log_file.close()
        return self.process.returncode
