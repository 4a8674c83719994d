"""An accelerator without DRAM is rejected when tensors must leave the chip."""

from __future__ import annotations

import numpy as np
import pytest

from monet_opt.cost.tables import build_cost_tables, has_dram
from monet_opt.hardware.model import Accelerator
from monet_opt.models import build_model, derive_training_graph
from monet_opt.models.ir import Graph, Op, OpKind, Phase, Tensor, TensorRole
from monet_opt.schedule.problem import build_problem
from tests.factories import accelerator


def _without_dram(acc: Accelerator) -> Accelerator:
    """``acc`` minus its off-chip core and the links that reach it."""
    oc = acc.offchip_core_id
    cores = tuple(c for c in acc.cores if c.id != oc)
    links = tuple(lk for lk in acc.links if oc not in lk.cores)
    return Accelerator(acc.name, cores, links, None, acc.memory_sharing, "nodram.yaml")


def test_cost_tables_record_whether_dram_exists() -> None:
    acc = accelerator(2, hetero=False)
    graph = derive_training_graph(build_model("mlp", batch=2, sizes=(8, 4)))
    assert has_dram(acc) and build_cost_tables(graph, acc).has_dram
    bare = _without_dram(acc)
    tables = build_cost_tables(graph, bare)
    assert not has_dram(bare) and not tables.has_dram
    assert tables.dram_cycles_per_bit == 0.0 and tables.dram_read_pj_per_bit == 0.0


def test_build_problem_without_dram_rejects_dram_traffic() -> None:
    # Old behaviour: no error, every DRAM transfer took 0 cycles and 0 pJ.
    graph = derive_training_graph(build_model("mlp", batch=2, sizes=(8, 4)))
    bare = _without_dram(accelerator(2, hetero=False))
    with pytest.raises(ValueError) as exc:
        build_problem(graph, bare)
    msg = str(exc.value)
    assert msg.startswith("accelerator 'test2' has no DRAM (no core of kind offchip), but the ")
    assert "to/from DRAM: " in msg and "weights" in msg and "optimizer state" in msg
    assert "network inputs" in msg and "labels" in msg
    assert "add an offchip core" in msg and "nodram.yaml" in msg
    assert "\n" not in msg


def test_build_problem_without_dram_accepts_an_on_chip_workload() -> None:
    # A source op feeding a sink op: no tensor enters or leaves the chip.
    t = {"x": Tensor("x", (8,), 16, TensorRole.ACTIVATION)}
    ops = (
        Op("gen", "Relu", OpKind.ELEMENTWISE, Phase.FORWARD, {"B": 1, "E": 8}, (), ("x",), 8),
        Op("use", "Relu", OpKind.ELEMENTWISE, Phase.FORWARD, {"B": 1, "E": 8}, ("x",), (), 8),
    )
    pb = build_problem(Graph("on_chip", ops, t), _without_dram(accelerator(2, hetero=False)))
    assert float(np.sum(pb.dram_read_bits) + np.sum(pb.dram_write_bits)) == 0.0
    assert not pb.costs.has_dram


def test_dram_too_small_for_the_step_states_the_minimum() -> None:
    """Issue 10: a DRAM capacity the step cannot fit in is an error that states the
    minimum DRAM the step needs (capacity semantics)."""
    import dataclasses

    from monet_opt.models import build_model, derive_training_graph
    from tests.factories import accelerator

    acc = accelerator(2)
    dc = acc.core(acc.offchip_core_id)
    small = dataclasses.replace(dc, memories=(dataclasses.replace(dc.memories[0], size_bits=8e3),))
    acc2 = dataclasses.replace(acc, cores=tuple(small if c.id == dc.id else c for c in acc.cores))
    g = derive_training_graph(build_model("mlp", batch=2, sizes=[64, 64, 10]))
    with pytest.raises(ValueError, match="needs at least 64.75 KiB of DRAM"):
        build_problem(g, acc2, memory="capacity")
    build_problem(g, acc2, memory="unbounded")  # no capacities: accepted
