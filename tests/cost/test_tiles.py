"""Tile groups (monet_opt.cost.tiles): multiplicity and the BSP superstep, by hand."""

from __future__ import annotations

import math

import pytest

from monet_opt.cost import op_cost
from monet_opt.cost.mapping import OPERAND_NAMES
from monet_opt.cost.op_cost import node_spec
from monet_opt.cost.tiles import split_spec
from monet_opt.hardware.model import Core, OperationalArray, TileGroup
from monet_opt.models import derive_training_graph
from monet_opt.models.zoo import mlp
from tests.factories import memory

BIG = 1e6  # bits/cycle: memories never bind


def _tile(tiles: TileGroup | None = None, sram_bits: float = 2**30) -> Core:
    """One tile: a 4x4 K|C array (16 PEs) and one SRAM holding everything."""
    return Core(
        id=0,
        name="t",
        kind="compute",
        array=OperationalArray(0.1, ("D1", "D2"), (4, 4)),
        memories=(memory("sram", sram_bits, BIG, 1.0, "I1,I2,O"),),
        dataflows={"D1": (("K", 4),), "D2": (("C", 4),)},
        tiles=tiles,
    )


def _fc0(batch: int, neurons: int):
    g = derive_training_graph(mlp(batch=batch, sizes=(64, neurons, 4)), optimizer="sgd")
    return g, g.ops[g.op_index["fc0"]]


def test_group_of_n_tiles_equals_n_explicit_tiles():
    # fc0: batch 4, 64 -> 16.  On one tile: 16/4 K tiles x 64/4 C tiles x 4 rows = 256 cc.
    g, op = _fc0(4, 16)
    one = op_cost(op, _tile(), g)
    assert one.compute_cycles == 256
    # n = 4 explicit tiles each run a quarter of the layer (64 -> 4 neurons): 64 cc each.
    gq, opq = _fc0(4, 4)
    quarter = op_cost(opq, _tile(), gq)
    assert quarter.compute_cycles == 64
    # the group of 4 tiles (free exchange, no sync) takes the time of one explicit tile
    group = op_cost(op, _tile(TileGroup(count=4)), g)
    assert group.compute_cycles == quarter.compute_cycles == one.compute_cycles / 4
    assert group.cycles == quarter.cycles
    assert group.mapping.startswith("tiles 4 ")
    assert group.utilization == pytest.approx(one.utilization)  # all 4 tiles busy
    # n-way parallel: the same MACs in total, so the same compute energy
    assert group.compute_energy == pytest.approx(one.compute_energy)
    # more tiles than output elements: at most 4 x 16 = 64 slices, never faster than 1 row
    many = op_cost(op, _tile(TileGroup(count=10_000)), g)
    assert many.compute_cycles == math.ceil(64 / 4)  # one output element per tile: C 64 / 4
    # 64 of the 10,000 tiles work, each with 1 of its 4 K lanes
    assert many.utilization == pytest.approx(64 / 10_000 * 0.25)


def test_tensor_must_fit_per_tile_not_in_the_sum():
    # fc0 batch 1, 64 -> 16: weights 64*16*16 b = 16 kib.  Tiles of 6 kib: no single tile
    # holds the weight, 4 tiles hold a quarter (4 kib) each plus the 1 kib input.
    g, op = _fc0(1, 16)
    w_bits = g.tensors[op.inputs[1]].bits
    assert w_bits == 64 * 16 * 16
    small = 6 * 1024
    assert math.isinf(op_cost(op, _tile(sram_bits=small), g, has_dram=False).cycles)
    group = op_cost(op, _tile(TileGroup(count=4), sram_bits=small), g, has_dram=False)
    assert math.isfinite(group.cycles)
    # and the held bits reported are the group's: 4 tiles x their slices
    assert dict(group.held)["I2"] == pytest.approx(w_bits)


def test_bsp_superstep_by_hand():
    # fc0 batch 1, 64 -> 16 on 4 tiles: split K 16 -> 4 neurons per tile.
    # exchange: each tile needs all of I1 (64 x 16 b = 1024 b) and holds 1/4 of it:
    #   h = 1024 - 256 = 768 b; the weights are split with their neurons: 0 b.
    #   at 64 b/cc: 12 cc.  compute: K 4 / 4 x C 64 / 4 = 16 cc.  sync 100 cc.
    g, op = _fc0(1, 16)
    i1 = g.tensors[op.inputs[0]].bits
    assert i1 == 1024
    tg = TileGroup(count=4, sync_cycles=100, exchange_bits_per_cycle=64, exchange_pj_per_bit=0.5)
    oc = op_cost(op, _tile(tg), g)
    assert oc.mapping.startswith("tiles 4 (K 4)")
    assert oc.compute_cycles == 16
    mc = dict(oc.memory_cycles)
    assert mc["exchange"] == 12 and mc["sync"] == 100
    assert oc.cycles == 12 + 16 + 100
    # exchange energy: 768 b received by each of the 4 tiles at 0.5 pJ/b on top of the
    # tiles' memory energy
    free = op_cost(op, _tile(TileGroup(count=4, exchange_bits_per_cycle=64)), g)
    assert oc.memory_energy - free.memory_energy == pytest.approx(768 * 4 * 0.5)
    # split_spec agrees: the slice and the h-relation
    sp = split_spec(node_spec(op, g), 4, 16, BIG, 64.0)
    assert sp.used == 4 and sp.dims == (("K", 4),)
    assert sp.exchange_bits == pytest.approx(768)
    assert sp.spec.operands[OPERAND_NAMES.index("I2")].bits == pytest.approx(64 * 4 * 16)


def test_slow_exchange_keeps_the_node_on_fewer_tiles():
    # at 8 b/cc the 4-way split would wait 96 cc for its input; one tile computes in 64 cc
    g, op = _fc0(1, 16)
    oc = op_cost(op, _tile(TileGroup(count=4, sync_cycles=10, exchange_bits_per_cycle=8)), g)
    assert oc.mapping.startswith("tiles 1 ")
    assert oc.cycles == 64 + 10


def test_ordinary_cores_unchanged():
    g, op = _fc0(4, 16)
    a = op_cost(op, _tile(), g)
    assert a.mapping and not a.mapping.startswith("tiles")
    assert "exchange" not in dict(a.memory_cycles)
