"""Step metrics of the training loops (pre-training, ICT, fine-tuning): TensorBoard, the run's metrics.jsonl, and a
log line with throughput and ETA, every `log_every` steps and at the first and last step."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable


class StepLogger:
    def __init__(
        self,
        tensorboard_dir: str,
        metrics_path: str,
        *,
        total_steps: int,
        start_step: int,
        batch_size: int,
        log_every: int,
        rate_name: str,
        describe: Callable[[dict], str],
        logger: logging.Logger,
        record_every_step: bool = False,
    ):
        import tensorflow as tf

        self.writer = tf.summary.create_file_writer(tensorboard_dir)
        self.metrics_path = metrics_path
        self.total_steps, self.start_step = total_steps, start_step
        self.batch_size, self.log_every = batch_size, log_every
        self.rate_name, self.describe, self.logger = rate_name, describe, logger
        # Pre-training records every step (index staleness moves step by step); the console still gets every
        # log_every-th.
        self.record_every_step = record_every_step
        self.window_start, self.window_steps = time.time(), 0

    def step_done(self, done: int, result: dict[str, float], learning_rate: float) -> dict | None:
        """Record step `done` (1-based); returns the metrics when this step is logged."""
        self.window_steps += 1
        logged = done % self.log_every == 0 or done == self.total_steps or done == self.start_step + 1
        metrics = {**result, "step": done, "learning_rate": learning_rate}
        if logged:
            rate = self.window_steps * self.batch_size / max(time.time() - self.window_start, 1e-9)
            metrics[self.rate_name] = rate
        if logged or self.record_every_step:
            self._record(done, metrics)
        if not logged:
            return None
        eta = (self.total_steps - done) * self.batch_size / max(rate, 1e-9)
        self.logger.info("step %d/%d %s, %.1f/s, ETA %.0fs", done, self.total_steps, self.describe(metrics), rate, eta)
        self.window_start, self.window_steps = time.time(), 0
        return metrics

    def _record(self, done: int, metrics: dict[str, float]) -> None:
        import tensorflow as tf

        with self.writer.as_default(step=done):
            for name, value in metrics.items():
                if name != "step":
                    tf.summary.scalar(name, value)
        with open(self.metrics_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(metrics) + "\n")

    def close(self) -> None:
        self.writer.close()
