"""Sparse workloads through the config and api layers: errors, DRAM traffic, the example."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monet_opt import api
from monet_opt.config import config_from_dict
from monet_opt.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "srigl_mlp.yaml"
CHIP = str(ROOT / "examples" / "hardware" / "tpu_like_quad_core_gather.yaml")


def _cfg(sparsity: Any, **wl: Any) -> dict[str, Any]:
    workload = {"model": "mlp", "options": {"batch": 2, "sizes": [64, 32, 4]}, **wl}
    return {"workload": {**workload, "sparsity": sparsity}, "accelerator": CHIP}


@pytest.mark.parametrize(
    ("sparsity", "field", "text"),
    [
        (
            {"default": {"kind": "block", "density": 0.1}},
            "workload.sparsity.default.kind",
            "allowed values: constant_fan_in, n_m, unstructured",
        ),
        (
            {"default": {"kind": "constant_fan_in", "density": 1.5}},
            "workload.sparsity.default.density",
            "> 0 and <= 1",
        ),
        ({"default": {"kind": "constant_fan_in"}}, "workload.sparsity.default.density", "required"),
        ({"default": {"kind": "n_m", "n": 4, "m": 4}}, "workload.sparsity.default.n", "1 <= n < m"),
        (
            {"default": {"kind": "unstructured", "density": 0.1, "index_bits": "hw"}},
            "workload.sparsity.default.index_bits",
            "only allowed with kind 'n_m'",
        ),
        (
            {"default": {"kind": "n_m", "n": 2, "m": 4, "ablated": 0.1}},
            "workload.sparsity.default.ablated",
            "only allowed with kind 'constant_fan_in'",
        ),
        ({"layers": {"fc0": "sparse"}}, "workload.sparsity.layers.fc0", "allowed: dense"),
        ({"layers": {"fc0": "dense"}}, "workload.sparsity", "no sparse layer"),
        (
            {"default": {"kind": "n_m", "n": 2, "m": 4}, "delta": 10, "grad_accumulation_n": 11},
            "workload.sparsity.grad_accumulation_n",
            "<= delta",
        ),
    ],
)
def test_config_errors_name_file_field_and_allowed(sparsity, field, text):
    with pytest.raises(InputError) as exc:
        config_from_dict(_cfg(sparsity), source="run.yaml", check_files=False)
    msg = str(exc.value)
    assert msg.startswith(f"run.yaml: {field}: ") and text in msg


def test_layer_errors_at_load():
    cfi = {"kind": "constant_fan_in", "density": 0.5}
    with pytest.raises(InputError, match=r"workload\.sparsity\.layers\.conv\*: matches no layer"):
        api.load(_cfg({"layers": {"conv*": cfi}}))
    with pytest.raises(InputError, match=r"layers\.act0: node 'act0' \(Relu\) cannot be sparse"):
        api.load(_cfg({"layers": {"act0": cfi}}))


def test_dram_traffic_of_a_sparse_layer_is_condensed():
    cfi = {"kind": "constant_fan_in", "density": 0.25, "index_bits": 16}
    inp = api.load(_cfg({"default": cfi, "layers": {"fc1": "dense"}}))
    pb, g = inp.problem, inp.graph
    moved = [t for ts in (*pb.dram_read_tensors, *pb.dram_write_tensors) for t in ts]
    w_bits = sum(g.tensors[t].bits for t in moved if t.startswith("fc0.weight"))
    nnz = 16 * 32  # fan-in 64 -> 16 kept, 32 neurons
    # W (read by fc0 and by AdamW) and W.next: 16-bit values + int16 index;
    # m, v, master and their .next: fp32 values only
    assert w_bits == nnz * (3 * 32 + 6 * 32)
    assert g.tensors["fc1.weight"].bits == 32 * 4 * 16


def test_example_solves_within_capacity():
    run = api.solve(EXAMPLE, time_limit=5)
    r = run.milp
    assert r.status in ("optimal", "feasible")
    sched = r.schedule
    assert sched.stats["memory_overflow"] == 0
    for trace in sched.memory.values():
        if trace.capacity_bits:
            assert trace.peak_bits <= trace.capacity_bits * (1 + 1e-9)
    assert any(op.attrs.get("sparsity") for op in run.inputs.graph.ops)
    notes = run.inputs.notes
    assert notes[0].startswith("sparse layer fc0: constant_fan_in, 236,544 of 2,359,296")
    assert "amortized" in notes[-1] and "1.00%" in notes[-1]
    assert run.notes[: len(notes)] == notes  # solve reports them (terminal, result.json)


def test_onnx_and_conv_layers():
    onnx = ROOT.parent / "shared" / "peer-data/stream/v1.13.14_28fb9011/stream/inputs/aie/workload"
    onnx = onnx / "swiglu_32_32_32.onnx"
    nm = {"kind": "n_m", "n": 2, "m": 4}
    if onnx.is_file():
        g = api.load(
            {"workload": {"onnx": str(onnx), "sparsity": {"default": nm}}, "accelerator": CHIP}
        ).graph
        w = g.tensors[g.ops[g.op_index["Gemm_Down"]].inputs[1]]
        assert w.sparse is not None and w.bits == 512 * (16 + 2)  # 2:4 of 32x32, 2-bit meta
    cfi = {"kind": "constant_fan_in", "density": 0.25}
    cfg = {
        "workload": {
            "model": "resnet18-cifar",
            "options": {"batch": 1},
            "sparsity": {"layers": {"layer1.0.conv1": cfi}},
        },
        "accelerator": CHIP,
    }
    g = api.load(cfg).graph
    w = g.tensors["layer1.0.conv1.weight"]  # 64 x 64 x 3 x 3: fan-in 576 -> 144 kept
    assert w.sparse.nnz == 64 * 144 and w.bits == 64 * 144 * (16 + 32)
    roles = {op.name: op.attrs["sparsity"].role for op in g.ops if "sparsity" in op.attrs}
    assert roles == {
        "layer1.0.conv1": "forward",
        "layer1.0.conv1.dX": "dX",
        "layer1.0.conv1.dW": "dW",
    }
