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
