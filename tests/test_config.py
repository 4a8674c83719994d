"""Config schema: valid files, and errors naming file, field and allowed values."""

from __future__ import annotations

from pathlib import Path

import pytest

from monet_opt.config import ConfigError, config_from_dict, load_config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

MINI_ACC = {
    "format": "monet-opt/accelerator@1",
    "name": "mini",
    "offchip_core_id": 1,
    "cores": [
        {
            "id": 0,
            "name": "pe",
            "array": {"dimensions": ["D1", "D2"], "sizes": [8, 8], "unit_energy_pj": 0.1},
            "memories": [
                {
                    "name": "sram",
                    "size_bits": 8 * 2**20,
                    "read_bw_bits_per_cycle": 128,
                    "write_bw_bits_per_cycle": 128,
                    "read_pj_per_word": 5.0,
                    "write_pj_per_word": 5.0,
                    "operands": ["I1", "I2", "O"],
                }
            ],
        },
        {
            "id": 1,
            "name": "dram",
            "kind": "offchip",
            "memories": [
                {
                    "name": "dram",
                    "size_bits": 8 * 2**30,
                    "read_bw_bits_per_cycle": 64,
                    "write_bw_bits_per_cycle": 64,
                    "read_pj_per_word": 500.0,
                    "write_pj_per_word": 500.0,
                    "operands": ["I1", "I2", "O"],
                }
            ],
        },
    ],
    "links": [{"kind": "bus", "cores": [0, 1], "bandwidth_bits_per_cycle": 64}],
}


def _base(acc: str = "hw/acc.yaml") -> dict:
    return {
        "workload": {"model": "mlp", "options": {"batch": 2, "sizes": [16, 8, 4]}},
        "accelerator": acc,
    }


def _err(path) -> ConfigError:
    with pytest.raises(ConfigError) as ei:
        load_config(path)
    return ei.value


def test_valid_config_defaults_and_paths(write, tmp_path, monkeypatch):
    p = write(_base())
    monkeypatch.chdir(tmp_path / "hw")  # paths resolve against the file, not the cwd
    cfg = load_config(p)
    assert cfg.objective == "latency"
    assert cfg.workload.optimizer == "adamw"
    assert cfg.workload.precision.optimizer_state == 32
    assert cfg.schedule.prefetch_depth == 2
    assert cfg.solver.time_limit_s == 60 and cfg.solver.threads is None
    assert cfg.ga.population == 32 and cfg.ga.processes == 1
    assert cfg.schedule.order == "heft" and cfg.schedule.tiles == 8
    assert cfg.fusion.mode == "none" and cfg.fusion.stacks is None and cfg.fusion.max_stack == 8
    assert cfg.checkpointing.mode == "store-all" and cfg.checkpointing.budget_mib is None
    assert cfg.pareto.points == 12 and cfg.pareto.objective == "both"
    assert not cfg.uses_joint
    assert cfg.accelerator_path == (tmp_path / "hw" / "acc.yaml").resolve()
    assert cfg.onnx_path is None
    assert cfg.name == "run"
    assert cfg.resolved_paths()["config"] == str(p.resolve())


def test_unknown_key_lists_allowed_keys(write):
    data = _base()
    data["workload"]["batchsize"] = 4
    e = _err(write(data))
    assert e.field == "workload.batchsize"
    assert str(e).startswith(f"{e.file}: workload.batchsize: ")
    assert "run.yaml" in e.file
    for key in ("model", "onnx", "options", "optimizer", "precision"):
        assert key in e.message


def test_unknown_top_level_key(write):
    data = _base()
    data["solverr"] = {}
    e = _err(write(data))
    assert e.field == "solverr"
    assert (
        "allowed keys: workload, accelerator, objective, schedule, solver, ga, fusion, "
        "checkpointing, pareto" in e.message
    )


@pytest.mark.parametrize(
    ("path", "value", "allowed"),
    [
        (("workload", "optimizer"), "adam", "adamw, sgd"),
        (("objective",), "speed", "latency, energy, edp"),
        (("ga", "crossover"), "one_point", "uniform, two_point"),
        (("schedule", "order"), "dfs", "heft, layerwise"),
        (("fusion", "mode"), "all", "none, greedy, fixed, optimal"),
        (("checkpointing", "mode"), "some", "store-all, optimal"),
        (("pareto", "objective"), "edp", "latency, energy, both"),
    ],
)
def test_bad_enum_lists_allowed_values(write, path, value, allowed):
    data = _base()
    node = data
    for k in path[:-1]:
        node = node.setdefault(k, {})
    node[path[-1]] = value
    e = _err(write(data))
    assert e.field == ".".join(path)
    assert repr(value) in e.message and f"allowed values: {allowed}" in e.message
    assert "run.yaml" in str(e)


def test_bad_number(write):
    data = _base()
    data["ga"] = {"population": 1}
    e = _err(write(data))
    assert e.field == "ga.population" and "2" in e.message


@pytest.mark.parametrize(
    ("section", "value", "field", "needles"),
    [
        ("schedule", {"tiles": 0}, "schedule.tiles", [">= 1"]),
        ("fusion", {"max_stack": 1}, "fusion.max_stack", [">= 2"]),
        ("fusion", {"mode": "fixed"}, "fusion.stacks", ["required", "'fixed'"]),
        ("fusion", {"mode": "fixed", "stacks": []}, "fusion.stacks", ["required"]),
        ("fusion", {"mode": "greedy", "stacks": [["a", "b"]]}, "fusion.stacks", ["only", "fixed"]),
        ("fusion", {"mode": "fixed", "stacks": [["a"]]}, "fusion.stacks[0]", ["at least 2"]),
        (
            "fusion",
            {"mode": "fixed", "stacks": [["a", "b"], ["b", "c"]]},
            "fusion.stacks[1]",
            ["'b'", "more than one stack"],
        ),
        (
            "checkpointing",
            {"mode": "optimal"},
            "checkpointing",
            ["exactly one", "checkpointing.budget_mib", "checkpointing.budget_fraction", "neither"],
        ),
        (
            "checkpointing",
            {"mode": "optimal", "budget_mib": 1.0, "budget_fraction": 0.5},
            "checkpointing",
            ["exactly one", "both"],
        ),
        (
            "checkpointing",
            {"budget_fraction": 0.5},
            "checkpointing.budget_fraction",
            ["'optimal'", "store-all"],
        ),
        (
            "checkpointing",
            {"mode": "optimal", "budget_fraction": 1.5},
            "checkpointing.budget_fraction",
            ["<= 1"],
        ),
        (
            "checkpointing",
            {"mode": "optimal", "budget_fraction": 0},
            "checkpointing.budget_fraction",
            ["> 0"],
        ),
        (
            "checkpointing",
            {"mode": "optimal", "budget_mib": -1},
            "checkpointing.budget_mib",
            ["> 0"],
        ),
        ("pareto", {"points": 1}, "pareto.points", [">= 2"]),
    ],
)
def test_fusion_checkpointing_pareto_errors(write, section, value, field, needles):
    data = _base()
    data[section] = value
    e = _err(write(data))
    assert e.field == field, str(e)
    assert str(e).startswith(f"{e.file}: {field}: ")
    for n in needles:
        assert n in e.message, e.message


def test_edp_not_supported_with_fusion_or_checkpointing(write):
    for extra in (
        {"fusion": {"mode": "greedy"}},
        {"checkpointing": {"mode": "optimal", "budget_mib": 1}},
    ):
        data = {**_base(), "objective": "edp", **extra}
        e = _err(write(data))
        assert e.field == "objective"
        assert "'edp'" in e.message and "allowed values: latency, energy" in e.message
    cfg = load_config(write({**_base(), "objective": "edp"}))  # fine without them
    assert cfg.objective == "edp" and not cfg.uses_joint


def test_fusion_checkpointing_valid(write):
    data = _base()
    data["schedule"] = {"order": "layerwise", "tiles": 4}
    data["fusion"] = {"mode": "fixed", "stacks": [["fc0", "fc1"]], "max_stack": 3}
    data["checkpointing"] = {"mode": "optimal", "budget_fraction": 0.5}
    data["pareto"] = {"points": 5, "objective": "latency"}
    cfg = load_config(write(data))
    assert cfg.uses_joint
    assert cfg.fusion.stacks == [["fc0", "fc1"]]
    assert cfg.checkpointing.budget_bits(1000.0) == pytest.approx(500.0)
    data["checkpointing"] = {"mode": "optimal", "budget_mib": 2}
    cfg = load_config(write(data))
    assert cfg.checkpointing.budget_bits(1.0) == 2 * 8 * 2**20
    assert cfg.model_dump(mode="json")["checkpointing"]["budget_mib"] == 2


def test_missing_accelerator_file(write, tmp_path):
    e = _err(write(_base("hw/nope.yaml")))
    assert e.field == "accelerator"
    assert str((tmp_path / "hw" / "nope.yaml").resolve()) in e.message
    assert "run.yaml" in e.file


def test_missing_onnx_file(write, tmp_path):
    data = _base()
    data["workload"] = {"onnx": "models/net.onnx", "options": {"batch": 1}}
    e = _err(write(data))
    assert e.field == "workload.onnx"
    assert str((tmp_path / "models" / "net.onnx").resolve()) in e.message


def test_model_xor_onnx(write):
    data = _base()
    data["workload"]["onnx"] = "x.onnx"
    e = _err(write(data))
    assert e.field == "workload" and "exactly one" in e.message


def test_missing_required(write):
    e = _err(write({"workload": {"model": "mlp"}}))
    assert e.field == "accelerator" and "missing" in e.message


def test_file_level_errors(write, tmp_path):
    e = _err(tmp_path / "absent.yaml")
    assert "absent.yaml" in str(e) and "not found" in str(e)
    e = _err(write("workload: [\n", name="broken.yaml"))
    assert "broken.yaml" in str(e) and "line" in e.message
    e = _err(write("- a\n- b\n", name="list.yaml"))
    assert "mapping" in e.message
    e = _err(write("", name="empty.yaml"))
    assert "empty" in e.message


def test_config_from_dict_base_dir(tmp_path):
    (tmp_path / "a.yaml").write_text("x")
    cfg = config_from_dict(_base("a.yaml"), base_dir=tmp_path)
    assert cfg.accelerator_path == (tmp_path / "a.yaml").resolve()
    with pytest.raises(ConfigError, match="accelerator: file not found"):
        config_from_dict(_base("b.yaml"), base_dir=tmp_path)


@pytest.mark.parametrize("name", ["resnet18_cifar_edge.yaml", "gpt2_mini_datacenter.yaml"])
def test_examples_load(name):
    cfg = load_config(EXAMPLES / name, check_files=False)
    assert cfg.workload.optimizer == "adamw"
    if not cfg.accelerator_path.exists():
        pytest.skip(f"{cfg.accelerator_path} not written yet")
    load_config(EXAMPLES / name)


def test_edge_example_decides_fusion_and_checkpointing():
    cfg = load_config(EXAMPLES / "resnet18_cifar_edge.yaml", check_files=False)
    assert cfg.schedule.order == "layerwise"
    assert cfg.fusion.mode == "optimal" and cfg.checkpointing.mode == "optimal"
    assert cfg.checkpointing.budget_fraction == 0.5 and cfg.uses_joint
