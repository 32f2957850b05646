"""What a GPU machine must show: REALM pre-training and ICT on several GPU replicas in bfloat16 with XLA, and the
refresh sidecar working beside the trainer on the same card.

CI has no GPU, so this module is deselected there (`-m 'not gpu'` in the default options). Asked for on a
machine without one, every test fails (not skips): `pytest -m gpu` passing there would claim what was not
checked. On a GPU machine: `python -m pytest -m gpu -n 0`. A single card is split into two logical GPUs, so
MirroredStrategy's cross-replica reductions and ICT's all-gather really run on the device.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import run_metrics

pytestmark = pytest.mark.gpu


@pytest.fixture(autouse=True)
def _a_gpu_is_required():
    if not tf.config.list_physical_devices("GPU"):
        pytest.fail("no GPU visible to TensorFlow: run `pytest -m gpu` on a machine with one", pytrace=False)


TWO_REPLICAS_ON_GPUS = """
import json, logging, sys
logging.basicConfig(level=logging.INFO)
import tensorflow as tf
gpus = tf.config.list_physical_devices("GPU")
if len(gpus) == 1:  # 16 GiB each leaves the rest of the card to the refresh sidecar
    tf.config.set_logical_device_configuration(gpus[0], [tf.config.LogicalDeviceConfiguration(16384)] * 2)
from realm.presets import model_config
"""

PRETRAIN_ON_GPUS = (
    TWO_REPLICAS_ON_GPUS
    + """
from realm.pretraining.trainer import PretrainConfig, Pretrainer
trainer = Pretrainer(PretrainConfig(
    output_dir=sys.argv[2], data_dir=sys.argv[1], model=model_config("tiny"), steps=80, batch_size=16,
    learning_rate=2e-3, warmup_steps=5, mlm_warmup_steps=10, mlm_head_fit_steps=5, query_seq_len=32,
    candidate_seq_len=64, refresh_every=10, checkpoint_every=40, log_every=5, jit_compile=True,
))
last = trainer.run()
variable = trainer.strategy.experimental_local_results(trainer.embedder.trainable_variables[0].value)[0]
print(json.dumps({
    "replicas": trainer.strategy.num_replicas_in_sync, "precision": trainer.precision,
    "device": variable.device, **last,
}))
"""
)

ICT_ON_GPUS = (
    TWO_REPLICAS_ON_GPUS
    + """
from realm.pretraining.ict import ICTConfig, ICTTrainer
from realm.resources import minilm_dir
# MiniLM, as the pipeline's ICT: a tiny random model only learns to spread its softmax evenly.
trainer = ICTTrainer(ICTConfig(
    output_dir=sys.argv[2], data_dir=sys.argv[1], model=model_config("minilm"), init_bert=minilm_dir(),
    steps=int(sys.argv[3]), batch_size=32, query_seq_len=32, candidate_seq_len=64, learning_rate=5e-5,
    warmup_steps=5, log_every=5, jit_compile=True,
))
last = trainer.run()
print(json.dumps({"replicas": trainer.strategy.num_replicas_in_sync, "precision": trainer.precision, **last}))
"""
)


def _run(script: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_pretraining_runs_mirrored_in_bfloat16_on_gpus_beside_its_sidecar(slice_corpus, tmp_path):
    run = str(tmp_path / "pretrain")
    last = _run(PRETRAIN_ON_GPUS, slice_corpus, run)
    assert last["replicas"] >= 2 and last["precision"] == "mixed_bfloat16" and "GPU" in last["device"]
    metrics = run_metrics(run)
    assert [m["step"] for m in metrics] == list(range(1, 81))
    assert all(np.isfinite(m["loss"]) for m in metrics)
    assert len({m["index_version"] for m in metrics}) >= 3  # the sidecar kept publishing on the shared card
    first = np.mean([m["loss"] for m in metrics[:10]])
    final = np.mean([m["loss"] for m in metrics[-10:]])
    assert final < first, (first, final)
    with open(os.path.join(run, "refresh.log")) as f:
        log = f.read()
    assert len(re.findall(r"published index", log)) >= 3 and "OUT_OF_MEMORY" not in log.upper()


def test_ict_runs_mirrored_in_bfloat16_on_gpus(slice_corpus, tmp_path):
    run = str(tmp_path / "ict")
    last = _run(ICT_ON_GPUS, slice_corpus, run, "60")
    assert last["replicas"] >= 2 and last["precision"] == "mixed_bfloat16" and last["step"] == 60
    metrics = run_metrics(run)
    assert all(np.isfinite(m["loss"]) for m in metrics)
    first = np.mean([m["loss"] for m in metrics[:3]])
    final = np.mean([m["loss"] for m in metrics[-3:]])
    assert final < first - 0.2, (first, final)
    assert os.path.isdir(os.path.join(run, "final", "embedder"))
