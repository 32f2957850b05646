"""The `realm` command line as a person meets it: help without loading TensorFlow, and one vocabulary."""

from __future__ import annotations

import subprocess
import sys

import pytest

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
    assert "peak learning rate (default: the preset's" in result.stdout  # finetune: MiniLM's EM stays 0 at 1e-5


def test_help_constants_restated_to_spare_an_import_are_the_real_ones():
    import realm.cli
    from realm.presets import NAMES
    from realm.retrieval.mips import DEFAULT_CHUNK_SIZE

    assert realm.cli.MIPS_CHUNK_SIZE == DEFAULT_CHUNK_SIZE and realm.cli.PRESET_NAMES == NAMES


def test_pipeline_params_lists_every_parameter_with_its_default_and_meaning(capsys):
    from pipeline.cli import pipeline_parameters
    from pipeline.realm_pipeline import PARAMETER_HELP
    from realm.cli import main

    assert set(PARAMETER_HELP) == set(pipeline_parameters("tiny"))  # no parameter without a meaning, nor the reverse
    assert main(["pipeline", "params", "--preset", "base"]) == 0
    listed = capsys.readouterr().out
    assert "pretrain_batch_size       512" in listed and "init_checkpoint" in listed
    assert all(f"  {name} " in listed for name in PARAMETER_HELP)


def test_compile_run_and_submit_share_one_default_preset_and_run_takes_out():
    from realm.cli import build_parser

    parser = build_parser()
    compile_args = parser.parse_args(["pipeline", "compile", "--out", "x.yaml"])
    run_args = parser.parse_args(["pipeline", "run", "--out", "o"])  # --local is the only mode: optional
    submit_args = parser.parse_args(["pipeline", "submit", "--host", "h"])
    assert compile_args.preset == run_args.preset == submit_args.preset == "minilm"
    assert run_args.out == "o"


KFP_OUTPUT = """\x1b[32mExecuting task \x1b[96m'preprocess-op'\x1b[0m
    Got executor_input:
    {"inputs": {"parameterValues": {"num_shards": 2}}}
    2026-12-04 14:00:00.000000: E external/local_xla/xla/stream_executor/cuda/cuda_platform.cc:51] failed call to cuInit
    2026-12-04 14:00:01,000 INFO realm.data.preprocess: preprocessing 1 file(s), 0.1 MB -> /out in 2 shards
    2026-12-04 14:00:02,000 INFO apache_beam.runners: something Beam says
Task \x1b[96m'preprocess-op'\x1b[0m finished with status \x1b[92mSUCCESS\x1b[0m
Executing task 'warm-start-op'
    Traceback (most recent call last):
    realm.errors.CheckpointError: /ckpt: not a checkpoint this project reads
Task 'warm-start-op' finished with status FAILURE
"""


def test_the_quiet_console_keeps_steps_and_project_lines_and_finds_a_failures_cause(tmp_path):
    import io

    from pipeline.console import StepConsole, failure_cause

    log_path = tmp_path / "pipeline.log"
    shown = io.StringIO()
    with open(log_path, "w") as log:
        console = StepConsole(log, shown)
        for piece in (KFP_OUTPUT[:57], KFP_OUTPUT[57:]):  # writes need not end at line ends
            console.write(piece)
    lines = shown.getvalue().splitlines()
    assert len(lines) == 5, lines
    assert lines[0].endswith("step preprocess: started") and "step preprocess: success" in lines[2]
    assert lines[1] == "  realm.data.preprocess: preprocessing 1 file(s), 0.1 MB -> /out in 2 shards"
    assert lines[4].endswith("step warm-start: failure (0.0 min)")
    assert log_path.read_text() == KFP_OUTPUT  # everything kept
    cause = failure_cause(str(log_path), "warm-start")
    assert cause == "realm.errors.CheckpointError: /ckpt: not a checkpoint this project reads"


def test_tensorflow_logs_stay_quiet_without_verbose_and_a_users_level_is_kept(monkeypatch):
    import os

    from realm.cli import quiet_tensorflow

    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    quiet_tensorflow(verbose=True)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
    quiet_tensorflow(verbose=False)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] in ("2", "3")  # 3 (no C++ errors) only where no GPU device exists
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")
    quiet_tensorflow(verbose=False)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"


def test_a_subprocess_run_needs_no_docker_package(monkeypatch):
    """The README's install has no `docker` package (an extra): the default runner must not import it. A fresh
    clone's main command once failed here (benchmarks/bench_main_command.py found it)."""
    import sys

    from pipeline import containers

    monkeypatch.setitem(sys.modules, "docker", None)  # `import docker` now raises ImportError
    monkeypatch.delitem(sys.modules, "kfp.local.docker_task_handler", raising=False)
    with containers.exit_codes_kept(enabled=False):
        pass
    with pytest.raises(ImportError), containers.exit_codes_kept(enabled=True):
        pass


def test_finetune_flags_reach_the_fine_tuning_config(tmp_path):
    """`realm finetune` builds its FinetuneConfig from the preset's recipe and the flags given, nothing else."""
    from realm.cli import build_parser, finetune_setup
    from realm.presets import get as get_preset

    def config_of(*flags):
        argv = ["finetune", "--data", "corpus", "--out", str(tmp_path), "--preset", "tiny", *flags]
        return finetune_setup(build_parser().parse_args(argv), str(tmp_path))[0]

    default = config_of()
    assert default.weight_averaging_momentum == 0.0 and default.cloze_steps == get_preset("tiny").recipe.cloze_steps
    given = config_of("--weight-averaging-momentum", "0.9", "--cloze-steps", "7", "--learning-rate", "0.5")
    assert (given.weight_averaging_momentum, given.cloze_steps, given.learning_rate) == (0.9, 7, 0.5)
