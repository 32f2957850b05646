"""What every trainer (REALM pre-training, ICT, fine-tuning) does around its train step: resume from the newest
checkpoint, then run steps with checkpoints and step logs. Kept in one place so a run killed at any point resumes
alike whichever stage it was."""

from __future__ import annotations

import logging
from collections.abc import Callable

from realm.training_log import StepLogger


def resume(checkpoint, directory: str, keep: int, step_variable, what: str, logger: logging.Logger):
    """A CheckpointManager over `directory`, restored to its newest checkpoint when there is one.

    Returns (manager, restored checkpoint path or None, the step to start at)."""
    import tensorflow as tf

    from realm.errors import CheckpointError

    manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=keep)
    try:
        restored = manager.restore_or_initialize()
    except ValueError as err:  # TF's restore of a variable whose shape the checkpoint holds otherwise
        raise CheckpointError(
            f"{directory}: its newest checkpoint ({manager.latest_checkpoint}) does not fit this {what} run: it "
            "was written with other model sizes or optimizer settings (such as weight averaging on or off). Resume "
            f"with the settings it was written with, or start a new run directory. ({err})"
        ) from None
    start = int(step_variable.numpy())
    if restored:
        logger.info("resumed %s from %s at step %d", what, restored, start)
    return manager, restored, start


def run_steps(
    *,
    train_step: Callable[[dict], dict],
    make_batch: Callable[[int], dict],
    start: int,
    total: int,
    step_variable,
    schedule: Callable[[int], float],
    manager,
    checkpoint_every: int,
    step_logger: StepLogger,
) -> dict[str, float]:
    """Steps `start`..`total` (0-based), checkpointing every `checkpoint_every` and at the end; returns the metrics
    of the last logged step."""
    last: dict[str, float] = {}
    for step in range(start, total):
        result = {k: float(v) for k, v in train_step(make_batch(step)).items()}
        done = step + 1
        step_variable.assign(done)
        last = step_logger.step_done(done, result, float(schedule(done))) or last
        if done % checkpoint_every == 0 or done == total:
            manager.save(checkpoint_number=done)
    step_logger.close()
    return last
