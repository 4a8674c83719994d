"""Sparse-layer cost regimes on a hand-sized core (monet_opt.cost.sparse)."""

from __future__ import annotations

import math

import pytest

from monet_opt.cost import op_cost
from monet_opt.cost.sparse import imbalance, sparse_mode
from monet_opt.hardware.model import Core, OperationalArray, SparseSupport
from monet_opt.models import derive_training_graph
from monet_opt.models.sparsity import SparsitySpec, apply_sparsity, sparse_info
from monet_opt.models.zoo import mlp
from tests.factories import memory

BIG = 1e6  # bits/cycle: memories never bind


def _core(sparse: SparseSupport | None) -> Core:
    """A 4x4 K|C array (16 PEs) with one wide SRAM holding everything."""
    return Core(
        id=0,
        name="c",
        kind="compute",
        array=OperationalArray(0.1, ("D1", "D2"), (4, 4)),
        memories=(memory("sram", 2**30, BIG, 1.0, "I1,I2,O"),),
        dataflows={"D1": (("K", 4),), "D2": (("C", 4),)},
        sparse=sparse,
    )


def _graph(spec: SparsitySpec, batch: int = 1):
    # layer fc0: 64 -> 16 (fan-in 64, 16 neurons), then a dense head 16 -> 4
    g = derive_training_graph(mlp(batch=batch, sizes=(64, 16, 4)), optimizer="sgd")
    return apply_sparsity(g, {"fc0": spec})


def _cost(g, name, core):
    return op_cost(g.ops[g.op_index[name]], core, g)


CFI = SparsitySpec("constant_fan_in", 0.25)  # 16 of 64 inputs per neuron: nnz = 256


def test_dense_array_gets_no_compute_gain():
    g = _graph(CFI)
    oc = _cost(g, "fc0", _core(None))
    assert oc.compute_cycles == math.ceil(64 / 4) * math.ceil(16 / 4)  # dense: 64 cycles
    assert oc.compute_energy == pytest.approx(64 * 16 * 0.1)  # dense MACs
    assert "sparse dense" in oc.mapping


def test_gather_path_compute_gather_and_index_bounds():
    g = _graph(CFI)
    full = _core(SparseSupport(gather_bits_per_cycle=16 * 16, index_bits_per_cycle=BIG))
    oc = _cost(g, "fc0", full)
    # B*nnz/PEs: ceil(16/4) * ceil(16/4) = 16 cycles; gather 256 * 16 b / 256 = 16
    assert oc.compute_cycles == 16 and oc.cycles == 16
    assert oc.compute_energy == pytest.approx(256 * 0.1)
    narrow = _core(SparseSupport(gather_bits_per_cycle=64, index_bits_per_cycle=BIG))
    oc = _cost(g, "fc0", narrow)
    assert dict(oc.memory_cycles)["gather"] == 256 * 16 / 64 and oc.cycles == 64
    slow_idx = _core(SparseSupport(gather_bits_per_cycle=BIG, index_bits_per_cycle=32))
    oc = _cost(g, "fc0", slow_idx)
    assert dict(oc.memory_cycles)["index"] == 256 * 32 / 32 and oc.cycles == 256


def test_gather_bound_grows_with_batch_compute_with_nnz():
    core = _core(SparseSupport(gather_bits_per_cycle=64, index_bits_per_cycle=BIG))
    dense_core = _core(None)
    b1, b64 = _graph(CFI, 1), _graph(CFI, 64)
    # batch 64: gather 64 * 256 * 16 / 64 = 4096 cycles vs dense 64 * 64 = 4096: no gain
    assert _cost(b64, "fc0", core).cycles == 4096
    assert _cost(b64, "fc0", dense_core).cycles == 4096
    assert _cost(b1, "fc0", core).cycles == 64


def test_n_m_rate_forward_only():
    nm = SparsitySpec.n_m_spec(2, 4)
    g = derive_training_graph(mlp(batch=1, sizes=(8, 64, 16, 4)), optimizer="sgd")
    g = apply_sparsity(g, {"fc1": nm})
    core = _core(SparseSupport(n_m=frozenset({(2, 4)})))
    fwd, dx = (g.ops[g.op_index[n]] for n in ("fc1", "fc1.dX"))
    assert sparse_mode(fwd, core) == "n_m" and sparse_mode(dx, core) == "dense"
    assert op_cost(fwd, core, g).compute_cycles == math.ceil(32 / 4) * 4  # half the C loop
    assert op_cost(dx, core, g).compute_cycles == 16 * 4  # dense
    other = _core(SparseSupport(n_m=frozenset({(1, 4)})))
    assert sparse_mode(fwd, other) == "dense"


def test_masked_dw_and_dx_follow_sparsity():
    g = derive_training_graph(mlp(batch=8, sizes=(8, 64, 16, 4)), optimizer="sgd")
    g = apply_sparsity(g, {"fc1": CFI}, dense_grad_fraction=0.0)
    core = _core(SparseSupport(gather_bits_per_cycle=BIG, index_bits_per_cycle=BIG))
    dense = _core(None)
    for name in ("fc1.dX", "fc1.dW"):
        s, d = _cost(g, name, core), _cost(g, name, dense)
        assert s.compute_energy == pytest.approx(d.compute_energy / 4)
        assert s.compute_cycles < d.compute_cycles


def test_csr_lockstep_imbalance():
    csr = SparsitySpec("unstructured", 0.25)
    g = _graph(csr)
    info = sparse_info(g.ops[g.op_index["fc0"]])
    f = 16.0
    assert imbalance(info, 4) == pytest.approx(1 + math.sqrt(0.75 / f) * math.sqrt(2 * math.log(4)))
    core = _core(SparseSupport(gather_bits_per_cycle=BIG, index_bits_per_cycle=BIG))
    oc = _cost(g, "fc0", core)
    assert dict(oc.memory_cycles)["lockstep"] == math.ceil(16 * imbalance(info, 4))
    assert imbalance(sparse_info(_graph(CFI).ops[0]), 4) == 1.0
