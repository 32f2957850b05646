"""Feeding host batches to a tf.distribute strategy: one split, used by every training loop."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def split_across_replicas(strategy: tf.distribute.Strategy, batch):
    """Tensors of `batch` (any nest of arrays), each replica getting its own slice of the batch dimension.

    With one replica the batch goes in whole; otherwise each array is cut with `np.array_split`, so a global
    batch that does not divide evenly still reaches every replica.
    """
    replicas = strategy.num_replicas_in_sync
    if replicas == 1:
        return tf.nest.map_structure(tf.convert_to_tensor, batch)

    def value_fn(context):
        i = context.replica_id_in_sync_group
        return tf.nest.map_structure(lambda part: tf.convert_to_tensor(np.array_split(part, replicas)[i]), batch)

    return strategy.experimental_distribute_values_from_function(value_fn)


def replicated_step(strategy: tf.distribute.Strategy, step_fn, jit_compile: bool):
    """A train step over one batch of `split_across_replicas`: on one replica `step_fn` itself, compiled (with XLA
    when asked); on several, `step_fn` run per replica and each of its outputs averaged over the replicas."""
    if strategy.num_replicas_in_sync == 1:
        return tf.function(step_fn, jit_compile=jit_compile)

    @tf.function
    def distributed_step(batch):
        per_replica = strategy.run(step_fn, args=(batch,))
        return {k: strategy.reduce("MEAN", v, axis=None) for k, v in per_replica.items()}

    return distributed_step
