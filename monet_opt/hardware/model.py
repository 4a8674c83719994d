"""Accelerator description: cores, memory hierarchies, links and DRAM.

The model mirrors the hardware description of Stream (Symons et al., "Stream: Design Space
Exploration of Layer-Fused DNNs on Heterogeneous Dataflow Accelerators", arXiv:2212.10612,
2022; github.com/KULeuven-MICAS/stream) and ZigZag (Mei et al., "ZigZag: Enlarging Joint
Architecture-Mapping Design Space Exploration for DNN Accelerators", IEEE Trans. Computers
70(8), 2021), see ``docs/hardware_sources.md``, with explicit units:

* memory ``size_bits`` in **bits**;
* port and link bandwidths in **bits/cycle**;
* memory ``r_cost``/``w_cost`` in **pJ per access of one port-wide word**
  (a word is ``r_bw``/``w_bw`` bits wide);
* MAC ``unit_energy`` in **pJ per MAC** (or per element operation on a SIMD core);
* link ``energy_per_bit`` in **pJ/bit**.

Memories of a core are listed **lowest level first** (closest to the PEs).
All classes are frozen dataclasses; loaders live in :mod:`monet_opt.hardware.yaml_io`
(our schema) and :mod:`monet_opt.hardware.stream_io` (Stream's YAML).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType

import networkx as nx

__all__ = [
    "Port",
    "Memory",
    "OperationalArray",
    "SparseSupport",
    "TileGroup",
    "Core",
    "Link",
    "Accelerator",
    "OPERANDS",
]

#: ZigZag operands: I1 = input activation, I2 = weight, O = output.
OPERANDS: tuple[str, ...] = ("I1", "I2", "O")


@dataclass(frozen=True)
class Port:
    """A memory port.

    Parameters
    ----------
    name
        Port name (``r_port_1``...).
    kind
        ``"read"``, ``"write"`` or ``"read_write"``.
    bandwidth_min, bandwidth_max
        Bits/cycle (ZigZag 3.x ``bandwidth_min``/``bandwidth_max``; the older
        ``r_bw``/``w_bw`` form gives min = max).
    allocation
        ``(operand, direction)`` pairs, direction in ``fh`` (write from higher),
        ``tl`` (read to lower), ``fl`` (write from lower), ``th`` (read to higher).
    """

    name: str
    kind: str
    bandwidth_min: float
    bandwidth_max: float
    allocation: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Memory:
    """One memory level of a core.

    Parameters
    ----------
    name
        Memory name.
    size_bits
        Capacity in bits.
    r_bw, w_bw
        Read / write bandwidth in bits/cycle (the widest port of that kind; a
        ``read_write`` port counts for both).
    r_cost, w_cost
        pJ per access of one ``r_bw``/``w_bw``-bit word.
    operands
        Operands it holds (subset of ``I1``, ``I2``, ``O``).
    ports
        Its ports.
    served_dimensions
        Array dimensions (``D1``...) that share one instance of this memory.
    """

    name: str
    size_bits: float
    r_bw: float
    w_bw: float
    r_cost: float
    w_cost: float
    operands: frozenset[str]
    ports: tuple[Port, ...] = ()
    served_dimensions: tuple[str, ...] = ()

    @property
    def r_cost_per_bit(self) -> float:
        """pJ per bit read."""
        return self.r_cost / self.r_bw if self.r_bw else 0.0

    @property
    def w_cost_per_bit(self) -> float:
        """pJ per bit written."""
        return self.w_cost / self.w_bw if self.w_bw else 0.0


@dataclass(frozen=True)
class OperationalArray:
    """The PE array of a core.

    Parameters
    ----------
    unit_energy
        pJ per MAC (per element operation for SIMD arrays).
    dimensions
        Array dimension names, e.g. ``("D1", "D2")``.
    sizes
        PEs along each dimension, e.g. ``(32, 32)``.
    """

    unit_energy: float
    dimensions: tuple[str, ...]
    sizes: tuple[int, ...]

    @property
    def n_pes(self) -> int:
        """Total PEs (product of sizes)."""
        n = 1
        for s in self.sizes:
            n *= s
        return n


@dataclass(frozen=True)
class SparseSupport:
    """What a core can skip of a sparse layer (``docs/sparsity.md``).

    Parameters
    ----------
    gather_bits_per_cycle
        Bandwidth of an input-gather path (bits/cycle): it fetches the activation each
        stored weight needs by the weight's column index (and scatters dX partial sums the
        same way).  ``None``: no gather path.
    index_bits_per_cycle
        Index bits the gather path decodes per cycle (``None``: as
        ``gather_bits_per_cycle``).
    n_m
        N:M patterns ``(n, m)`` the array runs natively at the ``n / m`` rate (sparse
        tensor cores: the metadata selects the inputs inside the PE, no gather path).
    """

    gather_bits_per_cycle: float | None = None
    index_bits_per_cycle: float | None = None
    n_m: frozenset[tuple[int, int]] = frozenset()

    @property
    def gathers(self) -> bool:
        """Whether the core has an input-gather path."""
        return self.gather_bits_per_cycle is not None

    @property
    def index_rate(self) -> float | None:
        """Index bits decoded per cycle (``None`` without a gather path)."""
        if self.index_bits_per_cycle is not None:
            return self.index_bits_per_cycle
        return self.gather_bits_per_cycle


@dataclass(frozen=True)
class TileGroup:
    """A core that stands for ``count`` identical MIMD tiles run in BSP supersteps
    (``docs/mimd_tiles.md``).

    The core's array and memories are those of **one** tile: every tile has its own
    SRAM, so a node's operands must fit one tile's memories once split across the
    tiles, not their sum.  A node on the group is one bulk-synchronous superstep:
    exchange of its inputs over the all-to-all fabric, compute on every tile (the node
    split along its output neurons), then a barrier sync
    (:mod:`monet_opt.cost.tiles`).

    Parameters
    ----------
    count
        Number of tiles in the group (multiplicity, >= 1).
    sync_cycles
        Cycles of one barrier synchronization that ends a superstep.
    exchange_bits_per_cycle
        Bits per cycle one tile receives from the exchange fabric (the all-to-all's
        aggregate bandwidth over the chip's tiles).
    exchange_pj_per_bit
        pJ per bit delivered to a tile by the exchange.
    threads
        Hardware threads per tile (documentation of the tile; the array size already
        gives the tile's peak rate).

    Sources
    -------
    Graphcore IPU documentation (GC200: 1,472 tiles, 6 threads each, 624 KiB SRAM per
    tile, BSP compute / exchange / sync); Finkbeiner et al., arXiv:2311.04386.
    """

    count: int = 1
    sync_cycles: float = 0.0
    exchange_bits_per_cycle: float = float("inf")
    exchange_pj_per_bit: float = 0.0
    threads: int = 1


@dataclass(frozen=True)
class Core:
    """A core (compute core or the off-chip DRAM core).

    Parameters
    ----------
    id
        Core id as used in the accelerator file.
    name
        Core name.
    kind
        ``"compute"``, ``"offchip"`` (the DRAM core) or ``"memory"`` (an on-chip
        memory-only core without PEs, Stream's ``zigzag.memory``; it runs no ops).
    array
        Its operational array.
    memories
        Memory levels, lowest first.
    dataflows
        Fixed spatial unrolling per array dimension, e.g.
        ``{"D1": (("K", 32),), "D2": (("C", 32),)}``; ``None`` lets the cost model choose.
    operator_types
        Op kinds (``OpKind`` values: ``conv``, ``gemm``, ``elementwise``...) this core is
        restricted to, or ``None`` (no restriction). The loaders map Stream's ONNX op
        types to op kinds; :func:`monet_opt.hardware.yaml_io.core_supports` is the
        capability test (exact: listed kinds only).
    sparse
        Sparse-layer support (:class:`SparseSupport`), or ``None``: the core executes
        sparse layers dense (it decompresses condensed weights on the way to the array).
    tiles
        :class:`TileGroup` when the core is a group of identical MIMD tiles (array and
        memories are one tile's), else ``None`` (an ordinary core).
    """

    id: int
    name: str
    kind: str
    array: OperationalArray
    memories: tuple[Memory, ...]
    dataflows: Mapping[str, tuple[tuple[str, int], ...]] | None = None
    operator_types: frozenset[str] | None = None
    sparse: SparseSupport | None = None
    tiles: TileGroup | None = None

    def __post_init__(self) -> None:
        if self.dataflows is not None:
            object.__setattr__(self, "dataflows", MappingProxyType(dict(self.dataflows)))

    @property
    def is_offchip(self) -> bool:
        return self.kind == "offchip"

    def memories_for(self, operand: str) -> tuple[Memory, ...]:
        """Memory levels holding ``operand``, lowest first."""
        return tuple(m for m in self.memories if operand in m.operands)

    def top_memory(self, operand: str) -> Memory | None:
        """Highest on-core memory holding ``operand`` (``None`` if none)."""
        ms = self.memories_for(operand)
        return ms[-1] if ms else None

    @property
    def tile_count(self) -> int:
        """Tiles this core stands for (1 for an ordinary core)."""
        return 1 if self.tiles is None else self.tiles.count

    @property
    def onchip_bits(self) -> float:
        """Sum of the distinct top-level memories' capacities in bits; for a tile group,
        over all its tiles (``tile_count`` × one tile's: the schedule's view of the group,
        whose tensors are split evenly over the tiles; the per-tile fit of a node's slice
        is the cost model's check, :mod:`monet_opt.cost.tiles`)."""
        tops = {id(m): m for op in OPERANDS if (m := self.top_memory(op)) is not None}
        return sum(m.size_bits for m in tops.values()) * self.tile_count


@dataclass(frozen=True)
class Link:
    """A point-to-point link (``kind="link"``) or shared bus (``kind="bus"``).

    Parameters
    ----------
    cores
        Core ids it connects (2 for a link, any number for a bus).
    kind
        ``"link"`` or ``"bus"``.
    bandwidth
        Bits/cycle.
    energy_per_bit
        pJ per bit transferred.
    """

    cores: tuple[int, ...]
    kind: str
    bandwidth: float
    energy_per_bit: float = 0.0


@dataclass(frozen=True, eq=False)
class Accelerator:
    """A multi-core accelerator.

    Parameters
    ----------
    name
        Name.
    cores
        All cores, including the off-chip (DRAM) core if any.
    links
        Links and buses.
    offchip_core_id
        Id of the core fronting DRAM, or ``None``.
    memory_sharing
        Groups of core ids that share their top-level memory.
    source
        File it was read from (for error messages and result echoes).
    """

    name: str
    cores: tuple[Core, ...]
    links: tuple[Link, ...]
    offchip_core_id: int | None = None
    memory_sharing: tuple[tuple[int, ...], ...] = ()
    source: str = ""
    _extra: Mapping[str, object] = field(default_factory=dict, repr=False)

    def core(self, core_id: int) -> Core:
        """The core with this id.

        Raises
        ------
        KeyError
            If no core has this id.
        """
        for c in self.cores:
            if c.id == core_id:
                return c
        raise KeyError(f"accelerator {self.name!r} has no core {core_id}")

    @cached_property
    def compute_cores(self) -> tuple[Core, ...]:
        """Cores that can run ops (everything but the off-chip core and memory-only cores)."""
        return tuple(
            c
            for c in self.cores
            if c.id != self.offchip_core_id and not c.is_offchip and c.kind != "memory"
        )

    @property
    def offchip_core(self) -> Core | None:
        return None if self.offchip_core_id is None else self.core(self.offchip_core_id)

    @property
    def dram(self) -> Memory | None:
        """The DRAM memory (top memory of the off-chip core), or ``None``."""
        oc = self.offchip_core
        return oc.memories[-1] if oc is not None and oc.memories else None

    @cached_property
    def dram_bandwidth(self) -> float:
        """Bits/cycle between the chip and DRAM.

        The minimum of the DRAM port bandwidth and the widest link/bus that reaches the
        off-chip core; the DRAM port alone if no link names it.
        """
        dram = self.dram
        if dram is None:
            return 0.0
        port = max(dram.r_bw, dram.w_bw)
        reach = [lk.bandwidth for lk in self.links if self.offchip_core_id in lk.cores]
        return min(port, max(reach)) if reach else port

    @cached_property
    def dram_energy_per_bit(self) -> tuple[float, float]:
        """(read, write) pJ/bit of DRAM accesses."""
        dram = self.dram
        if dram is None:
            return (0.0, 0.0)
        return (dram.r_cost_per_bit, dram.w_cost_per_bit)

    def topology(self) -> nx.Graph:
        """Undirected core graph of point-to-point links (edge attr ``link``)."""
        g = nx.Graph()
        g.add_nodes_from(c.id for c in self.cores)
        for lk in self.links:
            if lk.kind == "link" and len(lk.cores) == 2:
                a, b = lk.cores
                g.add_edge(a, b, link=lk)
        return g

    def direct_link(self, a: int, b: int) -> Link | None:
        """The point-to-point link between cores ``a`` and ``b``, else ``None``."""
        for lk in self.links:
            if lk.kind == "link" and set(lk.cores) == {a, b}:
                return lk
        return None

    def shared_bus(self, a: int, b: int) -> Link | None:
        """The widest bus connecting ``a`` and ``b``, else ``None``."""
        buses = [lk for lk in self.links if lk.kind == "bus" and a in lk.cores and b in lk.cores]
        return max(buses, key=lambda lk: lk.bandwidth) if buses else None

    def shares_memory(self, a: int, b: int) -> bool:
        """True if cores ``a`` and ``b`` share their top-level memory."""
        return any(a in grp and b in grp for grp in self.memory_sharing)
