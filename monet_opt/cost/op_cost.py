r"""Latency (cycles) and energy (pJ) of one computation node on one core.

An analytical, ZigZag-flavoured model: a spatial unrolling, a weight-stationary temporal
schedule below the top memories and a blocking at the DRAM / top-memory boundary chosen
under the capacity of the core's memories, all evaluated in closed form so that the cost
table of a whole training graph costs well under a second.  The mapping space and why its
search is exact are in :mod:`monet_opt.cost.mapping`; the per-mapping equations are here.

Equations
---------
Let the op have loop sizes :math:`L_d` (ZigZag dimensions B, K, C, OY, OX, FY, FX,
or B, D, C, K for GEMMs) and the core an array of :math:`P = \prod_a S_a` PEs.

**Spatial unrolling.**  Each array dimension :math:`a` of size :math:`S_a` unrolls one
loop dimension :math:`d(a)` by :math:`u_a = \min(S_a, L_{d(a)})`.  A fixed ``dataflow``
(Stream's ``dataflows``, e.g. D1 = K 32, D2 = C 32) is used when the core gives one;
otherwise every assignment of loop dimensions to array dimensions is a candidate and the
one with the lowest node latency (roofline below, memory-bound cycles and DRAM included),
then energy, is chosen.  :func:`spatial_unrolling` alone returns the candidate with the
fewest compute cycles.

**Compute cycles** (MAC ops)

.. math::  T_{comp} = \prod_{a} \lceil L_{d(a)} / S_a \rceil \cdot
           \prod_{d \notin d(\cdot)} L_d ,
           \qquad U = \mathrm{MACs} / (P \cdot T_{comp})

:math:`U` is the spatial utilization (e.g. conv1 of ResNet-18 with C = 3 on a
K 32 | C 32 array: U = 3/32).  Non-MAC ops (element-wise, pooling, normalization, loss,
optimizer) run one element operation per PE per cycle:
:math:`T_{comp} = \lceil \mathrm{ops} / P \rceil`.

**On-chip memory traffic** per operand X with precision :math:`p_X` bits, for the
memory levels that hold X (lowest level first):

* the lowest level serves the array: reads of I1 / I2
  :math:`= \mathrm{MACs}\,p_X / \prod_{d\ \mathrm{irrelevant\ to}\ X} u_d`; for O a write
  per accumulation and a read per accumulation after the first;
* each higher level supplies the one below it.  Single-pass *tile traffic*:
  :math:`V_{I2} = |I2|` (the weights of a K tile stay in the array while the pixels
  stream: loaded once), :math:`V_{O} = |O|` (partial sums stay in the output
  registers), and for I1 a re-read multiplier :math:`m` per level:
  :math:`V_{I1} = |I1| \cdot m` with :math:`m = \lceil L_K/u_K\rceil \cdot r_{win}` (inputs
  re-streamed for every output-channel tile and every filter tap;
  :math:`r_{win} = L_{FY} L_{FX} L_{OY} L_{OX} / (L_{IY} L_{IX})` clipped to >= 1 is the
  sliding-window re-read factor), **unless the level below keeps the re-read data**: a
  buffer that serves the whole array and holds all of I1 draws it once
  (:math:`m = 1`); one that holds the *window* (the input rows of one output row, all
  input channels) draws it once per K tile (:math:`m = \lceil L_K/u_K\rceil`), provided
  the PE weight registers hold a K tile's weights for every input-channel tile and tap
  (that row-by-row order would otherwise re-read the weights per row); the re-reads are
  then served by that lower level.  No level moves more than the level
  below it consumes.  :math:`|T|` is the tensor size in bits.
* the outer nest multiplies these by the number of times the inner schedule runs over an
  operand (:mod:`monet_opt.cost.mapping`); the top memory is filled with :math:`|X|` for a
  held input (the schedule's prefetch) or with the in-node DRAM traffic for a streamed
  one, and drains :math:`|O|`.

For ops with no array reuse (non-MAC ops) every level moves each operand once per pass.

**Memory-bandwidth-bound cycles** of a memory :math:`m` with read/write bandwidth
:math:`BW^r_m, BW^w_m` (bits/cycle; PE registers, i.e. memories that are the lowest of
several levels for every operand they hold, are excluded):

.. math::  T_m = \max\bigl(R_m / BW^r_m,\; W_m / BW^w_m\bigr)

and the node's on-chip latency is the roofline
:math:`T = \max(T_{comp}, \max_m T_m)` (Williams, Waterman & Patterson, "Roofline: an
insightful visual performance model for multicore architectures", CACM 52(4), 2009).

**Energy.**  :math:`E = \mathrm{MACs}\cdot e_{MAC} + \sum_m (R_m\,c^r_m/BW^r_m +
W_m\,c^w_m/BW^w_m)` where :math:`c^r_m, c^w_m` are pJ per port-wide word.

**Capacity and DRAM.**  Operands that fit their top memories together are *resident*: no
in-node DRAM traffic; the schedule moves them (a DMA task on the DRAM port, size = tensor
bits, time = bits / DRAM bandwidth).  Otherwise some operands stream from / to DRAM
during the node (:class:`OpCost` ``dram_read_bits``, ``dram_write_bits``, ``streamed``):
the node lasts :math:`\max(T, (\text{read} + \text{write bits}) \cdot c_{DRAM})` on the
shared DRAM port, and costs ``dram_energy`` pJ on top of ``energy`` (on-chip only).  This
is what ZigZag does when it adds DRAM as a top memory level for operands that do not fit
(Mei et al., "ZigZag", IEEE Trans. Computers 70(8), 2021; used per computation node by
Stream, Symons et al., IEEE Trans. Computers, 2025).

**Tile groups** (a core with ``tiles``, MIMD tiles such as an IPU's) run each node as a
BSP superstep on the node split over the tiles: exchange + one tile's slice + sync
(:mod:`monet_opt.cost.tiles`, ``docs/mimd_tiles.md``).

**Sparse layers** (ops with ``attrs["sparsity"]``) are costed by :func:`node_cost` with
the core's sparse support: dense execution on the condensed operands, an input-gather
path or native N:M (:mod:`monet_opt.cost.sparse`).

Not modelled: the capacity of the PE registers beyond the window check above (the
schedule below the top assumes they keep the weights in use and the running partial
sums), partial-sum precision above the registers, and the time to fill and drain the
pipeline (ZigZag's on- and off-loading cycles).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from monet_opt.cost.mapping import (
    OPERAND_NAMES,
    CoreSpec,
    DramSpec,
    MappingResult,
    NodeSpec,
    OperandSpec,
    best_mapping,
    core_spec,
)
from monet_opt.cost.sparse import (
    compute_energy_factor,
    dense_fallback,
    sparse_bounds,
    sparse_mode,
    sparse_node_spec,
)
from monet_opt.cost.tiles import split_spec, superstep_cycles
from monet_opt.hardware.model import Core
from monet_opt.hardware.yaml_io import core_supports
from monet_opt.models.ir import Graph, Op, OpKind

__all__ = [
    "OpCost",
    "op_cost",
    "cost_of_spec",
    "node_cost",
    "node_spec",
    "spatial_unrolling",
    "can_run",
    "kind_runs_on",
    "supported_kinds",
    "INFEASIBLE",
]

INFEASIBLE = math.inf


@dataclass(frozen=True)
class OpCost:
    """Cost of one node on one core.

    Attributes
    ----------
    cycles
        On-chip latency :math:`\\max(T_{comp}, T_m)` in cycles (:data:`INFEASIBLE` when no
        mapping fits the core).  The node lasts
        ``max(cycles, (dram_read_bits + dram_write_bits) * dram_cycles_per_bit)``
        (:meth:`latency`).
    compute_cycles
        :math:`T_{comp}`.
    utilization
        Spatial utilization in [0, 1].
    compute_energy, memory_energy
        pJ (on chip).
    unrolling
        Chosen spatial unrolling ``((array dim, loop dim, unroll), ...)``.
    memory_cycles
        Bandwidth-bound cycles per memory name.
    dram_read_bits, dram_write_bits
        In-node DRAM traffic in bits, re-fetches included (0 when resident).
    streamed
        Operands (``"I1"``, ``"I2"``, ``"O"``) streamed from / to DRAM during the node.
    held
        ``((operand, bits), ...)``: bits each operand holds in its top on-chip memory while
        the node runs (the whole tensor when held, two tiles when streamed).  Operands
        sharing a memory sum to at most its capacity.
    mapping
        Short description of the chosen tiling (``"resident"``, or the outer loops as
        ``dim count x tile``, the streamed operands with their DRAM traffic / size and the
        held ones).
    dram_energy
        pJ of the in-node DRAM traffic (not in :attr:`energy`).
    """

    cycles: float
    compute_cycles: float
    utilization: float
    compute_energy: float
    memory_energy: float
    unrolling: tuple[tuple[str, str, int], ...] = ()
    memory_cycles: tuple[tuple[str, float], ...] = ()
    dram_read_bits: float = 0.0
    dram_write_bits: float = 0.0
    streamed: tuple[str, ...] = ()
    held: tuple[tuple[str, float], ...] = ()
    mapping: str = ""
    dram_energy: float = 0.0

    @property
    def energy(self) -> float:
        """On-chip pJ: compute + on-chip memories (in-node DRAM pJ excluded)."""
        return self.compute_energy + self.memory_energy

    @property
    def dram_bits(self) -> float:
        """In-node DRAM bits, read + written."""
        return self.dram_read_bits + self.dram_write_bits

    def latency(self, dram_cycles_per_bit: float) -> float:
        """Node latency in cycles: the on-chip latency or the in-node DRAM time if longer.

        Parameters
        ----------
        dram_cycles_per_bit
            Cycles per bit on the DRAM port.
        """
        return max(self.cycles, self.dram_bits * dram_cycles_per_bit)


def _is_specialised(core: Core) -> bool:
    """A compute core that lists its ``operator_types`` and can run something."""
    return core.operator_types is not None and core_supports(core, OpKind.SHAPE)


def _pool_fallback(kind: str, core: Core, cores: Sequence[Core]) -> bool:
    """Pooling runs on a vector core (one that runs element-wise ops) when no core of the
    accelerator runs pooling: a pooling window is a reduction of element-wise operations,
    which is how Stream's SIMD cores and the vector unit of FuseMax-style chips execute
    it."""
    return (
        kind == OpKind.POOL.value
        and core_supports(core, OpKind.ELEMENTWISE.value)
        and not any(core_supports(other, kind) for other in cores)
    )


def kind_runs_on(kind: OpKind | str, core: Core, cores: Sequence[Core]) -> bool:
    """Whether ``core`` will run ops of ``kind`` on an accelerator with ``cores``.

    The capability test is :func:`monet_opt.hardware.yaml_io.core_supports` (exact: a
    core listing ``operator_types`` runs the listed kinds and no other; an unlisted
    ``operator_types`` means every kind).  On top of it, MONET's preference rule: an
    unrestricted core leaves a kind that a specialised core (a compute core listing
    ``operator_types``) lists to that core, so element-wise work goes to the SIMD core and
    pooling to the pooling core when those exist (Morlier et al., MONET, arXiv:2603.15002,
    2026; see ``docs/hardware_sources.md``).  ``shape`` ops (no work) run on every
    compute core.  Pooling falls back to the vector cores when no core runs it
    (:func:`_pool_fallback`).

    Parameters
    ----------
    kind
        An op kind (``OpKind`` or its value).
    core
        The candidate core.
    cores
        Every core of the accelerator (cores that run nothing are ignored).

    Returns
    -------
    bool
        ``True`` if ``core`` may be allocated ops of this kind.
    """
    kind = str(kind)
    if not core_supports(core, kind):
        return _pool_fallback(kind, core, cores)
    if core.operator_types is not None or kind == OpKind.SHAPE.value:
        return True
    return not any(_is_specialised(other) and core_supports(other, kind) for other in cores)


def can_run(op: Op, core: Core, cores: Sequence[Core]) -> bool:
    """Whether ``core`` may run ``op``: :func:`kind_runs_on` for the op's kind.

    Parameters
    ----------
    op
        The computation node.
    core
        The candidate core.
    cores
        Every core of the accelerator.

    Returns
    -------
    bool
        ``True`` if the core can run the op and no preference rule sends it elsewhere.
    """
    return kind_runs_on(op.kind, core, cores)


def supported_kinds(core: Core, cores: Sequence[Core]) -> frozenset[str]:
    """Op kinds (``OpKind`` values) that ``core`` will run on an accelerator with ``cores``.

    Pure function of the hardware, for display (``monet-opt validate`` shows what
    ``solve`` will do).  ``shape`` is left out: shape ops carry no work, are contracted
    out of the schedule and are accepted by every compute core.

    Parameters
    ----------
    core
        The core.
    cores
        Every core of the accelerator (e.g. ``acc.cores`` or ``acc.compute_cores``).

    Returns
    -------
    frozenset[str]
        Empty for off-chip and memory cores and cores without PEs.
    """
    return frozenset(k.value for k in OpKind if k != OpKind.SHAPE and kind_runs_on(k, core, cores))


def _loop_items(op: Op) -> dict[str, int]:
    return {d: int(s) for d, s in op.loop_dims.items() if int(s) > 1}


@lru_cache(maxsize=65536)
def _best_unrolling(
    loops: tuple[tuple[str, int], ...],
    dims: tuple[str, ...],
    sizes: tuple[int, ...],
    fixed: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] | None,
) -> tuple[float, tuple[tuple[str, str, int], ...]]:
    """(temporal cycles, unrolling) minimizing cycles; see module docstring."""
    L = dict(loops)
    total = math.prod(L.values()) if L else 1
    if fixed is not None:
        fx = dict(fixed)
        cycles = 1.0
        used: set[str] = set()
        unroll = []
        for a, s in zip(dims, sizes, strict=True):
            factor = 1
            for d, u in fx.get(a, ()):
                if d in L and d not in used:
                    factor_u = min(u, s)
                    cycles *= math.ceil(L[d] / factor_u)
                    unroll.append((a, d, min(factor_u, L[d])))
                    used.add(d)
                    factor = factor_u
            del factor
        for d, v in L.items():
            if d not in used:
                cycles *= v
        return cycles, tuple(unroll)
    best: tuple[float, tuple[tuple[str, str, int], ...]] = (float(total), ())
    names = list(L)
    for k in range(1, min(len(dims), len(names)) + 1):
        for arr in itertools.permutations(range(len(dims)), k):
            for ds in itertools.permutations(names, k):
                cycles = 1.0
                for a, d in zip(arr, ds, strict=True):
                    cycles *= math.ceil(L[d] / sizes[a])
                for d in names:
                    if d not in ds:
                        cycles *= L[d]
                if cycles < best[0]:
                    unroll = tuple(
                        (dims[a], d, min(sizes[a], L[d])) for a, d in zip(arr, ds, strict=True)
                    )
                    best = (cycles, unroll)
    return best


def spatial_unrolling(op: Op, core: Core) -> tuple[float, tuple[tuple[str, str, int], ...]]:
    """Temporal compute cycles and the spatial unrolling with the fewest of them.

    The core's fixed dataflow when it has one.  :func:`op_cost` chooses among all
    unrollings by the full node cost instead (memory-bound cycles and DRAM included), which
    breaks the ties this function leaves to enumeration order.

    Returns
    -------
    (cycles, unrolling)
        ``unrolling`` lists ``(array dim, loop dim, unroll factor)``.
    """
    loops = tuple(sorted(_loop_items(op).items()))
    fixed = None
    if core.dataflows:
        fixed = tuple(sorted((a, tuple(v)) for a, v in core.dataflows.items()))
    return _best_unrolling(loops, core.array.dimensions, core.array.sizes, fixed)


#: Dimensions the outer (DRAM / top-memory) nest may tile, per op family.
_TILE_MAC: tuple[str, ...] = ("B", "G", "K", "C", "D", "OY")
_TILE_POOL: tuple[str, ...] = ("B", "K", "OY")
_TILE_VECTOR: tuple[str, ...] = ("B", "E")


def _groups(op: Op) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Tensor names of operands I1, I2, O (I2 = every input after the first).

    An op with ``attrs["running_sum"]`` adds its result into its last input (an SNN's
    ``dW`` summed over the time steps in place): that input is the output's initial
    value, which the schedule brings to the core like any input, not an operand the
    array reads, so it is left out of I2."""
    ins = op.inputs[:-1] if op.attrs.get("running_sum") and len(op.inputs) > 2 else op.inputs
    return ins[:1], ins[1:], op.outputs


def _operand_bits(op: Op, graph: Graph) -> dict[str, float]:
    """Bits of operands I1, I2, O (I2 = 0 when the op has one input)."""
    return {
        x: float(sum(graph.tensors[t].bits for t in names))
        for x, names in zip(OPERAND_NAMES, _groups(op), strict=True)
    }


def _operand_precision(op: Op, graph: Graph) -> dict[str, int]:
    return {
        x: max((graph.tensors[t].precision for t in names), default=0)
        for x, names in zip(OPERAND_NAMES, _groups(op), strict=True)
    }


def _irrelevant_dims(op: Op) -> dict[str, tuple[str, ...]]:
    """Loop dims each operand does not depend on (they give spatial reuse).

    O does not depend on the reduction dims (``attrs["reduction"]`` when given, else
    C/FY/FX for convs and C for GEMMs).  For weight-gradient ops (reduction over B/OY/OX)
    I2 is the output gradient, independent of C/FY/FX; otherwise I2 (weights) does not
    depend on B/D/OY/OX.  I1 never depends on K.
    """
    default_red = ("C", "FY", "FX") if op.kind == OpKind.CONV else ("C",)
    red = tuple(op.attrs.get("reduction", default_red))  # type: ignore[arg-type]
    if "C" in red or op.kind == OpKind.GEMM and "K" not in red:
        i2 = ("B", "D", "OY", "OX")
    else:
        i2 = ("C", "FY", "FX")
    return {"I1": ("K",), "I2": i2, "O": red}


def _input_side(op: Op) -> str:
    """The operand indexed by input-image rows: O for a transposed conv (dX) or a pooling
    gradient, I1 otherwise."""
    if op.attrs.get("transposed") or (op.kind == OpKind.POOL and op.op_type.endswith("Grad")):
        return "O"
    return "I1"


def _halo(
    op: Op, graph: Graph, x: str, names: tuple[str, ...]
) -> tuple[str, float, float, float] | None:
    """``("OY", sigma, h, H)`` of an operand whose rows are input-image rows (see
    :class:`monet_opt.cost.mapping.OperandSpec`), ``None`` otherwise."""
    oy = int(op.loop_dims.get("OY", 1))
    if oy <= 1 or not names or op.kind not in (OpKind.CONV, OpKind.POOL):
        return None
    shape = graph.tensors[names[0]].shape
    if len(shape) != 4:
        return None
    height = float(shape[2])
    if x != _input_side(op) and height <= oy:
        return None
    sigma = height / oy
    fy = float(op.loop_dims.get("FY", 1))
    return ("OY", sigma, max(fy - sigma, 0.0), height)


def _vector_rel(
    op: Op, graph: Graph, names: tuple[str, ...], dims: tuple[str, ...]
) -> frozenset[str]:
    """Dims a vector op's operand depends on: ``B`` and ``E`` for a full-size operand,
    ``E`` for one broadcast over the batch, ``B`` for one value (or row) per batch element,
    none for anything smaller (held or streamed whole)."""
    if not names:
        return frozenset()
    b = int(op.loop_dims.get("B", 1))
    e = int(op.loop_dims.get("E", 1))
    numel = min(graph.tensors[t].numel for t in names)
    if numel >= b * e:
        keep: tuple[str, ...] = ("B", "E")
    elif e > 1 and numel >= e and numel % e == 0:
        keep = ("E",)
    elif b > 1 and numel >= b and numel % b == 0:
        keep = ("B",)
    else:
        keep = ()
    return frozenset(d for d in dims if d in keep)


def node_spec(op: Op, graph: Graph) -> NodeSpec:
    """The :class:`monet_opt.cost.mapping.NodeSpec` of ``op``: its loop sizes, operand
    sizes and precisions, which tileable dims each operand depends on, and its I1 re-read
    figures (module docstring).

    Parameters
    ----------
    op
        The computation node.
    graph
        The graph holding its tensors.

    Returns
    -------
    NodeSpec
        Hashable; equal for ops that cost the same on every core.
    """
    loops = tuple(sorted(_loop_items(op).items()))
    L = dict(loops)
    bits = _operand_bits(op, graph)
    prec = _operand_precision(op, graph)
    groups = dict(zip(OPERAND_NAMES, _groups(op), strict=True))
    r_win = 1.0
    window = math.inf
    if op.is_mac:
        irr = _irrelevant_dims(op)
        tileable = tuple(d for d in _TILE_MAC if d in L)
        rel = {x: frozenset(d for d in tileable if d not in irr[x]) for x in OPERAND_NAMES}
        out_px = L.get("OY", 1) * L.get("OX", 1)
        taps = L.get("FY", 1) * L.get("FX", 1)
        in_px = bits["I1"] / max(prec["I1"], 1) / max(L.get("B", 1) * L.get("C", 1), 1)
        r_win = max(1.0, taps * out_px / in_px) if in_px > 0 else 1.0
    elif op.kind == OpKind.POOL:
        irr = {x: () for x in OPERAND_NAMES}
        tileable = tuple(d for d in _TILE_POOL if d in L)
        rel = {x: frozenset(tileable) for x in OPERAND_NAMES}
    else:
        irr = {x: () for x in OPERAND_NAMES}
        tileable = tuple(d for d in _TILE_VECTOR if d in L)
        rel = {x: _vector_rel(op, graph, groups[x], tileable) for x in OPERAND_NAMES}
    operands = []
    for x in OPERAND_NAMES:
        halo = _halo(op, graph, x, groups[x]) if "OY" in rel[x] else None
        operands.append(OperandSpec(bits[x], prec[x], rel[x], halo))
    if op.is_mac and r_win > 1.0 and groups["I1"]:
        shape = graph.tensors[groups["I1"][0]].shape
        if len(shape) == 4:
            h1 = operands[0].halo
            rows = min(shape[2], math.ceil(h1[1]) + h1[2]) if h1 else L.get("FY", 1)
            window = float(shape[1] * rows * shape[3] * prec["I1"])
    return NodeSpec(
        mac=op.is_mac,
        loops=loops,
        work=int(op.macs),
        operands=tuple(operands),  # type: ignore[arg-type]
        irrelevant=tuple(tuple(irr[x]) for x in OPERAND_NAMES),  # type: ignore[arg-type]
        tileable=tileable,
        r_win=float(r_win),
        window_bits=window,
    )


def _mapping_label(res: MappingResult) -> str:
    """Short description of a chosen mapping, e.g. ``"resident"`` or
    ``"K 6x96 | stream I2 x1 | hold I1, O"``."""
    names = {x for x, _ in res.footprint}
    if set(res.held) == names:
        return "resident"
    loops = " > ".join(f"{d} {n}x{t}" for (d, n), t in zip(res.nest, res.tiles, strict=True))
    stream = ", ".join(f"{x} x{f:.3g}" for x, f in res.refetch)
    text = f"{loops} | stream {stream}"
    if res.held:
        text += " | hold " + ", ".join(res.held)
    return text


def op_cost(
    op: Op,
    core: Core,
    graph: Graph,
    *,
    dram_cycles_per_bit: float = 0.0,
    dram_read_pj_per_bit: float = 0.0,
    dram_write_pj_per_bit: float = 0.0,
    has_dram: bool | None = None,
) -> OpCost:
    """Latency and energy of ``op`` on ``core`` under the core's memory capacities.

    The best mapping (spatial unrolling, held / streamed operands, outer tiling) is found
    exactly over the space of :mod:`monet_opt.cost.mapping`; the equations are in this
    module's docstring.

    Parameters
    ----------
    op
        The computation node.
    core
        A compute core (``can_run`` is not checked here).
    graph
        The graph holding ``op``'s tensors (for operand sizes, shapes and precisions).
    dram_cycles_per_bit
        Cycles per bit on the DRAM port (1 / bandwidth in bits/cycle).
    dram_read_pj_per_bit, dram_write_pj_per_bit
        pJ per bit read from / written to DRAM.
    has_dram
        Whether operands may stream from DRAM; default: when any DRAM figure is > 0.
        Without DRAM a node whose operands do not fit the core's top memories is
        infeasible there.

    Returns
    -------
    OpCost
        ``cycles`` is 0 for zero-work (shape) ops and :data:`INFEASIBLE` when no mapping
        fits.
    """
    if op.kind == OpKind.SHAPE or op.macs == 0:
        return OpCost(0.0, 0.0, 1.0, 0.0, 0.0, mapping="no work")
    if has_dram is None:
        has_dram = dram_cycles_per_bit > 0 or dram_read_pj_per_bit > 0 or dram_write_pj_per_bit > 0
    dram = DramSpec(
        float(dram_cycles_per_bit),
        float(dram_read_pj_per_bit),
        float(dram_write_pj_per_bit),
        bool(has_dram),
    )
    return node_cost(op, node_spec(op, graph), core, core_spec(core), dram)


def node_cost(op: Op, spec: NodeSpec, core: Core, cs: CoreSpec, dram: DramSpec) -> OpCost:
    """:class:`OpCost` of ``op`` (dense spec ``spec``) on ``core`` (spec ``cs``).

    A dense op costs :func:`cost_of_spec`.  An op of a sparse layer runs as the core's
    sparse support allows (:func:`monet_opt.cost.sparse.sparse_mode`): its spec is cut to
    the kept work (:func:`~monet_opt.cost.sparse.sparse_node_spec`) and the gather-path
    bounds (:func:`~monet_opt.cost.sparse.sparse_bounds`) join the roofline; they are
    listed in ``memory_cycles`` as ``"gather"`` and ``"index"``, and ``mapping`` ends
    with ``"| sparse <mode>"``.  The kept work of a spike-driven op (SNN, activity
    sparsity) run in ``gather`` mode is accumulates, at
    :func:`~monet_opt.cost.sparse.compute_energy_factor` of a MAC's energy; such an op
    runs dense instead when that is faster (:func:`~monet_opt.cost.sparse.dense_fallback`).
    """
    if core.tiles is not None:
        return _tile_group_cost(op, spec, core, cs, dram)
    return _one_core_cost(op, spec, core, cs, dram)


def _tile_group_cost(op: Op, spec: NodeSpec, core: Core, cs: CoreSpec, dram: DramSpec) -> OpCost:
    """A node on a tile group: one tile's slice as a BSP superstep (:mod:`.tiles`)."""
    assert core.tiles is not None
    top = [m for m in (core.top_memory(x) for x in ("I1", "I2", "O")) if m is not None]
    sp = split_spec(
        spec,
        core.tiles.count,
        cs.n_pes,
        min((m.r_bw for m in top), default=math.inf),
        core.tiles.exchange_bits_per_cycle,
        sum({id(m): m.size_bits for m in top}.values()),
    )
    oc = _one_core_cost(op, sp.spec, core, cs, dram, share=sp.used)
    if math.isinf(oc.cycles):
        return oc
    n = sp.used
    ex_bits = sp.exchange_bits * n
    cycles = superstep_cycles(core.tiles, oc.cycles, sp.exchange_bits)
    ex_cycles = cycles - oc.cycles - core.tiles.sync_cycles
    split = " ".join(f"{d} {s}" for d, s in sp.dims) or "none"
    return OpCost(
        cycles=cycles,
        compute_cycles=oc.compute_cycles,
        utilization=oc.utilization * n / core.tiles.count,  # of the whole group
        compute_energy=oc.compute_energy * n,
        memory_energy=oc.memory_energy * n + ex_bits * core.tiles.exchange_pj_per_bit,
        unrolling=oc.unrolling,
        memory_cycles=oc.memory_cycles
        + (("exchange", float(ex_cycles)), ("sync", float(core.tiles.sync_cycles))),
        dram_read_bits=oc.dram_read_bits * n,
        dram_write_bits=oc.dram_write_bits * n,
        streamed=oc.streamed,
        held=tuple((x, b * n) for x, b in oc.held),
        mapping=f"tiles {n} ({split}) | {oc.mapping} | bsp",
        dram_energy=oc.dram_energy * n,
    )


def _one_core_cost(
    op: Op, spec: NodeSpec, core: Core, cs: CoreSpec, dram: DramSpec, share: int = 1
) -> OpCost:
    """:func:`node_cost` on one core (or one tile's slice; ``share`` tiles split the
    op, so its per-node index traffic is ``1 / share`` per tile)."""
    if "sparsity" not in op.attrs:
        return cost_of_spec(spec, cs, dram)
    mode = sparse_mode(op, core)
    oc = _sparse_cost(op, spec, core, cs, dram, share, mode)
    if mode == "gather" and dense_fallback(op):  # spikes: the faster of gather and dense
        alt = _sparse_cost(op, spec, core, cs, dram, share, "dense")
        if (alt.cycles, alt.energy) < (oc.cycles, oc.energy):
            return alt
    return oc


def _sparse_cost(
    op: Op, spec: NodeSpec, core: Core, cs: CoreSpec, dram: DramSpec, share: int, mode: str
) -> OpCost:
    """:func:`_one_core_cost` of a sparse op run in ``mode``."""
    run = sparse_node_spec(spec, op, mode, cs)
    bounds = sparse_bounds(op, mode, run, core)
    if bounds:  # the mapping search prefers the least energy among mappings under them
        t_comp = cost_of_spec(run, cs, dram).compute_cycles
        bounds = sparse_bounds(op, mode, run, core, t_comp)
        if share > 1:  # each tile decodes the indices of its own slice
            bounds = tuple((k, math.ceil(c / share) if k == "index" else c) for k, c in bounds)
        run = replace(run, floor=max(c for _, c in bounds))
    oc = cost_of_spec(run, cs, dram)
    if math.isinf(oc.cycles):
        return oc
    cycles = max([oc.cycles, *(c for _, c in bounds)])
    return OpCost(
        cycles=float(cycles),
        compute_cycles=oc.compute_cycles,
        utilization=oc.utilization,
        compute_energy=oc.compute_energy * compute_energy_factor(op, mode),
        memory_energy=oc.memory_energy,
        unrolling=oc.unrolling,
        memory_cycles=oc.memory_cycles + bounds,
        dram_read_bits=oc.dram_read_bits,
        dram_write_bits=oc.dram_write_bits,
        streamed=oc.streamed,
        held=oc.held,
        mapping=f"{oc.mapping} | sparse {mode}",
        dram_energy=oc.dram_energy,
    )


def cost_of_spec(spec: NodeSpec, cs: CoreSpec, dram: DramSpec) -> OpCost:
    """:class:`OpCost` of a node spec on a core spec (see :func:`op_cost`)."""
    res = best_mapping(spec, cs, dram)
    n_pes = cs.n_pes
    if not res.feasible:
        t_comp = 0.0
        return OpCost(
            cycles=INFEASIBLE,
            compute_cycles=t_comp,
            utilization=0.0,
            compute_energy=INFEASIBLE,
            memory_energy=INFEASIBLE,
            mapping="infeasible: the operands do not fit the core's memories"
            + ("" if dram.present else " and there is no DRAM to stream from"),
        )
    inner = res.inner
    assert inner is not None
    util = min(1.0, spec.work / (n_pes * inner.t_comp)) if n_pes else 0.0
    streamed = tuple(x for x, _ in res.refetch)
    return OpCost(
        cycles=float(res.cycles),
        compute_cycles=float(inner.t_comp),
        utilization=float(util),
        compute_energy=float(spec.work * cs.unit_energy),
        memory_energy=float(res.memory_energy),
        unrolling=inner.unroll,
        memory_cycles=res.memory_cycles,
        dram_read_bits=float(res.dram_read_bits),
        dram_write_bits=float(res.dram_write_bits),
        streamed=streamed,
        held=res.footprint,
        mapping=_mapping_label(res),
        dram_energy=float(
            res.dram_read_bits * dram.read_pj_per_bit + res.dram_write_bits * dram.write_pj_per_bit
        ),
    )
