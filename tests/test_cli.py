"""CLI: validate / solve, and one-line errors with exit status 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from monet_opt.cli import cli, main
from tests.factories import accelerator_dict

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

ACC = accelerator_dict("cli_dual")

CONFIG = {
    "workload": {"model": "mlp", "options": {"batch": 2, "sizes": [32, 64, 10]}},
    "accelerator": "acc.yaml",
    "objective": "latency",
    "solver": {"time_limit_s": 20},
    "ga": {"population": 8, "generations": 3, "seed": 1},
}


@pytest.fixture()
def runner():
    return CliRunner()


@pytest.fixture()
def cfg_path(tmp_path):
    (tmp_path / "acc.yaml").write_text(yaml.safe_dump(ACC))
    p = tmp_path / "tiny.yaml"
    p.write_text(yaml.safe_dump(CONFIG))
    return p


def _write(tmp_path, data, name="bad.yaml"):
    (tmp_path / "acc.yaml").write_text(yaml.safe_dump(ACC))
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return p


def _assert_input_error(result, *needles):
    assert result.exit_code == 2, result.output
    err = result.stderr
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output + err
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def test_validate_ok(runner, cfg_path):
    r = runner.invoke(cli, ["validate", str(cfg_path)])
    assert r.exit_code == 0, r.output + r.stderr
    for needle in ("mlp-train", "forward", "backward", "optimizer", "parameters", "mac0", "OK"):
        assert needle in r.stdout


@pytest.mark.parametrize("name", ["resnet18_cifar_edge.yaml", "gpt2_mini_datacenter.yaml"])
def test_validate_examples(runner, name):
    cfg = yaml.safe_load((EXAMPLES / name).read_text())
    if not (EXAMPLES / cfg["accelerator"]).exists():
        pytest.skip("example hardware not written yet")
    r = runner.invoke(cli, ["validate", str(EXAMPLES / name)])
    assert r.exit_code == 0, r.output + r.stderr
    assert "OK" in r.stdout


def test_bad_enum(runner, tmp_path):
    p = _write(tmp_path, {**CONFIG, "objective": "speed"})
    _assert_input_error(
        runner.invoke(cli, ["validate", str(p)]), "bad.yaml", "objective", "latency, energy, edp"
    )


def test_unknown_key(runner, tmp_path):
    p = _write(tmp_path, {**CONFIG, "workload": {**CONFIG["workload"], "bach": 4}})
    _assert_input_error(
        runner.invoke(cli, ["validate", str(p)]), "bad.yaml", "workload.bach", "allowed keys"
    )


def test_missing_files(runner, tmp_path):
    p = _write(tmp_path, {**CONFIG, "accelerator": "missing.yaml"})
    _assert_input_error(
        runner.invoke(cli, ["validate", str(p)]), "bad.yaml", "accelerator", "missing.yaml"
    )
    _assert_input_error(runner.invoke(cli, ["validate", str(tmp_path / "nope.yaml")]), "nope.yaml")
    _assert_input_error(runner.invoke(cli, ["solve", str(tmp_path / "nope.yaml")]), "nope.yaml")


def test_bad_model_and_bad_hardware(runner, tmp_path):
    p = _write(tmp_path, {**CONFIG, "workload": {"model": "alexnet"}})
    _assert_input_error(runner.invoke(cli, ["validate", str(p)]), "workload.model", "mini-lm")
    p = _write(tmp_path, CONFIG, name="ok.yaml")
    (tmp_path / "acc.yaml").write_text("format: monet-opt/accelerator@1\nname: x\ncores: 3\n")
    _assert_input_error(runner.invoke(cli, ["validate", str(p)]), "acc.yaml", "cores")


def test_bad_onnx(runner, tmp_path):
    (tmp_path / "net.onnx").write_bytes(b"not an onnx file")
    p = _write(tmp_path, {**CONFIG, "workload": {"onnx": "net.onnx", "options": {"batch": 1}}})
    _assert_input_error(runner.invoke(cli, ["validate", str(p)]), "net.onnx")


def test_invalid_yaml(runner, tmp_path):
    p = _write(tmp_path, "workload: {model: mlp\n")
    _assert_input_error(runner.invoke(cli, ["solve", str(p)]), "bad.yaml", "YAML")


def test_solve_ga(runner, cfg_path, tmp_path):
    out = tmp_path / "res"
    r = runner.invoke(
        cli, ["solve", str(cfg_path), "--method", "ga", "--seed", "4", "--out", str(out)]
    )
    assert r.exit_code == 0, r.output + r.stderr
    d = json.loads((out / "result.json").read_text())
    assert d["best_method"] == "ga" and d["methods"]["ga"]["seed"] == 4
    assert d["inputs"]["paths"]["config"] == str(cfg_path.resolve())
    for png in ("schedule.png", "memory.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert "latency" in r.stdout and "GA (DEAP)" in r.stdout


def test_solve_default_out_dir(runner, cfg_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(cli, ["solve", str(cfg_path), "--method", "ga", "--no-plots"])
    assert r.exit_code == 0, r.output + r.stderr
    assert (tmp_path / "out" / "tiny" / "result.json").exists()
    assert not (tmp_path / "out" / "tiny" / "schedule.png").exists()


def test_solve_both(runner, cfg_path, tmp_path):
    pytest.importorskip("monet_opt.formulations.allocation")
    out = tmp_path / "both"
    r = runner.invoke(
        cli, ["solve", str(cfg_path), "--method", "both", "--time-limit", "20", "--out", str(out)]
    )
    assert r.exit_code == 0, r.output + r.stderr
    d = json.loads((out / "result.json").read_text())
    assert set(d["methods"]) == {"milp", "ga"}
    assert "MILP (HiGHS)" in r.stdout and "GA (DEAP)" in r.stdout
    milp = d["methods"]["milp"]
    if milp["status"] == "optimal":
        assert milp["simulated"] <= d["methods"]["ga"]["best"] * (1 + 1e-4)


def test_main_version(capsys):
    with pytest.raises(SystemExit) as ei:
        main(["--version"])
    assert ei.value.code == 0
    assert "monet-opt" in capsys.readouterr().out


def test_main_bad_input_exit_code(tmp_path, capsys):
    with pytest.raises(SystemExit) as ei:
        main(["validate", str(tmp_path / "absent.yaml")])
    assert ei.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "absent.yaml" in err
