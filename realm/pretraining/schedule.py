"""BERT/REALM learning-rate schedule: linear warm-up, then linear decay to zero."""

from __future__ import annotations

import keras
from keras import ops


def realm_warmup_steps(total_steps: int) -> int:
    """REALM's rule: min(10000, max(100, steps/10)), but never more than the run itself."""
    return min(total_steps, min(10_000, max(100, total_steps // 10)))


@keras.saving.register_keras_serializable(package="realm")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, peak_learning_rate: float, total_steps: int, warmup_steps: int):
        self.peak_learning_rate = peak_learning_rate
        self.total_steps = max(1, total_steps)
        self.warmup_steps = max(0, warmup_steps)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = ops.cast(max(1, self.warmup_steps), "float32")
        total = ops.cast(self.total_steps, "float32")
        warm = self.peak_learning_rate * step / warmup
        decay_span = ops.maximum(total - warmup, 1.0)
        decayed = self.peak_learning_rate * ops.maximum(0.0, (total - step) / decay_span)
        return ops.where(step < warmup, warm, decayed)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
        }
