r"""Latency (cycles) and energy (pJ) of one computation node on one core.

This is an analytical, ZigZag-flavoured model: a fixed (or best) spatial unrolling
and a weight-stationary temporal schedule, evaluated in closed form so that the
cost table of a whole training graph costs milliseconds.

Equations
---------
Let the op have loop sizes :math:`L_d` (ZigZag dimensions B, K, C, OY, OX, FY, FX,
or B, D, C, K for GEMMs) and the core an array of :math:`P = \prod_a S_a` PEs.

**Spatial unrolling.**  Each array dimension :math:`a` of size :math:`S_a` unrolls one
loop dimension :math:`d(a)` by :math:`u_a = \min(S_a, L_{d(a)})`.  A fixed ``dataflow``
(Stream's ``dataflows``, e.g. D1 = K 32, D2 = C 32) is used when the core gives one;
otherwise the assignment of loop dimensions to array dimensions with the fewest cycles
is chosen (exhaustively; at most a few hundred candidates).

**Compute cycles** (MAC ops)

.. math::  T_{comp} = \prod_{a} \lceil L_{d(a)} / S_a \rceil \cdot
           \prod_{d \notin d(\cdot)} L_d ,
           \qquad U = \mathrm{MACs} / (P \cdot T_{comp})

:math:`U` is the spatial utilization (e.g. conv1 of ResNet-18 with C = 3 on a
K 32 | C 32 array: U = 3/32).  Non-MAC ops (element-wise, pooling, normalization, loss,
optimizer) run one element operation per PE per cycle:
:math:`T_{comp} = \lceil \mathrm{ops} / P \rceil`.

**On-chip memory traffic** per operand X with precision :math:`p_X` bits, for the
memory levels :math:`m` that hold X (lowest level first):

* the lowest level is accessed once per MAC (or element op): reads of I1 / I2
  :math:`= \mathrm{MACs}\,p_X`; for O a read and a write per MAC (accumulation);
* every higher level moves the *tile traffic* :math:`V_X`:
  :math:`V_{I2} = |I2|` (weights are loaded once: weight-stationary),
  :math:`V_{I1} = |I1| \cdot \lceil L_K / u_K \rceil \cdot r_{win}` (inputs are
  re-streamed for every output-channel tile and every filter tap, where
  :math:`r_{win} = L_{FY} L_{FX} L_{OY} L_{OX} / (L_{IY} L_{IX})` clipped to ≥ 1 is the
  sliding-window re-read factor), :math:`V_{O} = |O|` (outputs written once, partial
  sums stay in the output registers).  :math:`|T|` is the tensor size in bits.

For ops with no array reuse (non-MAC ops) every level moves the operand once.

**Memory-bandwidth-bound cycles** of a level :math:`m` with read/write bandwidth
:math:`BW^r_m, BW^w_m` (bits/cycle; the lowest level is excluded, it is sized per PE):

.. math::  T_m = \max\bigl(R_m / BW^r_m,\; W_m / BW^w_m\bigr)

and the node's on-chip latency is the roofline
:math:`T = \max(T_{comp}, \max_m T_m)` (Williams, Waterman & Patterson, "Roofline: an
insightful visual performance model for multicore architectures", CACM 52(4), 2009).

**Energy.**  :math:`E = \mathrm{MACs}\cdot e_{MAC} + \sum_m (R_m\,c^r_m/BW^r_m +
W_m\,c^w_m/BW^w_m)` where :math:`c^r_m, c^w_m` are pJ per port-wide word.

DRAM traffic is *not* part of this node cost: it is a separate DMA task on the DRAM
port, scheduled by :mod:`monet_opt.schedule` (size = tensor bits, time = bits /
DRAM bandwidth, energy = bits × DRAM pJ/bit).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from monet_opt.hardware.model import Core
from monet_opt.hardware.yaml_io import core_supports
from monet_opt.models.ir import Graph, Op, OpKind

__all__ = [
    "OpCost",
    "op_cost",
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
        On-chip latency :math:`\\max(T_{comp}, T_m)` in cycles.
    compute_cycles
        :math:`T_{comp}`.
    utilization
        Spatial utilization in [0, 1].
    compute_energy, memory_energy
        pJ.
    unrolling
        Chosen spatial unrolling ``((array dim, loop dim, unroll), ...)``.
    memory_cycles
        Bandwidth-bound cycles per memory name.
    """

    cycles: float
    compute_cycles: float
    utilization: float
    compute_energy: float
    memory_energy: float
    unrolling: tuple[tuple[str, str, int], ...] = ()
    memory_cycles: tuple[tuple[str, float], ...] = ()

    @property
    def energy(self) -> float:
        return self.compute_energy + self.memory_energy


def _is_specialised(core: Core) -> bool:
    """A compute core that lists its ``operator_types`` and can run something."""
    return core.operator_types is not None and core_supports(core, OpKind.SHAPE)


def kind_runs_on(kind: OpKind | str, core: Core, cores: Sequence[Core]) -> bool:
    """Whether ``core`` will run ops of ``kind`` on an accelerator with ``cores``.

    The capability test is :func:`monet_opt.hardware.yaml_io.core_supports` (exact: a
    core listing ``operator_types`` runs the listed kinds and no other; an unlisted
    ``operator_types`` means every kind).  On top of it, MONET's preference rule: an
    unrestricted core leaves a kind that a specialised core (a compute core listing
    ``operator_types``) lists to that core, so element-wise work goes to the SIMD core and
    pooling to the pooling core when those exist (Morlier et al., MONET, arXiv:2603.15002,
    2026; see ``docs/hardware_sources.md``).  ``shape`` ops (no work) run on every
    compute core.

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
        return False
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
    """Temporal compute cycles and spatial unrolling of a MAC op on a core.

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


def _operand_bits(op: Op, graph: Graph) -> dict[str, float]:
    """Bits of operands I1, I2, O (I2 = 0 when the op has one input)."""
    ins = [graph.tensors[t].bits for t in op.inputs]
    out = sum(graph.tensors[t].bits for t in op.outputs)
    i1 = ins[0] if ins else 0.0
    i2 = sum(ins[1:]) if len(ins) > 1 else 0.0
    return {"I1": float(i1), "I2": float(i2), "O": float(out)}


def _operand_precision(op: Op, graph: Graph) -> dict[str, int]:
    def prec(names: tuple[str, ...]) -> int:
        return max((graph.tensors[t].precision for t in names), default=0)

    return {"I1": prec(op.inputs[:1]), "I2": prec(op.inputs[1:]), "O": prec(op.outputs)}


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


def op_cost(op: Op, core: Core, graph: Graph) -> OpCost:
    """Latency and energy of ``op`` on ``core`` (module docstring equations).

    Parameters
    ----------
    op
        The computation node.
    core
        A compute core (``can_run`` is not checked here).
    graph
        The graph holding ``op``'s tensors (for operand sizes and precisions).

    Returns
    -------
    OpCost
        ``cycles`` is 0 for zero-work (shape) ops.
    """
    if op.kind == OpKind.SHAPE or op.macs == 0:
        return OpCost(0.0, 0.0, 1.0, 0.0, 0.0)
    n_pes = core.array.n_pes
    bits = _operand_bits(op, graph)
    prec = _operand_precision(op, graph)
    if op.is_mac:
        t_comp, unroll = spatial_unrolling(op, core)
        u = {d: f for _, d, f in unroll}
        L = op.loop_dims
        k_tiles = math.ceil(L.get("K", 1) / max(u.get("K", 1), 1))
        out_px = L.get("OY", 1) * L.get("OX", 1)
        taps = L.get("FY", 1) * L.get("FX", 1)
        in_px = bits["I1"] / max(prec["I1"], 1) / max(L.get("B", 1) * L.get("C", 1), 1)
        r_win = max(1.0, taps * out_px / in_px) if in_px > 0 else 1.0
        tile = {"I1": bits["I1"] * k_tiles * r_win, "I2": bits["I2"], "O": bits["O"]}
        irrelevant = _irrelevant_dims(op)
        lowest = {
            x: op.macs * prec[x] / math.prod(u.get(d, 1) for d in irrelevant[x])
            for x in ("I1", "I2", "O")
        }
    else:
        t_comp = float(math.ceil(op.macs / max(n_pes, 1)))
        unroll = ()
        tile = dict(bits)
        lowest = dict(bits)
    t_comp = max(t_comp, 1.0)
    util = min(1.0, op.macs / (n_pes * t_comp))

    # Traffic per memory level (bits): level k feeds level k-1; see module docstring.
    reads: dict[int, float] = {}
    writes: dict[int, float] = {}
    for operand in ("I1", "I2", "O"):
        if bits[operand] == 0:
            continue
        levels = core.memories_for(operand)
        vols = [lowest[operand]] + [tile[operand]] * (len(levels) - 1)
        for k, mem in enumerate(levels):
            key = id(mem)
            above = vols[k + 1] if k + 1 < len(levels) else bits[operand]
            if operand == "O":
                writes[key] = writes.get(key, 0.0) + vols[k]
                reads[key] = reads.get(key, 0.0) + above
                if k == 0 and op.is_mac:
                    # read-modify-write of partial sums (the first write needs no read)
                    reads[key] += max(vols[k] - bits[operand], 0.0)
            else:
                reads[key] = reads.get(key, 0.0) + vols[k]
                writes[key] = writes.get(key, 0.0) + above
    mem_energy = 0.0
    mem_cycles: list[tuple[str, float]] = []
    t_mem = 0.0
    seen: set[int] = set()
    for operand in ("I1", "I2", "O"):
        levels = core.memories_for(operand)
        for rank, mem in enumerate(levels):
            key = id(mem)
            if key in seen:
                continue
            seen.add(key)
            r, w = reads.get(key, 0.0), writes.get(key, 0.0)
            mem_energy += r * mem.r_cost_per_bit + w * mem.w_cost_per_bit
            if rank > 0 or len(levels) == 1:
                cyc = max(r / mem.r_bw if mem.r_bw else 0.0, w / mem.w_bw if mem.w_bw else 0.0)
                mem_cycles.append((mem.name, cyc))
                t_mem = max(t_mem, cyc)
    cycles = max(t_comp, t_mem)
    return OpCost(
        cycles=float(math.ceil(cycles)),
        compute_cycles=float(t_comp),
        utilization=float(util),
        compute_energy=float(op.macs * core.array.unit_energy),
        memory_energy=float(mem_energy),
        unrolling=tuple(unroll),
        memory_cycles=tuple(mem_cycles),
    )
