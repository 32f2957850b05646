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


def realm_schedule(peak_learning_rate: float, total_steps: int, warmup_steps: int | None) -> WarmupLinearDecay:
    """REALM's schedule over `total_steps`: warm-up (`warmup_steps`, or REALM's rule when None), then linear decay."""
    warmup = warmup_steps if warmup_steps is not None else realm_warmup_steps(total_steps)
    return WarmupLinearDecay(peak_learning_rate, total_steps, warmup)


@keras.saving.register_keras_serializable(package="realm")
class PhasedSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """One schedule up to `boundary`, then another counted from there: fine-tuning's training questions can restart
    the rate after the cloze steps instead of inheriting the tail of one decay over both phases."""

    def __init__(self, first, boundary: int, second):
        self.first = keras.optimizers.schedules.deserialize(first) if isinstance(first, dict) else first
        self.second = keras.optimizers.schedules.deserialize(second) if isinstance(second, dict) else second
        self.boundary = int(boundary)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        boundary = ops.cast(self.boundary, "float32")
        return ops.where(step < boundary, self.first(step), self.second(ops.maximum(step - boundary, 0.0)))

    def get_config(self):
        return {
            "first": keras.optimizers.schedules.serialize(self.first),
            "boundary": self.boundary,
            "second": keras.optimizers.schedules.serialize(self.second),
        }


NO_DECAY = ["layer_norm", "bias", "attention_ln", "output_ln"]  # BERT: no weight decay on norms and biases


class ScaledRateAdamW(keras.optimizers.AdamW):
    """AdamW in which some variables learn at a multiple of the scheduled rate.

    Open-QA fine-tuning moves two networks, the question tower and the reader, and the rate each wants can differ
    (`FinetuneConfig.reader_learning_rate`). One optimizer keeps them on one schedule, one step counter and one
    global gradient clip; two optimizers would clip apart and, when cloze steps train the reader alone, count steps
    apart. Some variables may also follow a schedule of their own (`follow_schedule`), their decay too. Decoupled
    weight decay stays at the (unscaled) scheduled rate (rate x 0.01 a step, 1e-6 at 1e-4: negligible).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._rate_scales: dict = {}
        self._rate_schedules: dict = {}

    def scale_learning_rate(self, variables, scale: float) -> None:
        """`variables` learn at `scale` times the scheduled rate from now on."""
        for variable in variables:
            self._rate_scales[self._var_key(variable)] = float(scale)

    def follow_schedule(self, variables, schedule) -> None:
        """`variables` take their rate from `schedule` (of the same step counter) instead of the optimizer's: after
        cloze steps the reader can restart its rate while the question tower keeps the one schedule's tail."""
        for variable in variables:
            self._rate_schedules[self._var_key(variable)] = schedule

    def _apply_weight_decay(self, variables):
        """Decoupled decay at each variable's own schedule's rate where it follows one (else the optimizer's)."""
        own = [v for v in variables if self._var_key(v) in self._rate_schedules]
        super()._apply_weight_decay([v for v in variables if self._var_key(v) not in self._rate_schedules])
        if self.weight_decay is None:
            return
        for variable in own:
            if self._use_weight_decay(variable):
                rate = ops.cast(self._rate_schedules[self._var_key(variable)](self.iterations), variable.dtype)
                variable.assign(variable - variable * ops.cast(self.weight_decay, variable.dtype) * rate)

    def update_step(self, gradient, variable, learning_rate):
        schedule = self._rate_schedules.get(self._var_key(variable))
        if schedule is not None:
            learning_rate = ops.cast(schedule(self.iterations), learning_rate.dtype)
        scale = self._rate_scales.get(self._var_key(variable), 1.0)
        return super().update_step(gradient, variable, learning_rate * scale if scale != 1.0 else learning_rate)


def bert_adamw(
    peak_learning_rate: float,
    total_steps: int,
    warmup_steps: int | None,
    weight_decay: float,
    clip_norm: float,
    ema_momentum: float | None = None,
    schedule: keras.optimizers.schedules.LearningRateSchedule | None = None,
) -> tuple[ScaledRateAdamW, keras.optimizers.schedules.LearningRateSchedule]:
    """BERT's AdamW (epsilon 1e-6, decoupled decay except norms/biases, global clipping) on the REALM schedule;
    the one optimizer of pre-training, ICT and fine-tuning. With `ema_momentum` it also keeps an exponential moving
    average of the trained variables, which `finalize_variable_values` writes into them. A `schedule` given
    replaces the REALM schedule that the first three arguments describe."""
    schedule = schedule or realm_schedule(peak_learning_rate, total_steps, warmup_steps)
    optimizer = ScaledRateAdamW(
        learning_rate=schedule,
        weight_decay=weight_decay,
        global_clipnorm=clip_norm,
        epsilon=1e-6,
        use_ema=ema_momentum is not None,
        ema_momentum=ema_momentum if ema_momentum is not None else 0.99,
    )
    optimizer.exclude_from_weight_decay(var_names=NO_DECAY)
    return optimizer, schedule
