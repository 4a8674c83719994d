"""monet_opt.api.inputs: building a run's inputs from a config, with field-aware errors."""

from __future__ import annotations

import pytest
import yaml

from monet_opt.api.inputs import (
    build_problem_for,
    build_training_graph,
    load_accelerator_for,
)
from monet_opt.config import ConfigError, load_config
from tests.test_config import MINI_ACC, _base


def build_inputs(cfg):
    return build_training_graph(cfg), load_accelerator_for(cfg)


def test_build_problem_for_uses_schedule_settings(write):
    from monet_opt.schedule.problem import build_problem

    data = _base()
    data["schedule"] = {"order": "layerwise", "tiles": 3, "prefetch_depth": 1}
    cfg = load_config(write(data))
    graph, acc = build_inputs(cfg)
    p = build_problem_for(cfg, graph, acc)
    assert p.tiles == 3 and p.prefetch_depth == 1
    ref = build_problem(graph, acc, order="layerwise", memory="capacity")
    assert p.default_priority == ref.default_priority
    heft = build_problem_for(load_config(write(_base(), name="h.yaml")), graph, acc)
    assert heft.default_priority == build_problem(graph, acc, memory="capacity").default_priority
    assert heft.tiles == 8 and heft.memory == "capacity"  # the default: capacity-true


def test_build_inputs_ok(write):
    cfg = load_config(write(_base()))
    graph, acc = build_inputs(cfg)
    assert graph.name == "mlp-train"
    assert acc.name == "mini"


def test_build_inputs_unknown_model(write):
    data = _base()
    data["workload"]["model"] = "resnet99"
    cfg = load_config(write(data))
    with pytest.raises(ConfigError) as ei:
        build_inputs(cfg)
    e = ei.value
    assert e.field == "workload.model" and "resnet18-cifar" in e.message and "mini-lm" in e.message


def test_build_inputs_bad_option(write):
    data = _base()
    data["workload"]["options"] = {"batch": 2, "depth": 3}
    cfg = load_config(write(data))
    with pytest.raises(ConfigError) as ei:
        build_inputs(cfg)
    assert ei.value.field == "workload.options" and "depth" in ei.value.message


def test_build_inputs_bad_accelerator(write, tmp_path):
    bad = dict(MINI_ACC, cores=[dict(MINI_ACC["cores"][0], kind="gpu"), MINI_ACC["cores"][1]])
    (tmp_path / "hw" / "acc.yaml").write_text(yaml.safe_dump(bad))
    cfg = load_config(write(_base()))
    with pytest.raises(ConfigError) as ei:
        build_inputs(cfg)
    e = ei.value
    assert e.file.endswith("acc.yaml")
    assert e.field == "cores[0].kind" and "\n" not in str(e)
    assert not e.message.startswith(e.file)


def _eval_mode_cnn(path):
    """A CNN as PyTorch's exporter writes it in eval mode: BatchNorm folded into biased
    convolutions, no BatchNormalization node."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits = [
        numpy_helper.from_array(np.zeros((8, 3, 3, 3), np.float32), "w1"),
        numpy_helper.from_array(np.zeros((8,), np.float32), "b1"),
        numpy_helper.from_array(np.zeros((10, 8), np.float32), "fc"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("GlobalAveragePool", ["r1"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fc"], ["y"], transB=1),
    ]
    g = helper.make_graph(
        nodes,
        "cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, (2, 3, 8, 8))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, (2, 10))],
        inits,
    )
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_validate_notes_an_eval_mode_export(tmp_path):
    from click.testing import CliRunner

    from monet_opt.cli import cli

    _eval_mode_cnn(tmp_path / "cnn.onnx")
    (tmp_path / "acc.yaml").write_text(yaml.safe_dump(MINI_ACC))
    cfg = {"workload": {"onnx": "cnn.onnx"}, "accelerator": "acc.yaml"}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    res = CliRunner().invoke(cli, ["validate", str(tmp_path / "run.yaml")])
    assert res.exit_code == 0, res.output
    assert "eval-mode" in " ".join(res.output.split())
    assert "TrainingMode.TRAINING" in " ".join(res.output.split())


def test_torch_workload_without_torch_names_the_extra(write):
    """``workload.torch`` builds the forward graph from a PyTorch factory; without torch
    installed the error says which extra to install."""
    pytest.importorskip("yaml")
    try:
        import torch  # noqa: F401

        pytest.skip("torch is installed: the error path is not reachable")
    except ImportError:
        pass
    data = _base()
    data["workload"] = {"torch": "mymodels:small_cnn"}
    cfg = load_config(write(data))
    with pytest.raises(ConfigError) as ei:
        build_inputs(cfg)
    assert ei.value.field == "workload.torch"
    assert 'pip install "monet-opt[torch]"' in ei.value.message


def test_workload_needs_exactly_one_source(write):
    data = _base()
    data["workload"]["torch"] = "mymodels:small_cnn"
    with pytest.raises(ConfigError, match="exactly one of"):
        load_config(write(data))


def test_torch_workload_from_a_factory_beside_the_config(write, tmp_path):
    pytest.importorskip("torch", reason="the torch extra is not installed")
    pytest.importorskip("onnxscript", reason="the torch extra is not installed")
    (tmp_path / "mymodels_cfg.py").write_text(
        "import torch\n"
        "def small_cnn(width=8):\n"
        "    m = torch.nn.Sequential(torch.nn.Conv2d(3, width, 3, padding=1), torch.nn.ReLU(),\n"
        "        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(width, 10))\n"
        "    return m, (torch.randn(2, 3, 8, 8),)\n"
    )
    data = _base()
    data["workload"] = {"torch": "mymodels_cfg:small_cnn", "options": {"args": {"width": 4}}}
    cfg = load_config(write(data))
    graph, _ = build_inputs(cfg)
    from monet_opt.models import Phase

    assert graph.total_macs(Phase.FORWARD) == 2 * 4 * 3 * 8 * 8 * 9 + 2 * 4 * 10
    assert graph.ops_in(Phase.BACKWARD)
