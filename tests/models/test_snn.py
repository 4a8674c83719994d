"""SNN workloads trained with BPTT (``monet_opt.models.snn``, ``docs/snn.md``).

Hand-sized instance: 100 inputs -> 64 hidden -> 10 classes, T = 4 steps in groups of 2,
batch 2, 10 % of the inputs and 25 % of the hidden / output neurons active per step.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from monet_opt.cli import cli
from monet_opt.cost.mapping import core_spec
from monet_opt.cost.op_cost import node_spec, op_cost
from monet_opt.cost.sparse import ACCUMULATE_ENERGY_FRACTION, sparse_mode, sparse_node_spec
from monet_opt.hardware import load_accelerator
from monet_opt.models import Precision
from monet_opt.models.ir import Phase
from monet_opt.models.snn import SnnSpec, snn, snn_training_graph
from monet_opt.models.sparsity import sparse_info
from monet_opt.models.zoo import build_model

ROOT = Path(__file__).resolve().parents[2]
GATHER = ROOT / "examples" / "hardware" / "tpu_like_quad_core_gather.yaml"
PLAIN = ROOT / "examples" / "hardware" / "tpu_like_quad_core.yaml"

HAND = dict(
    inputs=100,
    steps=4,
    classes=10,
    batch=2,
    hidden_layers=1,
    hidden_width=64,
    activity=0.25,
    input_activity=0.1,
    steps_per_node=2,
)


def _train(**over: object):
    return snn_training_graph(snn(None, **{**HAND, **over}), "sgd", Precision())  # type: ignore[arg-type]


def _op(g, name):
    return g.ops[g.op_index[name]]


def _kept_work(g, name, core):
    """Work the core performs on ``name`` (accumulates / MACs after skipping)."""
    op = _op(g, name)
    spec = node_spec(op, g)
    return sparse_node_spec(spec, op, sparse_mode(op, core), core_spec(core)).work


def test_op_counts_by_hand():
    g = _train()
    core = load_accelerator(GATHER).cores[0]
    # forward synaptic op: dense B*k*N_in*N_out MACs, kept B*k*s*N_out accumulates
    assert _op(g, "l1.g0.syn").macs == 2 * 2 * 100 * 64
    assert _kept_work(g, "l1.g0.syn", core) == 2 * 2 * 10 * 64  # s = 10 active inputs
    assert _kept_work(g, "l2.g1.syn", core) == 2 * 2 * 16 * 10  # s = 16 active hidden
    # dW: B*k*s_in*N_out per group of k steps
    assert _kept_work(g, "l1.g1.syn.dW", core) == 2 * 2 * 10 * 64
    assert _kept_work(g, "l2.g0.syn.dW", core) == 2 * 2 * 16 * 10
    # dX: dense B*k*N_out*N_in without the second threshold
    assert sparse_info(_op(g, "l2.g0.syn.dX")) is None
    assert _op(g, "l2.g0.syn.dX").macs == 2 * 2 * 10 * 64
    # second threshold: 20 % of the neurons carry a surrogate gradient (2 of 10 outputs)
    g2 = _train(grad_activity=0.2)
    assert _kept_work(g2, "l2.g0.syn.dX", core) == 2 * 2 * 2 * 64
    assert _kept_work(g2, "l2.g0.syn.dW", core) == 2 * 2 * 16 * 2
    # dI stored as ids + values: 8 of 40 gradients, 4-bit ids, 16-bit values, 5 pointers
    assert g2.tensors["d[l2.g0.current]"].bits == 8 * (16 + 4) + 5 * 32


def test_spike_traffic_is_spike_ids():
    g = _train()
    # input group: 2 samples x 2 steps x 100 inputs, 10 % active: 40 ids of 7 bits + 5
    # row pointers of 32 bits; no values
    assert g.tensors["input.g0"].bits == 40 * 7 + 5 * 32
    # hidden spikes: 25 % of 2 x 2 x 64 = 64 ids of 6 bits
    assert g.tensors["l1.g1.spikes"].bits == 64 * 6 + 5 * 32
    dense = _train(spike_format="dense")
    assert dense.tensors["l1.g1.spikes"].bits == 2 * 2 * 64 * 16
    assert all(sparse_info(op) is None for op in dense.ops)


def test_accumulates_cost_less_than_macs_on_a_gather_core_only():
    g = _train()
    op = _op(g, "l1.g0.syn")
    gather = load_accelerator(GATHER).cores[0]
    plain = load_accelerator(PLAIN).cores[0]
    e_mac = gather.array.unit_energy
    cg = op_cost(op, gather, g)
    cp = op_cost(op, plain, g)
    assert cg.compute_energy == pytest.approx(2560 * e_mac * ACCUMULATE_ENERGY_FRACTION)
    assert cp.compute_energy == pytest.approx(op.macs * e_mac)  # dense: MACs on 0/1 spikes
    assert cg.mapping.endswith("sparse gather") and cp.mapping.endswith("sparse dense")
    # the gather path moves one 16-bit weight per accumulate at 2048 bits / cycle
    assert dict(cg.memory_cycles)["gather"] == 2560 * 16 / 2048
    # batch 16, 50 % input activity: gathering 16 * 2 * 50 * 64 weights (800 cc) is slower
    # than the dense 32 x 32 array (4 * 2 * 32 = 256 cc): the core decodes the ids and
    # runs the op dense
    g50 = _train(input_activity=0.5, batch=16)
    c50 = op_cost(_op(g50, "l1.g0.syn"), gather, g50)
    assert c50.mapping.endswith("sparse dense") and c50.cycles == 256


def test_unrolling_and_bptt_edges():
    g = _train(steps=5)  # groups of 2, 2, 1 steps
    names = {op.name for op in g.ops}
    for grp, k in enumerate((2, 2, 1)):
        assert _op(g, f"l1.g{grp}.syn").loop_dims["D"] == k
        assert g.tensors[f"l1.g{grp}.membrane"].shape == (2, k, 64)
    assert "l1.g3.syn" not in names
    # forward: the membrane state flows group to group
    assert "l1.g0.state" in _op(g, "l1.g1.lif").inputs
    # backward through time: the state gradient flows from group g + 1 to group g
    assert "d[l1.g1.state]" in _op(g, "l1.g2.lif.grad").outputs
    assert "d[l1.g1.state]" in _op(g, "l1.g1.lif.grad").inputs
    assert "l1.g1.membrane" in _op(g, "l1.g1.lif.grad").inputs
    # dW accumulated over the groups in place, the last (group 0) feeds the optimizer
    assert "d[l1.weight]@g1" in _op(g, "l1.g0.syn.dW").inputs
    assert _op(g, "l1.g0.syn.dW").outputs == ("d[l1.weight]",)
    assert _op(g, "l1.weight.sgd").inputs[0] == "d[l1.weight]"
    # the running sum is the output's initial value, not an array operand (I2 = dI only)
    dw = _op(g, "l1.g0.syn.dW")
    assert dw.attrs["running_sum"] and "running_sum" not in _op(g, "l1.g2.syn.dW").attrs
    assert node_spec(dw, g).operands[1].bits == g.tensors["d[l1.g0.current]"].bits
    assert "l1.g0.syn.dX" not in names  # the input spikes need no gradient
    # the state tensors of every group are the checkpoint candidates
    for grp in range(3):
        assert {f"l1.g{grp}.membrane", f"l1.g{grp}.spikes"} <= g.checkpoint_candidates
    assert {op.phase for op in g.ops} == set(Phase)
    # work does not depend on the grouping
    g1 = _train(steps_per_node=1)
    assert g1.total_macs() == _train(steps_per_node=4).total_macs()
    assert len(g1.ops) > len(_train(steps_per_node=4).ops)


def test_recurrent_layers():
    g = _train(recurrent=True)
    names = {op.name for op in g.ops}
    assert "l1.g0.rec" not in names and "l1.g1.rec" in names and "l2.g1.rec" not in names
    assert _op(g, "l1.g1.rec").inputs == ("l1.g0.spikes", "l1.rec_weight")
    assert _op(g, "l1.g1.rec.dW").outputs == ("d[l1.rec_weight]",)
    # the spikes of group 0 get gradient from the next layer and from the recurrence
    assert "d[l1.g0.spikes]@l1.g1.rec.dX" in _op(g, "l1.g0.lif.grad").inputs


def test_presets_and_zoo():
    g = build_model("snn-nmnist")
    spec = g.ops[0].attrs["snn"]
    assert isinstance(spec, SnnSpec)
    assert (spec.inputs, spec.steps, spec.classes, spec.batch) == (2312, 100, 10, 48)
    assert build_model("snn-shd").ops[0].attrs["snn"].widths == (700, 256, 256, 20)
    assert build_model("snn-dvsgesture", hidden_layers=3).ops[0].attrs["snn"].groups == (10,) * 5
    assert len(snn_training_graph(g)) < 200  # default 10 steps per node


@pytest.mark.parametrize(
    ("options", "text"),
    [
        ({"activity": 0.9}, "activity must be in [0.005, 0.5]"),
        ({"activity": 0.001}, "activity must be in [0.005, 0.5]"),
        ({"input_activity": 0.0}, "input_activity must be in"),
        ({"grad_activity": 1.5}, "grad_activity must be in"),
        ({"steps_per_node": 0}, "steps_per_node must be an integer >= 1"),
        ({"spike_format": "bitmask"}, "spike_format='bitmask' is not allowed"),
        ({"width": 3}, "unknown option 'width'"),
    ],
)
def test_config_errors_name_the_field_and_exit_2(tmp_path, options, text):
    cfg = {
        "workload": {"model": "snn-shd", "options": options},
        "accelerator": str(GATHER),
    }
    p = tmp_path / "snn.yaml"
    p.write_text(yaml.safe_dump(cfg))
    r = CliRunner().invoke(cli, ["validate", str(p)])
    assert r.exit_code == 2, r.output
    line = r.stderr.strip()
    assert line.startswith(f"error: {p}: workload.options: ") and text in line, line


def test_example_solves(tmp_path):
    from monet_opt import api

    run = api.solve(ROOT / "examples" / "snn_nmnist.yaml", time_limit=8)
    r = run.milp
    assert r.status in ("optimal", "feasible")
    assert r.schedule.stats["memory_overflow"] == 0
    assert run.inputs.graph.name == "snn-nmnist-train"


def test_checkpointing_recomputes_state_tensors():
    from monet_opt import api

    options = {**HAND, "preset": None, "steps": 8, "batch": 4, "hidden_layers": 2}
    options["activity"] = options["input_activity"] = 0.1
    cfg = {
        "workload": {"model": "snn", "options": options, "optimizer": "sgd"},
        "accelerator": str(GATHER),
        "checkpointing": {"mode": "optimal", "budget_fraction": 0.5},
        "solver": {"time_limit_s": 3},
    }
    run = api.solve(cfg)
    r = run.milp
    assert r.status in ("optimal", "feasible")
    assert r.extra["recomputed"]  # the store-all footprint is over the budget
    assert set(r.extra["recomputed"]) <= run.inputs.graph.checkpoint_candidates
    assert run.inputs.notes[0].startswith("SNN snn: LIF layers 100-64-64-10, batch 4, T = 8")
