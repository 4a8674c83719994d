"""Capacity-true mapping (monet_opt.cost.mapping): hand-computed cases, the capacity
invariant on random ops and the shipped accelerators, and the exact search against plain
enumeration of the whole mapping space."""

from __future__ import annotations

import itertools
import math
import random
from pathlib import Path

import numpy as np
import pytest

from monet_opt.cost import INFEASIBLE, build_cost_tables, op_cost
from monet_opt.cost.mapping import (
    DramSpec,
    best_mapping,
    candidate_counts,
    core_spec,
    inner_profile,
    mapping_cost,
    unrollings,
)
from monet_opt.cost.op_cost import node_spec
from monet_opt.hardware import load_accelerator
from monet_opt.hardware.model import Accelerator, Core, Memory, OperationalArray, Port
from monet_opt.models.builder import GraphBuilder
from monet_opt.models.ir import Graph

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "hardware"
#: The TPU-like quad core's DRAM: 64 b/cycle, 1000 pJ per 64-bit access.
DRAM = {"dram_cycles_per_bit": 1 / 64, "dram_read_pj_per_bit": 15.625}
DRAM["dram_write_pj_per_bit"] = 15.625


def quad() -> Accelerator:
    return load_accelerator(EXAMPLES / "tpu_like_quad_core.yaml")


def gemm_graph(d: int, c: int, k: int, prec: int = 8) -> Graph:
    b = GraphBuilder("g", prec)
    b.gemm("mm", b.input("x", (d, c)), b.weight("w", (c, k)))
    return b.build()


def conv_graph(c: int, k: int, hw: int, f: int = 3, stride: int = 1, prec: int = 8) -> Graph:
    b = GraphBuilder("g", prec)
    b.conv("conv", b.input("x", (1, c, hw, hw)), b.weight("w", (k, c, f, f)), stride, f // 2)
    return b.build()


def mem(name: str, bits: float, operands: str, r_bw: float = 1024, w_bw: float = 1024,
        pj: float = 1.0, served: tuple[str, ...] = ("D1", "D2")) -> Memory:  # fmt: skip
    return Memory(name, bits, r_bw, w_bw, pj * r_bw, pj * w_bw, frozenset(operands.split(",")),
                  (Port("rw", "read_write", r_bw, r_bw, ()),), served)  # fmt: skip


def held_by_memory(core: Core, held: tuple[tuple[str, float], ...]) -> dict[str, float]:
    use: dict[str, float] = {}
    for x, bits in held:
        top = core.top_memory(x)
        assert top is not None
        use[top.name] = use.get(top.name, 0.0) + bits
    return use


# ------------------------------------------------------------------ hand-computed cases


def test_weights_larger_than_the_weight_sram_stream_once_k_outer_dram_bound():
    # fc-like GEMM with 4608 x 512 8-bit weights (18.9 Mbit, as layer4's 3x3 convs) on a
    # TPU-like core: the 1 MiB weight SRAM cannot hold them.  K-outer tiling streams each
    # weight once (K tiles of 96: two double-buffered 3.5 Mbit tiles fit 8 Mbit), the
    # inputs (1.8 Mbit) and outputs stay whole in sram_1MB_A.  DRAM time 18,874,368 / 64 =
    # 294,912 cycles > 16 * 144 * 49 = 112,896 compute cycles: DRAM-bound.
    g = gemm_graph(49, 4608, 512)
    core = quad().core(0)
    c = op_cost(g.ops[0], core, g, **DRAM)
    w_bits = 4608 * 512 * 8
    assert c.streamed == ("I2",)
    assert c.dram_read_bits == w_bits and c.dram_write_bits == 0.0
    assert c.mapping.startswith("K 6x96 | stream I2 x1")
    assert c.compute_cycles == c.cycles == 16 * 144 * 49
    assert c.latency(1 / 64) == w_bits / 64 == 294_912
    assert c.dram_energy == pytest.approx(w_bits * 15.625)
    held = dict(c.held)
    assert held["I1"] == 49 * 4608 * 8 and held["O"] == 49 * 512 * 8
    assert held["I2"] == 2 * 96 * 4608 * 8 <= 8 * 2**20
    # ``energy`` stays on chip; the DRAM pJ are reported apart
    assert c.energy == pytest.approx(c.compute_energy + c.memory_energy)


def test_output_that_does_not_fit_next_to_its_input_is_written_once():
    # I1 (700 x 1024 B = 5.73 Mbit) and O (700 x 730 B = 4.09 Mbit) each fit the 1 MiB
    # activation SRAM but not together.  Streaming the smaller output costs less DRAM than
    # streaming the input: O tiles are written once, I1 stays whole.  Compute-bound:
    # ceil(730/32) * ceil(1024/32) * 700 = 515,200 cycles > 4,088,000 / 64 DRAM cycles.
    g = gemm_graph(700, 1024, 730)
    core = quad().core(0)
    c = op_cost(g.ops[0], core, g, **DRAM)
    assert c.streamed == ("O",)
    assert c.dram_write_bits == 700 * 730 * 8 and c.dram_read_bits == 0.0
    assert c.cycles == c.compute_cycles == 23 * 32 * 700
    assert held_by_memory(core, c.held)["sram_1MB_A"] <= 8 * 2**20
    # Without DRAM there is nowhere to put the output: infeasible on this core.
    assert op_cost(g.ops[0], core, g).cycles == INFEASIBLE


def test_operands_that_fit_are_resident_with_unchanged_numbers():
    # Resident: no in-node traffic; the whole operands are held; DRAM figures change
    # nothing.  ResNet-18's layer1 conv on a TPU-like core: 2 * 2 * 56 * 56 * 9 cycles.
    g = conv_graph(64, 64, 56)
    core = quad().core(0)
    with_dram = op_cost(g.ops[0], core, g, **DRAM)
    without = op_cost(g.ops[0], core, g)
    assert with_dram == without
    assert without.mapping == "resident" and without.streamed == ()
    assert without.dram_read_bits == without.dram_write_bits == without.dram_energy == 0.0
    assert dict(without.held) == {"I1": 56 * 56 * 64 * 8, "I2": 64 * 64 * 9 * 8,
                                  "O": 56 * 56 * 64 * 8}  # fmt: skip
    assert without.cycles == without.compute_cycles == 2 * 2 * 56 * 56 * 9


def _ox_k_core(buffer_bits: float, w_reg_bits: float = 512) -> Core:
    """A 16 x 8 OX|K array: an 8 B input register per OX row, a weight register per K
    column, an input buffer serving the whole array, a 1 MiB activation SRAM read at
    128 b/cycle (written at 1e6 b/cycle, so its cycles are its reads / 128) and a weight
    SRAM."""
    return Core(
        0, "oxk", "compute", OperationalArray(0.04, ("D1", "D2"), (16, 8)),
        (
            mem("i_reg", 64, "I1", 8, 8, served=("D2",)),
            mem("w_reg", w_reg_bits, "I2", 8, 8, served=("D1",)),
            mem("o_reg", 16, "O", 16, 16, served=()),
            mem("buf", buffer_bits, "I1", 2048, 2048),
            mem("top_a", 8 * 2**20, "I1,O", 128, 1e6),
            mem("top_w", 8 * 2**20, "I2"),
        ),
        dataflows={"D1": (("OX", 16),), "D2": (("K", 8),)},
    )  # fmt: skip


def test_input_rereads_come_from_a_lower_buffer_that_holds_them():
    # 3x3 conv, C = K = 16 on 16 x 16 (same padding): |I1| = 16*16*16*8 = 32,768 bits,
    # |O| = 32,768 bits; K tiles ceil(16/8) = 2, r_win = 9.  Today's model read the inputs
    # 2 * 9 times from the top SRAM: (32,768 * 18 + 32,768) / 128 = 4,864 cycles.  A 32 KB
    # buffer holds all of I1, so the top supplies it once: (32,768 + 32,768) / 128 = 512.
    g = conv_graph(16, 16, 16)
    whole = op_cost(g.ops[0], _ox_k_core(32 * 1024 * 8), g)
    assert dict(whole.memory_cycles)["top_a"] == (32_768 + 32_768) / 128
    # A 64-bit buffer holds nothing: the top serves every re-read, as before.
    none = op_cost(g.ops[0], _ox_k_core(64), g)
    assert dict(none.memory_cycles)["top_a"] == (32_768 * 18 + 32_768) / 128
    assert whole.compute_cycles == none.compute_cycles == 2 * 16 * 16 * 9


def test_input_window_in_a_lower_buffer_saves_the_filter_tap_rereads():
    # C = 64, K = 16 on 64 x 64: |I1| = 64*64*64*8 = 2,097,152 bits does not fit the 32 KB
    # buffer, but the window of one output row does (3 rows * 64 columns * 64 channels * 8 =
    # 98,304 bits): the top sends the inputs once per K tile (2), not 2 * 9 times.  That
    # row-by-row order needs each K column's weights for all channels and taps in its
    # register: 64 * 9 * 8 = 4,608 bits.
    g = conv_graph(64, 16, 64)
    i1, o = 64 * 64 * 64 * 8, 16 * 64 * 64 * 8
    c = op_cost(g.ops[0], _ox_k_core(32 * 1024 * 8, w_reg_bits=4608), g)
    assert dict(c.memory_cycles)["top_a"] == (i1 * 2 + o) / 128
    # With a 64 B weight register the window order would re-read the weights per row: the
    # model keeps the weight-stationary order and the top serves every re-read.
    c = op_cost(g.ops[0], _ox_k_core(32 * 1024 * 8, w_reg_bits=512), g)
    assert dict(c.memory_cycles)["top_a"] == (i1 * 18 + o) / 128


def test_fusemax_unrolling_tie_break_uses_the_whole_array():
    # 1024^3 GEMM (16 bit) on the 256 x 256 array.  Unrolling C and D also has the minimum
    # compute cycles (16,384) but re-reads the inputs for every output column: 16.8 Mbit *
    # 1024 / 8192 b/cycle = 2.1 M cycles.  The full-cost choice reuses inputs across K.
    fm = load_accelerator(EXAMPLES / "fusemax_like.yaml")
    g = gemm_graph(1024, 1024, 1024, prec=16)
    c = op_cost(g.ops[0], fm.core(0), g)
    assert c.utilization == 1.0 and c.cycles == c.compute_cycles == 1024**3 / 256**2
    assert "K" in {d for _, d, _ in c.unrolling}
    # The swiglu Gemm_Left shape (4096 x 4096 x 14336, 448 Mbit of weights) streams from
    # HBM; it was 470 M cycles against 3.67 M of compute.  Now within 1 % of compute.
    big = gemm_graph(4096, 4096, 14336, prec=16)
    r, w = fm.dram_energy_per_bit
    cb = op_cost(big.ops[0], fm.core(0), big, dram_cycles_per_bit=1 / fm.dram_bandwidth,
                 dram_read_pj_per_bit=r, dram_write_pj_per_bit=w)  # fmt: skip
    compute = 4096 * 4096 * 14336 / 256**2
    assert cb.compute_cycles == compute and cb.utilization == 1.0
    assert cb.latency(1 / fm.dram_bandwidth) <= 1.01 * compute


def test_fixed_dataflow_stays_fixed():
    g = conv_graph(3, 64, 64, f=7, stride=2)
    c = op_cost(g.ops[0], quad().core(0), g, **DRAM)
    assert dict((d, u) for _, d, u in c.unrolling) == {"K": 32, "C": 3}


def test_elementwise_larger_than_memory_streams_read_once_write_once():
    # ReLU over 1e6 16-bit elements (16 Mbit in, 16 Mbit out) on the 600 KB SIMD core:
    # read once, written once, in tiles of a multiple of the 64 lanes, double-buffered
    # within the SRAM; DRAM-bound at 32e6 / 64 = 500,000 cycles.
    b = GraphBuilder("g", 16)
    b.elementwise("relu", "Relu", [b.input("x", (1, 1_000_000))])
    g = b.build()
    simd = quad().core(5)
    c = op_cost(g.ops[0], simd, g, **DRAM)
    assert set(c.streamed) == {"I1", "O"}
    assert c.dram_read_bits == c.dram_write_bits == 16e6
    assert c.compute_cycles == math.ceil(1e6 / 64)
    assert c.latency(1 / 64) == 500_000
    assert sum(b for _, b in c.held) <= simd.top_memory("I1").size_bits
    tile = int(c.mapping.split()[1].split("x")[1])
    assert tile % 64 == 0 and dict(c.held)["I1"] == 2 * tile * 16


def test_adamw_streams_through_the_simd_core():
    # AdamW on layer4's 2.36 M parameters (weights, moments, master copy: 566 Mbit) on a
    # 4.9 Mbit SIMD SRAM: every stream once, each buffer double-buffered.
    from monet_opt.models import build_model, derive_training_graph

    g = derive_training_graph(build_model("resnet18-cifar", batch=4), "adamw")
    op = next(o for o in g.ops if o.name == "layer4.1.conv2.weight.adamw")
    simd = quad().core(5)
    c = op_cost(op, simd, g, **DRAM)
    ins = sum(g.tensors[t].bits for t in op.inputs)
    outs = sum(g.tensors[t].bits for t in op.outputs)
    assert c.dram_read_bits == ins and c.dram_write_bits == outs
    assert sum(b for _, b in c.held) <= simd.top_memory("I1").size_bits


def test_cost_tables_carry_the_stream_arrays():
    from monet_opt.models import build_model, derive_training_graph

    g = derive_training_graph(build_model("resnet18-cifar", batch=4), "adamw")
    tab = build_cost_tables(g, quad())
    assert tab.stream_read_bits.shape == tab.latency.shape == tab.stream_write_bits.shape
    for i, row in enumerate(tab.details):
        for c, oc in enumerate(row):
            want = (0.0, 0.0) if oc is None else (oc.dram_read_bits, oc.dram_write_bits)
            assert (tab.stream_read_bits[i, c], tab.stream_write_bits[i, c]) == want
            if oc is not None:
                assert tab.latency[i, c] == oc.cycles and tab.energy[i, c] == oc.energy
    assert tab.stream_read_bits.sum() > 0 and tab.stream_write_bits.sum() > 0
    # Rows picked with dataclasses.replace (as for derived nodes) keep the arrays in step.
    from dataclasses import replace

    idx = np.array([5, 120, 120, 130])
    sub = replace(tab, latency=tab.latency[idx], energy=tab.energy[idx],
                  details=tuple(tab.details[i] for i in idx))  # fmt: skip
    assert np.array_equal(sub.stream_read_bits, tab.stream_read_bits[idx])
    assert np.array_equal(sub.stream_write_bits, tab.stream_write_bits[idx])


def test_tables_without_dram_reject_a_node_that_fits_no_core():
    acc = quad()
    bare = Accelerator("bare", tuple(c for c in acc.cores if not c.is_offchip),
                       tuple(lk for lk in acc.links if 6 not in lk.cores), None)  # fmt: skip
    g = gemm_graph(49, 4608, 512)
    with pytest.raises(ValueError, match="fits no core") as exc:
        build_cost_tables(g, bare)
    assert "no DRAM to stream them from" in str(exc.value)


# ------------------------------------------------------------------ capacity invariant


def random_graph(rng: random.Random) -> Graph:
    """One random conv, GEMM, pooling, element-wise or optimizer-like op."""
    prec = rng.choice([8, 16])
    b = GraphBuilder("r", prec)
    kind = rng.choice(["conv", "gemm", "pool", "ew", "opt"])
    if kind == "conv":
        c, k, hw = rng.choice([3, 16, 64, 256]), rng.choice([8, 64, 512]), rng.choice([7, 28, 112])
        f, s = rng.choice([(1, 1), (3, 1), (3, 2), (7, 2)])
        bt = rng.choice([1, 4])
        b.conv("op", b.input("x", (bt, c, hw, hw)), b.weight("w", (k, c, f, f)), s, f // 2)
    elif kind == "gemm":
        d, c, k = (rng.choice([1, 49, 512, 4096]) for _ in range(3))
        b.gemm("op", b.input("x", (d, c)), b.weight("w", (c, k)))
    elif kind == "pool":
        x = b.input("x", (rng.choice([1, 4]), rng.choice([16, 64]), 112, 112))
        b.pool("op", "MaxPool", x, 3, 2, 1)
    elif kind == "ew":
        n = rng.choice([1_000, 200_000, 3_000_000])
        xs = [b.input(f"x{j}", (rng.choice([1, 4]), n)) for j in range(rng.choice([1, 2]))]
        b.elementwise("op", "Add" if len(xs) > 1 else "Relu", xs)
    else:
        n = rng.choice([5_000, 2_359_296])
        xs = [b.input(f"s{j}", (n,)) for j in range(5)]
        b.elementwise("op", "AdamW", xs)
    return b.build()


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("hw", ["tpu_like_quad_core", "tpu_like_hetero", "fusemax_like"])
def test_held_fits_every_memory_on_random_ops(hw, seed):
    acc = load_accelerator(EXAMPLES / f"{hw}.yaml")
    g = random_graph(random.Random(seed))
    op = g.ops[0]
    r, w = acc.dram_energy_per_bit
    for core in acc.compute_cores:
        c = op_cost(op, core, g, dram_cycles_per_bit=1 / acc.dram_bandwidth,
                    dram_read_pj_per_bit=r, dram_write_pj_per_bit=w)  # fmt: skip
        assert math.isfinite(c.cycles), (core.name, c.mapping)
        for name, bits in held_by_memory(core, c.held).items():
            cap = next(m.size_bits for m in core.memories if m.name == name)
            assert bits <= cap * (1 + 1e-12), (core.name, name, c.mapping)
        sizes = {"I1": g.tensors[op.inputs[0]].bits,
                 "I2": sum(g.tensors[t].bits for t in op.inputs[1:]),
                 "O": g.tensors[op.outputs[0]].bits}  # fmt: skip
        for x, bits in c.held:
            if x not in c.streamed:
                assert bits == sizes[x]
        reads = sum(sizes[x] for x in c.streamed if x != "O")
        writes = sizes["O"] if "O" in c.streamed else 0.0
        assert c.dram_read_bits >= reads and c.dram_write_bits >= writes
        if not c.streamed:
            assert c.dram_read_bits == c.dram_write_bits == 0.0 and c.mapping == "resident"


# ------------------------------------------------------------------ exact search


def tiny_core(fixed: bool, shared: bool, seed: int) -> Core:
    """A 4 x 4 array with small memories (so that tiling binds), optionally a TPU-like
    split of activation and weight SRAMs and a fixed K|C dataflow."""
    rng = random.Random(seed)
    size = rng.choice([2048, 6000, 16384])
    if shared:
        srams = (mem("sram", size, "I1,I2,O", rng.choice([64, 512])),)
    else:
        srams = (mem("sram_a", size, "I1,O", 256), mem("sram_w", size // 2, "I2", 128))
    mems = (mem("w_reg", 64, "I2", 8, 8, served=()), mem("buf", rng.choice([256, 2048]), "I1"),
            *srams)  # fmt: skip
    flow = {"D1": (("K", 4),), "D2": (("C", 4),)} if fixed else None
    return Core(0, "tiny", "compute", OperationalArray(0.1, ("D1", "D2"), (4, 4)), mems, flow)


def tiny_graph(rng: random.Random) -> Graph:
    b = GraphBuilder("t", 8)
    kind = rng.choice(["conv", "gemm", "ew", "pool"])
    if kind == "conv":
        c, k, hw = rng.choice([3, 8, 12]), rng.choice([4, 10, 16]), rng.choice([5, 8, 12])
        f, s = rng.choice([(1, 1), (3, 1), (3, 2)])
        b.conv("op", b.input("x", (rng.choice([1, 2]), c, hw, hw)), b.weight("w", (k, c, f, f)),
               s, f // 2)  # fmt: skip
    elif kind == "gemm":
        d, c, k = rng.choice([1, 6, 20]), rng.choice([4, 16, 40]), rng.choice([5, 16, 48])
        b.gemm("op", b.input("x", (d, c)), b.weight("w", (c, k)))
    elif kind == "ew":
        xs = [b.input(f"x{j}", (rng.choice([1, 3]), rng.choice([50, 700]))) for j in range(2)]
        b.elementwise("op", "Add", xs[:1] + [b.input("y", b.shape(xs[0]))])
    else:
        b.pool("op", "MaxPool", b.input("x", (1, rng.choice([4, 8]), 16, 16)), 3, 2, 1)
    return b.build()


def brute_force(spec, cs, dram):
    """Minimum key over the whole mapping space: every unrolling, held set and ordered nest
    of up to two tileable dims with every candidate count (no pruning)."""
    best = None
    L = spec.sizes
    ops = [x for x in range(3) if spec.operands[x].bits > 0 and cs.levels[x]]
    if spec.mac:
        inners = [inner_profile(spec, cs, t, u) for t, u in unrollings(spec, cs)]
    else:
        inners = [inner_profile(spec, cs, math.ceil(spec.work / cs.n_pes), ())]
    dims = [d for d in spec.tileable if d in L]
    for inner in inners:
        u = inner.factors
        counts = {
            d: [n for n, _ in candidate_counts(L[d], (u.get(d, 1) if spec.mac else
                                                      (cs.n_pes if d == "E" else 1)))]
            for d in dims
        }  # fmt: skip
        for r in range(len(ops) + 1):
            for held in itertools.combinations(ops, r):
                for k in range(3):
                    for nd in itertools.permutations(dims, k):
                        for ns in itertools.product(*(counts[d] for d in nd)):
                            key = mapping_cost(spec, cs, dram, inner, frozenset(held),
                                               tuple(zip(nd, ns, strict=True)))  # fmt: skip
                            if key is not None and (best is None or key < best):
                                best = key
    return best


@pytest.mark.parametrize("seed", range(60))
def test_search_equals_brute_force_over_the_mapping_space(seed):
    rng = random.Random(seed)
    g = tiny_graph(rng)
    cs = core_spec(tiny_core(fixed=seed % 3 == 0, shared=seed % 2 == 0, seed=seed))
    dram = DramSpec(rng.choice([1 / 8, 1 / 64]), 10.0, 12.0, present=seed % 7 != 0)
    spec = node_spec(g.ops[0], g)
    want = brute_force(spec, cs, dram)
    got = best_mapping(spec, cs, dram)
    if want is None:
        assert not got.feasible
    else:
        assert got.feasible
        assert np.allclose(got.key, want, rtol=1e-12, atol=0.0), (got.key, want, got.nest)


def test_brute_force_instances_exercise_streaming():
    # The random instances above include streamed mappings with one- and two-loop nests.
    nests = set()
    for seed in range(60):
        rng = random.Random(seed)
        g = tiny_graph(rng)
        cs = core_spec(tiny_core(fixed=seed % 3 == 0, shared=seed % 2 == 0, seed=seed))
        dram = DramSpec(rng.choice([1 / 8, 1 / 64]), 10.0, 12.0, present=seed % 7 != 0)
        res = best_mapping(node_spec(g.ops[0], g), cs, dram)
        if res.feasible:
            nests.add(len(res.nest))
    assert nests >= {0, 1, 2}


def test_candidate_counts_are_every_reachable_count_with_its_smallest_tile():
    for size, unit in [(10, 1), (512, 32), (7, 3), (100, 7), (1, 1), (64, 64)]:
        want: dict[int, int] = {}
        for t in range(unit, size + unit, unit):
            n = math.ceil(size / t)
            if n >= 2:
                want.setdefault(n, t)
        assert dict(candidate_counts(size, unit)) == want
