"""Cost-model terms checked against hand calculations (module docstring equations)."""

import math
from pathlib import Path

import pytest

from monet_opt.cost import (
    build_cost_tables,
    can_run,
    kind_runs_on,
    op_cost,
    route,
    spatial_unrolling,
    supported_kinds,
)
from monet_opt.hardware import load_accelerator
from monet_opt.hardware.model import Core, OperationalArray
from monet_opt.models.ir import Graph, Op, OpKind, Phase, Tensor, TensorRole
from tests.factories import accelerator, compute_core, memory


def conv_graph(B=1, K=64, C=3, OY=112, OX=112, FY=7, FX=7, stride=2, prec=8) -> Graph:
    iy, ix = OY * stride, OX * stride
    t = {
        "x": Tensor("x", (B, C, iy, ix), prec, TensorRole.INPUT),
        "w": Tensor("w", (K, C, FY, FX), prec, TensorRole.WEIGHT),
        "y": Tensor("y", (B, K, OY, OX), prec, TensorRole.ACTIVATION),
    }
    dims = {"B": B, "K": K, "C": C, "OY": OY, "OX": OX, "FY": FY, "FX": FX}
    op = Op(
        "conv",
        "Conv",
        OpKind.CONV,
        Phase.FORWARD,
        dims,
        ("x", "w"),
        ("y",),
        math.prod(dims.values()),
    )
    return Graph("g", (op,), t)


def kc_core() -> Core:
    return compute_core(0, 32, 32, pj_mac=0.04, dataflow={"D1": (("K", 32),), "D2": (("C", 32),)})


def test_conv1_cycles_and_utilization_match_hand_calculation():
    # ResNet-18 conv1 on a K32|C32 array: ceil(64/32) * ceil(3/32) * 112*112*7*7 cycles,
    # utilization 3/32 (Stream 0.0.8 / ZigZag 2.4.3 give 1.23 M cycles at 3/32 for this
    # layer; docs/calibration_stream.md).
    # The 256 KiB SRAM holds neither the 1.2 Mbit input nor the 6.4 Mbit output: they stream
    # from a 64 b/cycle DRAM, which leaves the compute cycles and the unrolling as they are.
    g = conv_graph()
    c = op_cost(g.ops[0], kc_core(), g, dram_cycles_per_bit=1 / 64, dram_read_pj_per_bit=15.625)
    assert set(c.streamed) == {"I1", "O"} and c.cycles >= c.compute_cycles
    assert c.compute_cycles == 2 * 1 * 112 * 112 * 7 * 7
    assert c.utilization == pytest.approx(3 / 32)
    assert c.compute_energy == pytest.approx(g.ops[0].macs * 0.04)
    assert dict((d, u) for _, d, u in c.unrolling) == {"K": 32, "C": 3}


def test_best_unrolling_chosen_without_dataflow():
    # without a fixed dataflow the model may unroll OX instead of C for C = 3
    g = conv_graph()
    free = compute_core(0, 32, 32)
    cycles, unroll = spatial_unrolling(g.ops[0], free)
    assert cycles < 2 * 112 * 112 * 49
    assert cycles >= g.ops[0].macs / 1024


def test_elementwise_cycles_and_bandwidth_bound():
    # 1e6 element ops on 64 lanes: ceil(1e6/64) compute cycles.  The single SRAM (64 Mbit:
    # both 16 Mbit operands fit, the node is resident) is filled with the input and read by
    # the lanes (reads: 16e6 bits in + 16e6 bits of output
    # drained; writes: 16e6 fill + 16e6 output) -> 32e6 / 64 b/cc = 500k cycles.
    t = {
        "a": Tensor("a", (1_000_000,), 16, TensorRole.ACTIVATION),
        "b": Tensor("b", (1_000_000,), 16, TensorRole.ACTIVATION),
    }
    op = Op(
        "relu",
        "Relu",
        OpKind.ELEMENTWISE,
        Phase.FORWARD,
        {"B": 1, "E": 1_000_000},
        ("a",),
        ("b",),
        1_000_000,
    )
    g = Graph("g", (op,), t)
    simd = Core(
        1, "simd", "compute", OperationalArray(0.1, ("D1",), (64,)),
        (memory("sram", 64e6, 64, 6.4, "I1,I2,O"),), operator_types=frozenset({"elementwise"}),
    )  # fmt: skip
    c = op_cost(op, simd, g)
    assert c.compute_cycles == math.ceil(1_000_000 / 64)
    assert c.cycles == pytest.approx(2 * 1_000_000 * 16 / 64)
    # energy: 0.1 pJ/op + (32e6 read + 32e6 written) bits * 6.4 pJ / 64 bits
    assert c.energy == pytest.approx(0.1 * 1e6 + 64e6 * 0.1)


def test_gemm_weight_traffic_on_top_sram():
    # weights read once from the top I2 memory (weight-stationary)
    g = conv_graph(K=32, C=32, OY=8, OX=8, FY=1, FX=1, stride=1)
    core = kc_core()
    c = op_cost(g.ops[0], core, g)
    assert c.compute_cycles == 64
    assert c.utilization == pytest.approx(1.0)
    sram = dict(c.memory_cycles)["sram"]
    # I1 volume (8x8x32x8 bits, 1 K tile) + W (32*32*8) read, O written 8x8x32x8
    reads = 8 * 8 * 32 * 8 + 32 * 32 * 8 + 8 * 8 * 32 * 8
    assert sram == pytest.approx(max(reads, 8 * 8 * 32 * 8 + 8 * 8 * 32 * 8 + 32 * 32 * 8) / 256)


def test_routes_and_tables():
    acc = accelerator(3, seed=1, hetero=False)
    cyc, pj, label = route(acc, 0, 1)
    assert cyc == pytest.approx(1 / 32) and label == "link 0-1"
    assert route(acc, 2, 2)[0] == 0.0
    g = conv_graph(K=32, C=32, OY=8, OX=8, FY=1, FX=1, stride=1)
    tab = build_cost_tables(g, acc)
    assert tab.latency.shape == (1, 3)
    assert tab.allowed.all()
    assert tab.dram_cycles_per_bit == pytest.approx(1 / 64)


def test_node_without_core_is_a_clear_error():
    acc = accelerator(2, hetero=False)
    t = {
        "a": Tensor("a", (10,), 8, TensorRole.ACTIVATION),
        "b": Tensor("b", (10,), 8, TensorRole.ACTIVATION),
    }
    op = Op("p", "MaxPool", OpKind.POOL, Phase.FORWARD, {"B": 1, "K": 10}, ("a",), ("b",), 10)
    restricted = tuple(
        Core(c.id, c.name, c.kind, c.array, c.memories, operator_types=frozenset({"conv"}))
        if not c.is_offchip else c
        for c in acc.cores
    )  # fmt: skip
    from monet_opt.hardware.model import Accelerator

    acc2 = Accelerator("r", restricted, acc.links, acc.offchip_core_id)
    with pytest.raises(ValueError, match="can run on no core") as exc:
        build_cost_tables(Graph("g", (op,), t), acc2)
    assert "0:core0 runs conv; 1:core1 runs conv" in str(exc.value)
    assert "list 'pool' in a core's operator_types" in str(exc.value)


# ------------------------------------------------------------ operator_types: one rule

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "hardware"


def _op(kind: OpKind) -> Op:
    return Op("n", "X", kind, Phase.FORWARD, {"B": 1, "K": 4}, ("a",), ("b",), 4)


def _restricted(core: Core, kinds: set[str] | None) -> Core:
    ops = None if kinds is None else frozenset(kinds)
    return Core(core.id, core.name, core.kind, core.array, core.memories, operator_types=ops)


def test_operator_types_gemm_runs_no_conv():
    # Before: op_cost mapped "gemm" to a MAC group and let a [gemm] core run convolutions.
    gemm_only = _restricted(compute_core(0), {"gemm"})
    cores = (gemm_only, compute_core(1))
    assert can_run(_op(OpKind.GEMM), gemm_only, cores)
    assert not can_run(_op(OpKind.CONV), gemm_only, cores)
    assert supported_kinds(gemm_only, cores) == {"gemm"}


def test_operator_types_simd_without_optimizer_runs_no_optimizer():
    # Before: "elementwise" granted the whole vector group, optimizer included.
    simd = _restricted(compute_core(1), {"elementwise", "norm", "loss"})
    mac = compute_core(0)
    cores = (mac, simd)
    assert not can_run(_op(OpKind.OPTIMIZER), simd, cores)
    assert can_run(_op(OpKind.ELEMENTWISE), simd, cores)
    # The unrestricted core runs what no specialised core lists, and leaves the rest.
    assert can_run(_op(OpKind.OPTIMIZER), mac, cores)
    assert not can_run(_op(OpKind.ELEMENTWISE), mac, cores)
    assert supported_kinds(mac, cores) == {"conv", "gemm", "pool", "optimizer"}


def test_unrestricted_core_leaves_listed_kinds_to_the_specialised_core():
    mac, pool = compute_core(0), _restricted(compute_core(1), {"pool"})
    assert not can_run(_op(OpKind.POOL), mac, (mac, pool))
    assert can_run(_op(OpKind.POOL), mac, (mac,))
    assert can_run(_op(OpKind.SHAPE), pool, (mac, pool))  # zero-work ops run anywhere
    # ONNX op types on a Core built in Python map through ONNX_OP_KINDS, as Stream files do.
    onnx_simd = _restricted(compute_core(2), {"Add", "Mul"})
    assert supported_kinds(onnx_simd, (mac, onnx_simd)) == {
        "elementwise",
        "norm",
        "loss",
        "optimizer",
    }


def test_supported_kinds_of_shipped_examples():
    quad = load_accelerator(EXAMPLES / "tpu_like_quad_core.yaml")
    kinds = {c.id: supported_kinds(c, quad.cores) for c in quad.cores}
    assert kinds == {
        **{i: frozenset({"conv", "gemm"}) for i in range(4)},
        4: frozenset({"pool"}),
        5: frozenset({"elementwise", "norm", "loss", "optimizer"}),
        6: frozenset(),
    }
    fm = load_accelerator(EXAMPLES / "fusemax_like.yaml")
    assert [sorted(supported_kinds(c, fm.cores)) for c in fm.cores] == [
        ["conv", "gemm"],
        ["elementwise", "loss", "norm", "optimizer", "pool"],  # no pooling core: vector
        [],
    ]


@pytest.mark.parametrize("hw", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_every_shipped_accelerator_runs_every_op_kind(hw: str) -> None:
    """Every shipped accelerator has a core for every op kind the built-in models use
    (pooling falls back to the vector core where no pooling core exists)."""
    acc = load_accelerator(EXAMPLES / hw)
    kinds = set().union(*(supported_kinds(c, acc.cores) for c in acc.cores))
    assert kinds == {k.value for k in OpKind if k != OpKind.SHAPE}


def test_pool_falls_back_only_without_a_pooling_core() -> None:
    quad = load_accelerator(EXAMPLES / "tpu_like_quad_core.yaml")
    simd = next(c for c in quad.cores if c.id == 5)
    assert not kind_runs_on(OpKind.POOL, simd, quad.cores)  # the pooling core runs it
