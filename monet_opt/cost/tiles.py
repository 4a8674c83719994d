r"""Cost of a node on a group of identical MIMD tiles run in BSP supersteps.

A core with :attr:`~monet_opt.hardware.model.Core.tiles` set (a
:class:`~monet_opt.hardware.model.TileGroup`) stands for ``n = tiles.count`` identical
tiles; its ``array`` and ``memories`` are **one tile's** (``docs/mimd_tiles.md``).  The
IPU-like chip of ``examples/hardware/ipu_like.yaml`` is one such group of 1,472 tiles, so a
MILP sees one core, not 1,472.

**Split.**  A node on the group is split along its output: output-relevant loop
dimensions (loops O depends on, i.e. not a reduction; every tileable loop of an
element-wise op, whose elements are independent) are divided over the tiles
(:func:`split_spec`).  Along a dimension of size :math:`L` cut into slices of
:math:`s`, :math:`\lceil L / s\rceil` tiles are used; the first dimension of an order
takes any distinct tile count, the next ones the tiles left over (``r // used``).  Among
these splits the one with the smallest superstep estimate (compute or tile-memory time of
the slice plus its exchange) whose slice fits one tile is chosen.  For a
fully connected layer the natural split is the neuron loop K: each tile computes the
outputs of its own neurons from their fan-in weights (neuron-stationary).  Every
operand is cut along the split dimensions it depends on; one that depends on none (the
layer input for a K split) is needed whole on every tile.  The slice must fit one tile's
memories (a tensor fits per tile, not in the sum of the tiles' SRAMs); it is costed by the
ordinary single-core model (:func:`monet_opt.cost.op_cost.node_cost`, sparse layers
included).

**BSP superstep** (Valiant, "A bridging model for parallel computation", CACM 33(8),
1990; Graphcore IPU documentation: compute, exchange, sync).  The node is one
superstep whose phases do not overlap:

.. math::  T_{node} = T_{ex} + T_{slice} + T_{sync},
           \qquad T_{ex} = \Bigl\lceil \frac{h}{b_{ex}} \Bigr\rceil,
           \qquad h = \sum_{X \in \{I1, I2\}} \max\bigl(0,\ |X_{slice}| - |X| / n_{used}\bigr)

:math:`h` is the superstep's h-relation: what one tile must receive, its input slices
minus the even share :math:`|X|/n_{used}` it already holds (each operand is spread evenly
over the tiles, aligned with the slices: weights split with their neurons stay put,
the previous superstep's outputs are where it computed them).  :math:`b_{ex}` is
``tiles.exchange_bits_per_cycle``, what one tile receives per cycle (the all-to-all's
aggregate bandwidth over the chip's tiles; all tiles receive in parallel, so a broadcast
of :math:`|X|` bits to every tile takes about :math:`|X| / b_{ex}`).  :math:`T_{sync}` is
``tiles.sync_cycles``.  Energies (compute, memory) and in-node DRAM (streaming memory)
traffic are the slice's times the tiles used; the exchange adds
``exchange_pj_per_bit`` per bit received (counted in ``memory_energy``).
``OpCost.memory_cycles`` lists ``exchange`` and ``sync``; ``mapping`` starts with
``tiles <used> (<dim> <slice>...)``.

Why the group equals its tiles: the slice on one tile is the work of each of the
``used`` tiles, which run concurrently, so the group's compute time is the slice's (the
test in ``tests/cost/test_tiles.py`` checks a group of n tiles against n explicit
single-tile slices).  Not modelled: the reduction of partial sums when only reduction
loops are large (a dX whose input loop is small), load imbalance inside a tile (its
threads), and the exchange code's own instruction overhead.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from functools import lru_cache

from monet_opt.cost.mapping import OPERAND_NAMES, NodeSpec
from monet_opt.hardware.model import TileGroup

__all__ = ["TileSplit", "split_spec", "superstep_cycles"]


@dataclass(frozen=True)
class TileSplit:
    """How a node is split over a tile group.

    Attributes
    ----------
    spec
        The spec one tile executes (its slice).
    used
        Tiles that hold a slice (<= the group's count).
    dims
        ``((dim, slice size), ...)`` of the split dimensions.
    exchange_bits
        Bits one tile receives over the exchange: for each input, its slice minus the
        tile's even share ``|X| / used`` (the operand is spread evenly over the tiles
        that use it, aligned with the slices: BSP's h-relation for this superstep).
    """

    spec: NodeSpec
    used: int
    dims: tuple[tuple[str, int], ...]
    exchange_bits: float


def _counts(size: int, limit: int) -> tuple[int, ...]:
    """Distinct tile counts ``ceil(L / s)`` reachable along a loop of ``size`` with at most
    ``limit`` tiles (each with the smallest slice ``s``), ascending."""
    out = {math.ceil(size / math.ceil(size / n)) for n in range(1, min(size, limit) + 1)}
    return tuple(sorted(out))


def _apply(spec: NodeSpec, cut: dict[str, int]) -> tuple[NodeSpec, float]:
    """The slice of ``spec`` with loop ``d`` cut to ``cut[d]``, and the bits one tile
    receives over the exchange (its input slices minus its even share of each input)."""
    sizes = dict(spec.loops)
    used = math.prod(math.ceil(sizes[d] / t) for d, t in cut.items())
    operands = []
    received = 0.0
    frac_work = math.prod(cut[d] / sizes[d] for d in cut)
    for x, o in zip(OPERAND_NAMES, spec.operands, strict=True):
        dep = [d for d in cut if d in o.rel]
        frac = math.prod(o.frac(d, sizes[d], cut[d]) for d in dep)
        if x == "O" and not spec.mac:
            # an element-wise op's tile writes the elements it computes: its share of the
            # work (its output's loop dependence comes from the smallest output tensor,
            # which would leave every tile holding the whole output)
            frac = min(frac, frac_work)
        if x != "O":
            received += max(0.0, o.bits * frac - o.bits / used)
        operands.append(replace(o, bits=o.bits * frac))
    loops = tuple(sorted((d, cut.get(d, n)) for d, n in spec.loops if cut.get(d, n) > 1))
    work = max(1, math.ceil(spec.work * frac_work - 1e-9))
    return replace(spec, loops=loops, work=work, operands=tuple(operands)), received


@lru_cache(maxsize=65536)
def split_spec(
    spec: NodeSpec,
    count: int,
    pes: int = 1,
    mem_bits_per_cycle: float = math.inf,
    exchange_bits_per_cycle: float = math.inf,
    capacity_bits: float = math.inf,
) -> TileSplit:
    """Split ``spec`` over ``count`` tiles along its output-relevant loops (module
    docstring).

    The split is chosen among: an order of the output-relevant tileable loops, every
    distinct tile count of the first loop, then greedy (as many tiles as are left) along
    the next loops.  The chosen split minimises the superstep estimate
    ``max(work / pes, slice bits / mem_bits_per_cycle) + h / exchange_bits_per_cycle``
    among the splits whose slice fits ``capacity_bits`` (all splits if none fits), ties
    broken by fewer tiles.

    Parameters
    ----------
    spec
        The whole node's spec (:func:`monet_opt.cost.op_cost.node_spec`).
    count
        Tiles in the group (>= 1).
    pes
        PEs (MACs or element ops per cycle) of one tile.
    mem_bits_per_cycle
        One tile's memory bandwidth in bits/cycle (for the estimate).
    exchange_bits_per_cycle
        Bits/cycle one tile receives from the exchange.
    capacity_bits
        One tile's on-chip capacity in bits.

    Returns
    -------
    TileSplit
        ``used == 1`` and the spec unchanged when nothing can be split.

    Raises
    ------
    ValueError
        If ``count < 1``.
    """
    if count < 1:
        raise ValueError(f"a tile group has at least 1 tile, got {count}")
    sizes = dict(spec.loops)
    out = spec.operands[OPERAND_NAMES.index("O")]
    dims = sorted(d for d in sizes if d in spec.tileable and (d in out.rel or not spec.mac))
    best: tuple[tuple[bool, float, int], TileSplit] | None = None
    cands: list[dict[str, int]] = [{}]
    if count > 1 and dims:
        for order in itertools.permutations(dims):
            first, rest = order[0], order[1:]
            for n1 in _counts(sizes[first], count):
                cut = {first: math.ceil(sizes[first] / n1)} if n1 > 1 else {}
                left = count // n1
                for d in rest:
                    if left < 2:
                        break
                    sl = math.ceil(sizes[d] / left)
                    n_d = math.ceil(sizes[d] / sl)
                    if n_d > 1:
                        cut[d] = sl
                        left //= n_d
                cands.append(cut)
    for cut in cands:
        sl, rep = _apply(spec, cut) if cut else (spec, 0.0)
        used = math.prod(math.ceil(sizes[d] / t) for d, t in cut.items())
        bits = sum(o.bits for o in sl.operands)
        est = max(sl.work / max(pes, 1), bits / mem_bits_per_cycle)
        est += rep / exchange_bits_per_cycle if cut else 0.0
        key = (bits > capacity_bits, est, used)
        if best is None or key < best[0]:
            best = (key, TileSplit(sl, used, tuple(sorted(cut.items())), rep))
    assert best is not None
    return best[1]


def superstep_cycles(tiles: TileGroup, slice_cycles: float, exchange_bits: float) -> float:
    r"""Cycles of one BSP superstep: exchange + compute + sync (module docstring).

    Parameters
    ----------
    tiles
        The group.
    slice_cycles
        Cycles of one tile's slice (its roofline latency).
    exchange_bits
        Bits one tile receives over the exchange (:attr:`TileSplit.exchange_bits`).

    Returns
    -------
    float
        :math:`\lceil h/b_{ex}\rceil + T_{slice} + T_{sync}` in cycles.
    """
    ex = 0.0
    if exchange_bits > 0 and not math.isinf(tiles.exchange_bits_per_cycle):
        ex = math.ceil(exchange_bits / tiles.exchange_bits_per_cycle - 1e-9)
    return float(ex + slice_cycles + tiles.sync_cycles)
