r"""Capacity-true intra-node mapping: the exact search behind :func:`monet_opt.cost.op_cost`.

A node (one op) runs on one core.  Its cost comes from a *mapping*: a spatial unrolling on
the PE array (:mod:`monet_opt.cost.op_cost` has the array equations) and a temporal
blocking at the boundary between DRAM and the core's top on-chip memory of each operand
(I1 = input activation, I2 = weight / second input, O = output).  This module defines the
mapping space, costs a mapping, and finds the best one exactly.

Mapping space
-------------
A mapping is ``(unrolling, H, nest)``:

* **unrolling**: the core's fixed ``dataflow`` if it has one, otherwise every assignment of
  distinct loop dimensions to distinct array dimensions (unroll factor
  :math:`u_d = \min(S_a, L_d)`), including none; unrollings with the same factors are one.
* **H**, the *held* operands: a subset of the operands that have bits and an on-chip memory.
  A held operand sits whole in its top memory for the whole node; the schedule brings it in
  and takes it out (prefetch, keep on chip, spill), so it costs no in-node DRAM traffic.
  The others are *streamed*: their tiles move between DRAM and the top memory during the
  node, on the DRAM port.  ``H`` = every operand is the *resident* mapping.
* **nest**: zero, one or two outer tiling loops ``(d1, n1)`` (outer) and ``(d2, n2)``
  (inner) over distinct *tileable* dimensions (MAC ops: ``B, G, K, C, D, OY``; pooling:
  ``B, K, OY``; element-wise, normalization, loss and optimizer ops: ``B, E``).  A loop over
  ``d`` splits :math:`L_d` into :math:`n` tiles of :math:`t` (the last one smaller), with
  :math:`t` a multiple of the spatial unroll factor :math:`u_d` (of the lane count ``P`` for
  the element dimension ``E`` of vector ops), :math:`n = \lceil L_d/t \rceil \ge 2`; for
  each count :math:`n` only the smallest such :math:`t` is kept (the same cost, the smallest
  footprint).  Because full tiles are multiples of :math:`u_d`,
  :math:`\sum_i \lceil t_i/u_d \rceil = \lceil L_d/u_d \rceil`: the compute cycles do not
  depend on the nest.

Below the top memory the node runs the analytical schedule of :mod:`monet_opt.cost.op_cost`
on each outer tile (weights of a K tile stationary in the array, inputs re-streamed per
K tile and filter tap, outputs accumulated in the PE registers).

Cost of a mapping
-----------------
Let a loop be *relevant* to operand X when X's index depends on its dimension
(``op_cost._irrelevant_dims`` for MAC ops; every operand of a vector op depends on ``B``
and ``E`` unless it is a smaller, broadcast tensor).  For the outer loops :math:`l`:

* **Tile and footprint.** X's tile is :math:`|X| \prod_{l \text{ relevant}} \varphi_l(t_l)`
  bits with :math:`\varphi_l(t) = t/L_l`, except along ``OY`` for an operand of a different
  height (a convolution's or pooling's input): :math:`\varphi(t) = \min(H, \lceil\sigma
  t\rceil + h)/H` with :math:`\sigma = H/L_{OY}` rows per output row and the halo
  :math:`h = \max(F_Y - \sigma, 0)`.  A streamed operand is double-buffered (one tile in
  use, one in flight): it holds :math:`2\times` its tile; a held operand holds
  :math:`|X|`.  **Capacity**: for every top memory :math:`m`, the sum over the operands
  whose top memory is :math:`m` of what they hold is at most its ``size_bits`` (operands
  sharing a memory, e.g. I1 and O in the TPU-like core's ``sram_1MB_A``, fit together).
  Lower levels hold a tile of what passes through them; an I1 re-read tier (below) is used
  only where its working set fits the whole level.
* **In-node DRAM traffic** of a streamed X: :math:`|X| \prod_l s_l` with :math:`s_l` the
  sweep factor :math:`\max(1, (L\sigma + (n-1)h)/H)` (1 without halo) for a relevant loop,
  :math:`n_l` for an irrelevant loop that has a relevant loop inside it (X's tile changed in
  between and must be fetched again) and 1 otherwise (the tile stays).  Streamed inputs are
  read, a streamed output is written.  **Partial sums are never spilled**: a mapping that
  streams O with a reduction loop (irrelevant to O) outside an O-relevant loop is not in
  the space; with the reduction loops inside, each output tile completes on chip and is
  written once.
* **On-chip traffic.** The traffic of a level below the top is the single-pass traffic of
  :mod:`monet_opt.cost.op_cost` times :math:`R_X = \prod_l r_l` (:math:`r_l` = the sweep
  factor of a relevant loop, :math:`n_l` of an irrelevant one: the inner schedule runs once
  per outer tile); for I1 the ``K`` loop's count merges with the inner K-tile re-reads
  (:math:`\max(m, n_K)`), and no level moves more than the level below it consumes.  The top
  memory is written :math:`|X|` (held) or the DRAM traffic (streamed) of each input; an
  output held across outer reduction tiles is written :math:`R_O|O|` and read back
  :math:`(R_O-1)|O|` (partial sums in the top memory).
* **Node cost**: on-chip cycles :math:`T = \max(T_{comp}, \max_m T_m)` (roofline over the
  memories' ports), DRAM cycles :math:`T_D = (\text{read}+\text{write bits}) \cdot
  c_{DRAM}` and the key ``(max(T, T_D), E_chip + E_DRAM)``: latency first, then energy
  including the in-node DRAM pJ.

Why the search is exact
-----------------------
For a fixed unrolling, ``H`` and loop dimensions/order, every cost term above (sweep and
re-fetch factors, :math:`R_X`, traffic, cycles, energy, DRAM bits) is non-decreasing in each
tile count, and every footprint is non-increasing.  The feasible counts therefore form an
up-set of the grid of candidate counts and the minimum lies on its lower-left staircase:
one loop needs the smallest feasible count (binary search), two loops the staircase points
(a two-pointer walk, at most :math:`\min(|N_1|, |N_2|)` points).  Every ``H`` and every
nest is enumerated, except dominated ones: a streamed operand with no relevant loop (it is
fetched whole once, which holding it does for free), and a loop relevant to no streamed
operand (dropping it lowers every term and keeps every footprint).  The resident mapping,
when it fits, is the cheapest of an unrolling (every term is then at its minimum).
Unrollings are searched best-first on the resident cost, a lower bound of each of their
mappings, and the search stops when the bound reaches the best key found.
``tests/cost/test_mapping.py`` checks the search against plain enumeration of the whole
space on small loop sizes.

Sources: ZigZag's loop blocking at memory levels and its extra DRAM level for operands that
do not fit (Mei et al., "ZigZag: Enlarging Joint Architecture-Mapping Design Space
Exploration for DNN Accelerators", IEEE Trans. Computers 70(8), 2021); Stream's use of it
per computation node (Symons et al., "Stream: Design Space Exploration of Layer-Fused DNNs
on Heterogeneous Dataflow Accelerators", IEEE Trans. Computers, 2025); tile footprints,
re-fetch through irrelevant loops and stationarity (Parashar et al., "Timeloop: A
Systematic Approach to DNN Accelerator Evaluation", ISPASS 2019).  See
``docs/cost_model.md``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from monet_opt.hardware.model import Core, Memory

__all__ = [
    "OPERAND_NAMES",
    "OperandSpec",
    "NodeSpec",
    "CoreSpec",
    "DramSpec",
    "Inner",
    "MappingResult",
    "core_spec",
    "candidate_counts",
    "unrollings",
    "inner_profile",
    "mapping_cost",
    "search",
    "best_mapping",
]

#: ZigZag operands in a fixed order: input activation, weight / second input, output.
OPERAND_NAMES: tuple[str, str, str] = ("I1", "I2", "O")

Nest = tuple[tuple[str, int], ...]
Key = tuple[float, float]
Unrolling = tuple[tuple[str, str, int], ...]


@dataclass(frozen=True)
class OperandSpec:
    """One operand of a node, as the mapping sees it.

    Parameters
    ----------
    bits
        Size :math:`|X|` in bits (0: the op has no such operand).
    prec
        Bits per element.
    rel
        Tileable loop dimensions the operand's index depends on.
    halo
        ``(dim, sigma, h, height)``: along ``dim`` a tile of ``t`` holds
        :math:`\\min(H, \\lceil\\sigma t\\rceil + h)` of the operand's ``H`` rows (a
        convolution's input window); ``None``: a tile of ``t`` holds ``t / L`` of it.
    """

    bits: float
    prec: int
    rel: frozenset[str]
    halo: tuple[str, float, float, float] | None = None

    def frac(self, dim: str, size: int, tile: int) -> float:
        """Largest fraction of the operand a tile of ``tile`` along ``dim`` holds."""
        if self.halo is not None and self.halo[0] == dim:
            _, sigma, h, height = self.halo
            return min(height, math.ceil(sigma * tile - 1e-9) + h) / height
        return tile / size

    def sweep(self, dim: str, size: int, count: int) -> float:
        """Bits moved by one pass over ``count`` tiles along ``dim``, in units of ``|X|``."""
        if self.halo is not None and self.halo[0] == dim:
            _, sigma, h, height = self.halo
            return max(1.0, (size * sigma + (count - 1) * h) / height)
        return 1.0


@dataclass(frozen=True)
class NodeSpec:
    """A node's loop sizes and operands: everything its cost depends on (hashable).

    Parameters
    ----------
    mac
        Whether the op runs MACs on the array (conv, gemm); else one element op per PE and
        cycle.
    loops
        ``(dim, size)`` of the loop dimensions of size > 1, sorted.
    work
        MACs (MAC ops) or element operations.
    operands
        I1, I2, O.
    irrelevant
        Per operand, the loop dims it does not depend on (spatial reuse along them).
    tileable
        Dimensions the outer nest may tile.
    r_win
        Sliding-window re-read factor of I1 (1 for GEMMs).
    window_bits
        Bits of I1 one output row needs across all input channels (the window tier of a
        lower-level buffer); ``inf``: no window tier.
    floor
        Cycles no mapping can go below for reasons outside this model (a sparse layer's
        gather-path bounds, :mod:`monet_opt.cost.sparse`): the key's latency is
        ``max(T, T_D, floor)``, so among the mappings under the floor the least energy
        (and DRAM traffic) wins.  0 for every dense node.
    """

    mac: bool
    loops: tuple[tuple[str, int], ...]
    work: int
    operands: tuple[OperandSpec, OperandSpec, OperandSpec]
    irrelevant: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]
    tileable: tuple[str, ...]
    r_win: float = 1.0
    window_bits: float = math.inf
    floor: float = 0.0

    @property
    def sizes(self) -> dict[str, int]:
        return dict(self.loops)


@dataclass(frozen=True)
class CoreSpec:
    """A core's array and memories, as the mapping sees them (hashable).

    Parameters
    ----------
    dims, sizes
        Array dimensions and PEs along each.
    unit_energy
        pJ per MAC / element op.
    fixed
        The core's fixed dataflow ``((array dim, ((loop dim, factor), ...)), ...)`` or
        ``None``.
    memories
        The core's memories (lowest first).
    levels
        Per operand (I1, I2, O), indices into ``memories`` of the levels holding it,
        lowest first.
    shared_whole
        Per memory: one instance serves the whole array (its ``served_dimensions`` cover
        every array dimension), so it can keep a re-read working set for all PEs.
    bw_counted
        Per memory: its ports bound the latency (every memory except one that is the
        lowest of several levels for each operand it holds: a PE register).
    """

    dims: tuple[str, ...]
    sizes: tuple[int, ...]
    unit_energy: float
    fixed: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] | None
    memories: tuple[Memory, ...]
    levels: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]
    shared_whole: tuple[bool, ...]
    bw_counted: tuple[bool, ...]

    @property
    def n_pes(self) -> int:
        return math.prod(self.sizes)

    def top(self, x: int) -> int | None:
        """Index of operand ``x``'s top memory, ``None`` if the core lists none."""
        lv = self.levels[x]
        return lv[-1] if lv else None


@dataclass(frozen=True)
class DramSpec:
    """DRAM port figures for in-node streaming.

    Parameters
    ----------
    cycles_per_bit
        Cycles per bit on the DRAM port (1 / bandwidth in bits/cycle).
    read_pj_per_bit, write_pj_per_bit
        pJ per bit read from / written to DRAM.
    present
        Whether there is a DRAM; without one nothing may be streamed.
    """

    cycles_per_bit: float = 0.0
    read_pj_per_bit: float = 0.0
    write_pj_per_bit: float = 0.0
    present: bool = False


@dataclass(frozen=True)
class Inner:
    """The single-pass schedule below the top memories for one spatial unrolling.

    Parameters
    ----------
    t_comp
        Compute cycles (unchanged by the outer nest).
    unroll
        ``((array dim, loop dim, factor), ...)``.
    demand
        Per operand, bits the array moves at the operand's lowest level (MAC ops:
        :math:`\\mathrm{MACs}\\cdot p_X / \\prod_{d\\ \\mathrm{irrelevant}} u_d`; vector ops:
        :math:`|X|`).
    i1_mult
        Per I1 level below the top, the re-read multiplier :math:`m` of the traffic that
        level draws from the one above: 1 (a buffer serving the whole array that holds all
        of I1), :math:`\\lceil L_K/u_K\\rceil` (one that holds the window, with the weights
        in the PE registers: :func:`_window_weights_fit`) or
        :math:`\\lceil L_K/u_K\\rceil r_{win}` (neither).
    """

    t_comp: float
    unroll: tuple[tuple[str, str, int], ...]
    demand: tuple[float, float, float]
    i1_mult: tuple[float, ...]

    @property
    def factors(self) -> dict[str, int]:
        return {d: f for _, d, f in self.unroll}


@dataclass(frozen=True)
class MappingResult:
    """Best mapping of a node on a core (or ``feasible=False``).

    Attributes
    ----------
    key
        ``(node latency in cycles, on-chip + in-node DRAM energy in pJ)``.
    inner
        The chosen unrolling's single-pass schedule.
    held
        Names of the held operands.
    nest
        ``((dim, count), ...)`` outer loops, outermost first.
    tiles
        Tile size of each nest loop.
    cycles
        On-chip latency (cycles, rounded up).
    memory_energy
        On-chip memory pJ.
    memory_cycles
        Bandwidth-bound cycles per memory name.
    dram_read_bits, dram_write_bits
        In-node DRAM traffic (bits).
    footprint
        Per operand name, bits held in its top memory.
    refetch
        Per streamed operand name, DRAM traffic / size.
    """

    feasible: bool
    key: Key = (math.inf, math.inf)
    inner: Inner | None = None
    held: tuple[str, ...] = ()
    nest: Nest = ()
    tiles: tuple[int, ...] = ()
    cycles: float = math.inf
    memory_energy: float = math.inf
    memory_cycles: tuple[tuple[str, float], ...] = ()
    dram_read_bits: float = 0.0
    dram_write_bits: float = 0.0
    footprint: tuple[tuple[str, float], ...] = ()
    refetch: tuple[tuple[str, float], ...] = ()


# ----------------------------------------------------------------------------- specs


def core_spec(core: Core) -> CoreSpec:
    """The :class:`CoreSpec` of ``core`` (see its attributes for the rules)."""
    mems = tuple(core.memories)
    index = {id(m): i for i, m in enumerate(mems)}
    levels = tuple(tuple(index[id(m)] for m in core.memories_for(x)) for x in OPERAND_NAMES)
    dims = set(core.array.dimensions)
    shared = tuple(bool(dims) and dims <= set(m.served_dimensions) for m in mems)
    counted = tuple(
        any(i in lv and (lv[0] != i or len(lv) == 1) for lv in levels) for i in range(len(mems))
    )
    fixed = None
    if core.dataflows:
        fixed = tuple(sorted((a, tuple(v)) for a, v in core.dataflows.items()))
    return CoreSpec(
        dims=tuple(core.array.dimensions),
        sizes=tuple(core.array.sizes),
        unit_energy=float(core.array.unit_energy),
        fixed=fixed,
        memories=mems,
        levels=levels,  # type: ignore[arg-type]
        shared_whole=shared,
        bw_counted=counted,
    )


@lru_cache(maxsize=4096)
def candidate_counts(size: int, unit: int) -> tuple[tuple[int, int], ...]:
    """``(count, tile)`` pairs of a tiling loop, counts >= 2 ascending.

    Tiles are multiples of ``unit``; for each reachable count the smallest tile is kept.

    Parameters
    ----------
    size
        Loop size :math:`L`.
    unit
        Tile granularity (the spatial unroll factor, >= 1).

    Returns
    -------
    tuple
        ``((n, t), ...)`` with :math:`n = \\lceil L/t \\rceil`.
    """
    unit = max(1, min(unit, size))
    out: list[tuple[int, int]] = []
    j = 1
    while True:
        t = unit * j
        n = -(-size // t)
        if n < 2:
            break
        out.append((n, t))
        # smallest j whose count is at most n - 1
        j = max(j + 1, -(-size // (unit * (n - 1))))
    out.reverse()
    return tuple(out)


# ------------------------------------------------------------------------ unrollings


def _fixed_unrolling(
    L: dict[str, int], cs: CoreSpec
) -> tuple[float, tuple[tuple[str, str, int], ...]]:
    assert cs.fixed is not None
    fx = dict(cs.fixed)
    cycles = 1.0
    used: set[str] = set()
    unroll = []
    for a, s in zip(cs.dims, cs.sizes, strict=True):
        for d, u in fx.get(a, ()):
            if d in L and d not in used:
                f = min(u, s)
                cycles *= math.ceil(L[d] / f)
                unroll.append((a, d, min(f, L[d])))
                used.add(d)
    for d, v in L.items():
        if d not in used:
            cycles *= v
    return cycles, tuple(unroll)


def unrollings(spec: NodeSpec, cs: CoreSpec) -> list[tuple[float, Unrolling]]:
    """Every spatial unrolling of a MAC node: ``(compute cycles, unrolling)``.

    The fixed dataflow alone when the core has one; otherwise the empty unrolling and every
    assignment of distinct loop dims to distinct array dims, one per distinct set of
    ``(loop dim, factor)``.
    """
    L = spec.sizes
    if cs.fixed is not None:
        return [_fixed_unrolling(L, cs)]
    total = float(math.prod(L.values())) if L else 1.0
    out: list[tuple[float, tuple[tuple[str, str, int], ...]]] = [(total, ())]
    seen: set[frozenset[tuple[str, int]]] = {frozenset()}
    names = list(L)
    for k in range(1, min(len(cs.dims), len(names)) + 1):
        for arr in itertools.permutations(range(len(cs.dims)), k):
            for ds in itertools.permutations(names, k):
                unroll = tuple(
                    (cs.dims[a], d, min(cs.sizes[a], L[d])) for a, d in zip(arr, ds, strict=True)
                )
                sig = frozenset((d, f) for _, d, f in unroll)
                if sig in seen or any(f < 1 for _, _, f in unroll):
                    continue
                seen.add(sig)
                cycles = 1.0
                for a, d in zip(arr, ds, strict=True):
                    cycles *= math.ceil(L[d] / cs.sizes[a])
                for d in names:
                    if d not in ds:
                        cycles *= L[d]
                out.append((cycles, unroll))
    return out


def _window_weights_fit(spec: NodeSpec, cs: CoreSpec, unroll: Unrolling) -> bool:
    """Whether the window order (per K tile: output row by output row, all input-channel
    tiles and filter taps of a row before the next) keeps the weights in the PE registers.

    It needs, per instance of the lowest weight memory below the top, the weights of every
    input-channel tile and tap: :math:`p_{I2} L_{FY} L_{FX} \\lceil L_C/u_C\\rceil` bits,
    times the unroll factor of each weight-relevant loop on an array dimension the instance
    serves.  Only for ops whose weights are I2 (the reduction includes C); not for weight
    gradients.
    """
    if "C" in spec.irrelevant[1]:
        return False
    lv = cs.levels[1]
    if len(lv) < 2:
        return False
    reg = cs.memories[lv[0]]
    L = spec.sizes
    u = {d: f for _, d, f in unroll}
    need = (
        spec.operands[1].prec
        * L.get("FY", 1)
        * L.get("FX", 1)
        * math.ceil(L.get("C", 1) / max(u.get("C", 1), 1))
    )
    for a, d, f in unroll:
        if a in reg.served_dimensions and d not in spec.irrelevant[1]:
            need *= f
    return need <= reg.size_bits


def inner_profile(
    spec: NodeSpec, cs: CoreSpec, t_comp: float, unroll: tuple[tuple[str, str, int], ...]
) -> Inner:
    """The :class:`Inner` schedule of a node for one unrolling (module docstring)."""
    if not spec.mac:
        demand = tuple(o.bits for o in spec.operands)
        return Inner(max(t_comp, 1.0), (), demand, ())  # type: ignore[arg-type]
    u = {d: f for _, d, f in unroll}
    L = spec.sizes
    demand = tuple(
        spec.work * o.prec / math.prod(u.get(d, 1) for d in irr)
        for o, irr in zip(spec.operands, spec.irrelevant, strict=True)
    )
    k_tiles = math.ceil(L.get("K", 1) / max(u.get("K", 1), 1))
    i1 = spec.operands[0]
    window_ok = _window_weights_fit(spec, cs, unroll)
    mult = []
    for idx in cs.levels[0][:-1]:
        mem = cs.memories[idx]
        if cs.shared_whole[idx] and i1.bits <= mem.size_bits:
            mult.append(1.0)
        elif window_ok and cs.shared_whole[idx] and spec.window_bits <= mem.size_bits:
            mult.append(float(k_tiles))
        else:
            mult.append(float(k_tiles) * spec.r_win)
    return Inner(max(t_comp, 1.0), unroll, demand, tuple(mult))  # type: ignore[arg-type]


# ------------------------------------------------------------------------ mapping cost


@dataclass(frozen=True)
class _Eval:
    key: Key
    cycles: float
    memory_energy: float
    memory_cycles: tuple[tuple[str, float], ...]
    dram_read: float
    dram_write: float


def _loop_factors(spec: NodeSpec, nest: Nest) -> tuple[list[float], float, list[float], list[bool]]:
    """Factors of an outer nest, per operand: the inner re-run factor :math:`R_X` (for I1
    without the ``K`` loop), the ``K`` count, the DRAM factor :math:`S_X`, and whether X's
    tile is revisited after it changed (for O: a partial-sum spill)."""
    L = spec.sizes
    n_k = 1.0
    R = [1.0, 1.0, 1.0]
    S = [1.0, 1.0, 1.0]
    spill = [False, False, False]
    for x, o in enumerate(spec.operands):
        for pos, (d, n) in enumerate(nest):
            if d in o.rel:
                sw = o.sweep(d, L[d], n)
                R[x] *= sw
                S[x] *= sw
            else:
                if x == 0 and spec.mac and d == "K":
                    n_k = float(n)
                else:
                    R[x] *= n
                if any(dd in o.rel for dd, _ in nest[pos + 1 :]):
                    S[x] *= n
                    spill[x] = True
    return R, n_k, S, spill


def _onchip(
    spec: NodeSpec,
    cs: CoreSpec,
    inner: Inner,
    R: Sequence[float],
    n_k: float,
    top_fill: Sequence[float],
) -> tuple[float, float, list[float]]:
    """(on-chip cycles, memory pJ, per-memory bandwidth cycles) of one mapping."""
    nm = len(cs.memories)
    reads = [0.0] * nm
    writes = [0.0] * nm
    for x in range(3):
        o = spec.operands[x]
        lv = cs.levels[x]
        if o.bits <= 0 or not lv:
            continue
        base = o.bits
        demand = inner.demand[x] if spec.mac else base * R[x]
        top = len(lv) - 1
        prev = demand
        if x == 2:  # output: level k writes what comes from below, reads what goes up
            for k, idx in enumerate(lv):
                writes[idx] += prev
                if k == 0 and spec.mac:
                    reads[idx] += max(prev - base, 0.0)  # read-modify-write of partial sums
                up = min(prev, base * R[2]) if k < top else base
                reads[idx] += up
                prev = up
            if R[2] > 1.0:  # partial sums read back from the top across reduction tiles
                back = base * (R[2] - 1.0)
                reads[lv[-1]] += back
                if top > 0:
                    writes[lv[-2]] += back
            continue
        for k, idx in enumerate(lv):
            reads[idx] += prev
            if k < top:
                if x == 0 and spec.mac:
                    own = base * R[0] * max(inner.i1_mult[k], n_k)
                else:
                    own = base * R[x]
                fill = min(prev, own)
            else:
                fill = top_fill[x]
            writes[idx] += fill
            prev = fill
    energy = 0.0
    cyc = []
    t_mem = 0.0
    for i, m in enumerate(cs.memories):
        energy += reads[i] * m.r_cost_per_bit + writes[i] * m.w_cost_per_bit
        c = 0.0
        if cs.bw_counted[i]:
            c = max(reads[i] / m.r_bw if m.r_bw else 0.0, writes[i] / m.w_bw if m.w_bw else 0.0)
            t_mem = max(t_mem, c)
        cyc.append(c)
    return max(inner.t_comp, t_mem), energy, cyc


def _footprints(
    spec: NodeSpec, held: frozenset[int], nest: Nest, tiles: Sequence[int]
) -> list[float]:
    """Bits each operand holds in its top memory (double buffer when streamed in tiles)."""
    L = spec.sizes
    out = []
    for x, o in enumerate(spec.operands):
        if x in held or o.bits <= 0:
            out.append(o.bits)
            continue
        frac = 1.0
        n_tiles = 1
        for (d, n), t in zip(nest, tiles, strict=True):
            if d in o.rel:
                frac *= o.frac(d, L[d], t)
                n_tiles *= n
        out.append(o.bits * (2.0 * frac if n_tiles > 1 else 1.0))
    return out


def _fits(cs: CoreSpec, ops: Sequence[int], fp: Sequence[float]) -> bool:
    use: dict[int, float] = {}
    for x in ops:
        top = cs.top(x)
        assert top is not None
        use[top] = use.get(top, 0.0) + fp[x]
    return all(v <= cs.memories[m].size_bits * (1 + 1e-12) for m, v in use.items())


def _evaluate(
    spec: NodeSpec,
    cs: CoreSpec,
    dram: DramSpec,
    inner: Inner,
    held: frozenset[int],
    nest: Nest,
    tiles: Sequence[int],
    ops: Sequence[int],
) -> _Eval | None:
    """Cost of one mapping, ``None`` if it spills partial sums (capacity not checked)."""
    R, n_k, S, spill = _loop_factors(spec, nest)
    streamed = [x for x in ops if x not in held]
    if 2 in streamed and spill[2]:
        return None
    top_fill = [o.bits for o in spec.operands]
    d_read = d_write = 0.0
    for x in streamed:
        vol = spec.operands[x].bits * S[x]
        if x == 2:
            d_write += vol
        else:
            d_read += vol
            top_fill[x] = vol
    cycles, mem_e, cyc = _onchip(spec, cs, inner, R, n_k, top_fill)
    cycles = float(math.ceil(cycles - 1e-9))
    d_cyc = (d_read + d_write) * dram.cycles_per_bit
    e = (
        spec.work * cs.unit_energy
        + mem_e
        + d_read * dram.read_pj_per_bit
        + d_write * dram.write_pj_per_bit
    )
    names = tuple((cs.memories[i].name, c) for i, c in enumerate(cyc) if cs.bw_counted[i])
    return _Eval((max(cycles, d_cyc, spec.floor), e), cycles, mem_e, names, d_read, d_write)


def _present(spec: NodeSpec, cs: CoreSpec) -> tuple[int, ...]:
    """Operands with bits and an on-chip memory on this core (they need a place)."""
    return tuple(x for x in range(3) if spec.operands[x].bits > 0 and cs.levels[x])


def mapping_cost(
    spec: NodeSpec,
    cs: CoreSpec,
    dram: DramSpec,
    inner: Inner,
    held: frozenset[int],
    nest: Nest,
) -> Key | None:
    """Key of one mapping of the space, ``None`` if infeasible.

    Infeasible: it does not fit the top memories, it spills partial sums, or it streams
    without DRAM.  ``nest`` gives ``(dim, count)`` pairs; each count must be one of
    :func:`candidate_counts` (its smallest tile is used).  The tests enumerate the whole
    space with it.
    """
    ops = _present(spec, cs)
    if not dram.present and any(x not in held for x in ops):
        return None
    tiles = []
    for d, n in nest:
        t = dict(candidate_counts(spec.sizes[d], _unit(spec, inner, cs, d))).get(n)
        if t is None:
            return None
        tiles.append(t)
    if not _fits(cs, ops, _footprints(spec, held, nest, tiles)):
        return None
    ev = _evaluate(spec, cs, dram, inner, held, nest, tiles, ops)
    return None if ev is None else ev.key


def _unit(spec: NodeSpec, inner: Inner, cs: CoreSpec, dim: str) -> int:
    """Tile granularity along ``dim``: its unroll factor (MAC ops), the lanes for ``E``."""
    if spec.mac:
        return int(inner.factors.get(dim, 1))
    return cs.n_pes if dim == "E" else 1


# ------------------------------------------------------------------------------ search


def _staircase(feasible: Callable[[int, int], bool], n1: int, n2: int) -> list[tuple[int, int]]:
    """Minimal points of an up-set of an ``n1`` x ``n2`` grid (two-pointer walk).

    ``feasible(i, j)`` must be monotone: feasible at ``(i, j)`` implies feasible at every
    ``(i', j') >= (i, j)``.  Row by row, the smallest feasible column can only move left.
    """
    pts: list[tuple[int, int]] = []
    j = n2  # columns >= j are feasible in the current row
    for i in range(n1):
        while j > 0 and feasible(i, j - 1):
            j -= 1
        if j < n2 and (not pts or j < pts[-1][1]):
            pts.append((i, j))
        if j == 0:
            break
    return pts


def _first_feasible(feasible: Callable[[int], bool], n: int) -> int:
    """Smallest ``i < n`` with ``feasible(i)`` (monotone), ``n`` if none (binary search)."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if feasible(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def search(spec: NodeSpec, cs: CoreSpec, dram: DramSpec, inner: Inner) -> MappingResult:
    """Best mapping of one unrolling over the space of the module docstring."""
    ops = _present(spec, cs)
    L = spec.sizes
    all_held = frozenset(ops)
    best: MappingResult = MappingResult(False)
    fp = _footprints(spec, all_held, (), ())
    if _fits(cs, ops, fp):
        ev = _evaluate(spec, cs, dram, inner, all_held, (), (), ops)
        assert ev is not None
        return _result(spec, cs, inner, all_held, (), (), ev, fp)
    if not dram.present:
        return best
    cands = {d: candidate_counts(L[d], _unit(spec, inner, cs, d)) for d in spec.tileable if d in L}
    dims = [d for d in spec.tileable if cands.get(d)]
    for r in range(len(ops) - 1, -1, -1):
        for held_t in itertools.combinations(ops, r):
            held = frozenset(held_t)
            streamed = [x for x in ops if x not in held]
            if not _fits(cs, held_t, [o.bits for o in spec.operands]):
                continue
            for nest_dims in _nests(spec, dims, streamed):
                res = _search_nest(spec, cs, dram, inner, held, nest_dims, cands, ops)
                if res is not None and (not best.feasible or res.key < best.key):
                    best = res
    return best


def _nests(spec: NodeSpec, dims: Sequence[str], streamed: Sequence[int]) -> list[tuple[str, ...]]:
    """Loop-dimension orders worth searching (module docstring: dominated ones dropped)."""
    out = []
    for k in (1, 2):
        for nd in itertools.permutations(dims, k):
            if any(not any(d in spec.operands[x].rel for x in streamed) for d in nd):
                continue
            if any(not any(d in spec.operands[x].rel for d in nd) for x in streamed):
                continue
            if 2 in streamed:
                o = spec.operands[2]
                if any(
                    nd[i] not in o.rel and any(d in o.rel for d in nd[i + 1 :])
                    for i in range(len(nd))
                ):
                    continue
            out.append(nd)
    return out


def _search_nest(
    spec: NodeSpec,
    cs: CoreSpec,
    dram: DramSpec,
    inner: Inner,
    held: frozenset[int],
    nest_dims: tuple[str, ...],
    cands: dict[str, tuple[tuple[int, int], ...]],
    ops: Sequence[int],
) -> MappingResult | None:
    lists = [cands[d] for d in nest_dims]

    def nest_at(idx: Sequence[int]) -> tuple[Nest, list[int]]:
        nest = tuple((d, lst[i][0]) for d, lst, i in zip(nest_dims, lists, idx, strict=True))
        tiles = [lst[i][1] for lst, i in zip(lists, idx, strict=True)]
        return nest, tiles

    def feasible(*idx: int) -> bool:
        nest, tiles = nest_at(idx)
        return _fits(cs, ops, _footprints(spec, held, nest, tiles))

    if len(lists) == 1:
        n = len(lists[0])
        i = _first_feasible(feasible, n)
        points: list[tuple[int, ...]] = [(i,)] if i < n else []
    else:
        points = list(_staircase(feasible, len(lists[0]), len(lists[1])))
    best: MappingResult | None = None
    for idx in points:
        nest, tiles = nest_at(idx)
        ev = _evaluate(spec, cs, dram, inner, held, nest, tiles, ops)
        if ev is None:
            continue
        if best is None or ev.key < best.key:
            best = _result(
                spec, cs, inner, held, nest, tiles, ev, _footprints(spec, held, nest, tiles)
            )
    return best


def _result(
    spec: NodeSpec,
    cs: CoreSpec,
    inner: Inner,
    held: frozenset[int],
    nest: Nest,
    tiles: Sequence[int],
    ev: _Eval,
    fp: Sequence[float],
) -> MappingResult:
    ops = _present(spec, cs)
    _, _, S, _ = _loop_factors(spec, nest)
    return MappingResult(
        feasible=True,
        key=ev.key,
        inner=inner,
        held=tuple(OPERAND_NAMES[x] for x in ops if x in held),
        nest=nest,
        tiles=tuple(tiles),
        cycles=ev.cycles,
        memory_energy=ev.memory_energy,
        memory_cycles=ev.memory_cycles,
        dram_read_bits=ev.dram_read,
        dram_write_bits=ev.dram_write,
        footprint=tuple((OPERAND_NAMES[x], float(fp[x])) for x in ops),
        refetch=tuple((OPERAND_NAMES[x], float(S[x])) for x in ops if x not in held),
    )


@lru_cache(maxsize=65536)
def best_mapping(spec: NodeSpec, cs: CoreSpec, dram: DramSpec) -> MappingResult:
    """Best mapping of a node on a core over unrollings, held sets and nests (exact).

    Unrollings are visited in increasing order of their resident key, a lower bound of
    every mapping they have; the walk stops once that bound is no better than the best
    key found.

    Returns
    -------
    MappingResult
        ``feasible=False`` when nothing fits (e.g. no DRAM and the operands exceed the
        top memories).
    """
    if spec.mac:
        profiles = [inner_profile(spec, cs, t, u) for t, u in unrollings(spec, cs)]
    else:
        t = float(math.ceil(spec.work / max(cs.n_pes, 1)))
        profiles = [inner_profile(spec, cs, t, ())]
    ops = _present(spec, cs)
    all_held = frozenset(ops)
    bounds = []
    for k, inner in enumerate(profiles):
        ev = _evaluate(spec, cs, dram, inner, all_held, (), (), ops)
        assert ev is not None
        bounds.append((ev.key, k))
    bounds.sort()
    best = MappingResult(False)
    for lb, k in bounds:
        if best.feasible and lb >= best.key:
            break
        res = search(spec, cs, dram, profiles[k])
        if res.feasible and (not best.feasible or res.key < best.key):
            best = res
    return best
