"""Presets: one module says what each preset means, the compiled pipeline carries it, and the library's boundary
(realm/ never needs KFP, the pipeline or the components) holds."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import yaml

from realm import presets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_preset_builds_a_valid_model_and_the_cli_offers_exactly_them():
    import pipeline.cli
    import realm.cli

    assert realm.cli.PRESET_NAMES == pipeline.cli.PRESET_NAMES == presets.NAMES
    for name in presets.NAMES:
        config = presets.model_config(name)
        assert config.hidden_size % config.num_attention_heads == 0
        recipe = presets.get(name).recipe
        assert recipe.block_max_tokens <= recipe.candidate_seq_len  # blocks are embedded whole
    assert presets.model_config("minilm").hidden_size == 384 and presets.model_config("base").hidden_size == 768


def test_no_preset_branch_outside_the_presets_module():
    """What a preset means lives in realm/presets.py alone; a `preset == "tiny"` elsewhere is a second source."""
    branch = re.compile(r"""preset\s*(==|!=|\bin\b|\bnot in\b)|(?<!presets)\.get\(preset\b|preset_name\s*(==|!=)""")
    offenders = []
    for package in ("realm", "components", "pipeline"):
        for directory, _, files in os.walk(os.path.join(ROOT, package)):
            for name in files:
                path = os.path.join(directory, name)
                if not name.endswith(".py") or path.endswith(os.path.join("realm", "presets.py")):
                    continue
                with open(path, encoding="utf-8") as f:
                    lines = f.read().splitlines()
                for number, line in enumerate(lines, 1):
                    if branch.search(line):
                        offenders.append(f"{os.path.relpath(path, ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("preset", presets.NAMES)
def test_compiled_pipeline_carries_the_presets_recipe(preset, tmp_path):
    from pipeline.cli import compile_pipeline

    with open(compile_pipeline(str(tmp_path / "realm.yaml"), None, preset)) as f:
        ir = next(yaml.safe_load_all(f))
    parameters = ir["root"]["inputDefinitions"]["parameters"]
    recipe = presets.pipeline_parameters(preset)
    for name, value in recipe.items():
        assert parameters[name]["defaultValue"] == pytest.approx(value), name
    assert "preset" not in parameters  # a compile-time choice: the model's sizes cannot change per run
    tasks = ir["root"]["dag"]["tasks"]
    for task in ("warm-start-op", "pretrain-op", "finetune-op"):
        assert tasks[task]["inputs"]["parameters"]["preset"]["runtimeValue"]["constant"] == preset
    finetune = tasks["finetune-op"]["inputs"]["parameters"]
    wiring = {"candidate_seq_len": "block_max_tokens", "question_seq_len": "question_seq_len",
              "learning_rate": "finetune_learning_rate", "reader_seq_len": "reader_seq_len"}  # fmt: skip
    for argument, parameter in wiring.items():
        assert finetune[argument]["componentInputParameter"] == parameter, argument
    pretrain = tasks["pretrain-op"]["inputs"]["parameters"]
    assert pretrain["learning_rate"]["componentInputParameter"] == "pretrain_learning_rate"
    assert pretrain["jit_compile"]["componentInputParameter"] == "jit_compile"


def test_a_run_refuses_an_unknown_parameter_and_base_without_a_checkpoint_before_any_work(tmp_path, capsys):
    from realm.cli import main

    out = tmp_path / "out"
    assert main(["pipeline", "run", "--local", "--preset", "base", "--out", str(out)]) == 2
    assert "'base' preset needs a checkpoint to start from: pass --init-checkpoint" in capsys.readouterr().err
    assert main(["pipeline", "run", "--local", "--preset", "tiny", "--out", str(out), "--param", "bogus=1"]) == 2
    assert "no pipeline parameter bogus; the parameters are" in capsys.readouterr().err
    for bad in ("1.5", "-0.1", "half"):
        args = ["pipeline", "run", "--local", "--preset", "tiny", "--out", str(out), "--param", f"cloze_wh_first={bad}"]
        assert main(args) == 2
        assert f"--param cloze_wh_first={bad}: a fraction, from 0 to 1" in capsys.readouterr().err
    assert not out.exists()


def test_resolve_warm_start_follows_the_preset_and_init_checkpoint_wins(tmp_path):
    from realm.errors import RealmConfigError
    from realm.resources import minilm_dir

    assert presets.resolve_warm_start("tiny", "", str(tmp_path)) is None
    assert presets.resolve_warm_start("minilm", "", str(tmp_path)) == minilm_dir()
    assert presets.resolve_warm_start("tiny", minilm_dir(), str(tmp_path)) == minilm_dir()
    with pytest.raises(RealmConfigError, match="pass init_checkpoint"):
        presets.resolve_warm_start("base", "", str(tmp_path))


BOUNDARY_CHECK = r"""
import importlib, pkgutil, sys

class Uninstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("kfp", "kfp_server_api"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, Uninstalled())
import realm
for module in pkgutil.walk_packages(realm.__path__, "realm."):
    importlib.import_module(module.name)
from realm.cli import build_parser
build_parser().parse_args(["ict", "--data", "d", "--out", "o"])
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("kfp", "pipeline", "components"))
print("LEAKED", leaked)
"""


def test_the_library_imports_without_kfp_and_never_imports_the_pipeline_or_components():
    result = subprocess.run([sys.executable, "-c", BOUNDARY_CHECK], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    # `realm pipeline` is a plugin: building the CLI loads pipeline.cli (which itself needs no kfp to register).
    assert "LEAKED ['pipeline', 'pipeline.cli']" in result.stdout, result.stdout
