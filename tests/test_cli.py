"""The `realm` command line as a person meets it: help without loading TensorFlow, and one vocabulary."""

from __future__ import annotations

import subprocess
import sys

HELP_IMPORTS = r"""
import sys
from realm.cli import main
for argv in (["--help"], ["pretrain", "--help"], ["ict", "--help"], ["finetune", "--help"], ["pipeline", "--help"]):
    try:
        main(argv)
    except SystemExit as done:
        assert done.code == 0, argv
heavy = sorted(m for m in ("tensorflow", "keras", "apache_beam", "kfp", "scann") if m in sys.modules)
print("HEAVY", heavy)
"""


def test_help_answers_without_loading_tensorflow_beam_or_kfp():
    """`realm --help` took 4 s because TensorFlow loaded first; the help texts still show the configs' defaults."""
    result = subprocess.run([sys.executable, "-c", HELP_IMPORTS], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "HEAVY []" in result.stdout, result.stdout[-500:]
    assert "peak learning rate (default: 0.0001)" in result.stdout  # ICTConfig's, ORQA's
    assert "--trivial-retrieval" in result.stdout and "advanced:" in result.stdout
