"""Devices of the trainers: the tf.distribute strategy and precision for the hardware (pre-training and ICT), and
sharing a machine's GPUs between the trainer and its refresh sidecar, two TensorFlow processes on one node.

TensorFlow reserves nearly all of a GPU's memory in the first process that touches it. A sidecar started beside a
trainer on the same GPU would then fail to allocate, and one that sees every GPU would open a context (hundreds of
MiB) on each. So:

- by default the sidecar shares the trainer's first GPU, and both processes grow their memory on demand instead of
  reserving it;
- `--refresh-device IDS` gives the sidecar GPUs of its own, which the trainer then leaves alone.

IDS count the GPUs this process sees (0, 1, ...); where CUDA_VISIBLE_DEVICES already narrows them (a scheduler's
allocation), they are translated through it, since a child's CUDA_VISIBLE_DEVICES names physical devices.
"""

from __future__ import annotations

import dataclasses
import logging
import os

from realm.errors import RealmError

logger = logging.getLogger(__name__)

ALLOW_GROWTH_ENV = "TF_FORCE_GPU_ALLOW_GROWTH"


class DevicePlacementError(RealmError):
    pass


@dataclasses.dataclass(frozen=True)
class GpuSplit:
    """Which of the visible GPUs (by position) the trainer keeps, and the sidecar's environment."""

    trainer_gpus: tuple[int, ...]
    sidecar_env: dict[str, str]
    shared: bool  # the sidecar runs on one of the trainer's GPUs: both must grow memory on demand


def parse_device_ids(ids: str) -> tuple[int, ...]:
    parts = [part.strip() for part in ids.split(",") if part.strip()]
    if not parts or not all(part.isdigit() for part in parts):
        raise DevicePlacementError(f"--refresh-device {ids!r}: expected GPU positions such as '1' or '2,3'")
    return tuple(int(part) for part in parts)


def plan_gpu_split(num_gpus: int, refresh_device: str | None, parent_visible: str | None) -> GpuSplit:
    """Decide the split before TensorFlow initializes its devices (after that it can no longer be changed).

    `parent_visible` is this process's CUDA_VISIBLE_DEVICES (None when unset): the sidecar's must name the same
    physical devices, not positions, because it restricts the child's view afresh.
    """
    visible = [v.strip() for v in parent_visible.split(",")] if parent_visible else None

    def physical(positions: tuple[int, ...]) -> str:
        return ",".join(visible[i] if visible else str(i) for i in positions)

    every = tuple(range(num_gpus))
    if refresh_device is None:
        if not num_gpus:
            return GpuSplit((), {}, shared=False)
        return GpuSplit(every, {"CUDA_VISIBLE_DEVICES": physical((0,)), ALLOW_GROWTH_ENV: "true"}, shared=True)
    wanted = parse_device_ids(refresh_device)
    if max(wanted) >= num_gpus:
        raise DevicePlacementError(
            f"--refresh-device {refresh_device}: this process sees {num_gpus} GPU(s)"
            + (f" (positions 0-{num_gpus - 1})" if num_gpus else "")
        )
    trainer = tuple(i for i in every if i not in wanted)
    if not trainer:
        raise DevicePlacementError(
            f"--refresh-device {refresh_device} leaves the trainer no GPU; with a single GPU leave it unset and the "
            "sidecar shares it"
        )
    return GpuSplit(trainer, {"CUDA_VISIBLE_DEVICES": physical(wanted)}, shared=False)


def apply_gpu_split(refresh_device: str | None) -> GpuSplit:
    """Narrow this process's GPUs to the trainer's share and return the sidecar's environment."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    split = plan_gpu_split(len(gpus), refresh_device, os.environ.get("CUDA_VISIBLE_DEVICES"))
    if not gpus:
        return split
    try:
        if len(split.trainer_gpus) < len(gpus):
            tf.config.set_visible_devices([gpus[i] for i in split.trainer_gpus], "GPU")
        if split.shared:
            for i in split.trainer_gpus:
                tf.config.experimental.set_memory_growth(gpus[i], True)
    except (RuntimeError, ValueError) as err:
        # Devices already initialized, or split into logical GPUs with fixed memory limits by the caller: their
        # configuration stands, and a limit below the card's memory leaves the sidecar room.
        logger.warning("GPU placement left as configured before the trainer started: %s", err)
    logger.info(
        "trainer on GPU(s) %s; refresh sidecar on CUDA_VISIBLE_DEVICES=%s%s",
        list(split.trainer_gpus),
        split.sidecar_env["CUDA_VISIBLE_DEVICES"],
        " (shared, memory grown on demand)" if split.shared else "",
    )
    return split


def choose_strategy(distribute: str = "auto"):
    """tf.distribute strategy for the hardware: multi-worker (TF_CONFIG), several GPUs, one GPU, or CPU.

    `distribute="mirrored"` forces MirroredStrategy over every logical device (the GPUs, else the CPUs): the
    multi-replica code path runs on a CPU split into logical devices, which is how it is tested without GPUs.
    """
    import tensorflow as tf

    if distribute == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if distribute != "auto":
        raise DevicePlacementError(f"unknown distribute {distribute!r}: expected 'auto' or 'mirrored'")
    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    if len(gpus) == 1:
        return tf.distribute.OneDeviceStrategy("/gpu:0")
    return tf.distribute.get_strategy()


def configure_mixed_precision(precision: str = "auto") -> str:
    """bfloat16 compute on GPUs that have it (compute capability >= 8.0); float32 elsewhere.

    An explicit "float32" or "mixed_bfloat16" overrides the choice (bfloat16 needs no loss scaling, so the
    same train step serves both). Losses and retrieval scores are computed in float32 either way.
    """
    import keras
    import tensorflow as tf

    if precision in ("float32", "mixed_bfloat16"):
        keras.mixed_precision.set_global_policy(precision)
        return precision
    if precision != "auto":
        raise DevicePlacementError(f"unknown precision {precision!r}: expected 'auto', 'float32' or 'mixed_bfloat16'")
    keras.mixed_precision.set_global_policy("float32")
    for gpu in tf.config.list_physical_devices("GPU"):
        major = tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))[0]
        if major >= 8:
            keras.mixed_precision.set_global_policy("mixed_bfloat16")
            return "mixed_bfloat16"
    return "float32"
