"""Decision and schedule types shared by the evaluator, the MILPs, the GA and the reports.

Units: times in **cycles**, energies in **pJ**, memory in **bits** (reports convert).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from monet_opt.schedule.memory import Placement

__all__ = [
    "Decision",
    "Transfer",
    "EnergyBreakdown",
    "MemoryTrace",
    "Schedule",
]


@dataclass(frozen=True)
class Decision:
    """What the optimizers choose; what the evaluator turns into a :class:`Schedule`.

    Parameters
    ----------
    allocation
        Core id per computation node, indexed like :attr:`Problem.nodes`
        (``len == problem.n_nodes``).
    priority
        Optional priority per node (higher runs earlier).  ``None`` uses the
        problem's default program order (HEFT upward rank).  The program order is
        always a topological order; priorities only break ties among ready nodes.
    stacks
        Fused layer stacks as tuples of node indices; ``()`` means layer by layer.
    checkpoints
        Forward activation tensors kept in memory for the backward pass; ``None``
        means store-all.
    placement
        Where tensors live under the capacity semantics
        (:class:`monet_opt.schedule.memory.Placement`: spilled tensors, prefetch and
        write-back windows) on the problem the evaluator simulates: the derived problem
        of :func:`monet_opt.schedule.realize.realize` when the decision fuses or drops
        activations (windows per derived node); ``None`` lets the default policy choose.
    remat
        Optional multi-level rematerialization schedule: the base node indices of the
        forward and backward nodes in execution order, each at least once; a forward
        node listed again is *recomputed* (from the latest computation of each of its
        inputs), so a recomputed value may feed further recomputations, as in Revolve
        and Checkmate.  Optimizer nodes are not listed (they follow their inputs).
        Realized by :func:`monet_opt.schedule.realize_remat.realize_remat`;
        ``checkpoints`` must then be ``None`` (the schedule decides) and ``priority`` is
        ignored (the schedule is the program order).  ``None``: MONET's single-level
        checkpointing through ``checkpoints``.
    resident
        Optional weights (names) whose training state (the weight, its optimizer state;
        :func:`monet_opt.schedule.resident.training_state_groups`) stays on chip across
        steps, on the core of the nodes that read and write it (they must share one).
        Realized by :func:`monet_opt.schedule.resident.make_resident` on the simulated
        problem.  ``None``: every weight and its state go through DRAM each step.
    """

    allocation: tuple[int, ...]
    priority: tuple[float, ...] | None = None
    stacks: tuple[tuple[int, ...], ...] = ()
    checkpoints: frozenset[str] | None = None
    placement: Placement | None = None
    remat: tuple[int, ...] | None = None
    resident: frozenset[str] | None = None


@dataclass(frozen=True)
class Transfer:
    """A data movement in the schedule.

    Parameters
    ----------
    tensor
        Tensor name (several tensors of one DMA task are joined with ``+``).
    src, dst
        Source and destination core ids (the off-chip core id for DRAM).
    channel
        ``"dram"`` for the DRAM port, else a link label like ``"link 0-1"``.
    start, end
        Cycles.
    bits
        Bits moved.
    """

    tensor: str
    src: int
    dst: int
    channel: str
    start: float
    end: float
    bits: float


@dataclass(frozen=True)
class EnergyBreakdown:
    """Energy of one training step in pJ."""

    compute: float
    onchip_memory: float
    dram: float
    links: float

    @property
    def total(self) -> float:
        return self.compute + self.onchip_memory + self.dram + self.links

    def as_dict(self) -> dict[str, float]:
        return {
            "compute_pj": self.compute,
            "onchip_memory_pj": self.onchip_memory,
            "dram_pj": self.dram,
            "links_pj": self.links,
            "total_pj": self.total,
        }


@dataclass(frozen=True)
class MemoryTrace:
    """Occupancy of one memory over time (a step function).

    ``bits[k]`` is the occupancy on ``[times[k], times[k+1])``.
    """

    memory: str
    core: int
    capacity_bits: float
    times: np.ndarray
    bits: np.ndarray

    @property
    def peak_bits(self) -> float:
        return float(self.bits.max()) if len(self.bits) else 0.0


@dataclass(frozen=True)
class Schedule:
    """Result of evaluating a :class:`Decision`.

    Parameters
    ----------
    node_names
        Computation-node names, indexed like the decision.
    core
        Core id per node.
    start, end
        Start (incl. input fetch phase) and end of every node, cycles.
    fetch_end
        End of each node's input fetch phase (compute starts there), cycles.
    transfers
        DMA transfers on the DRAM port and core-to-core transfers on links.
    latency
        Makespan in cycles.
    energy
        Energy breakdown in pJ.
    memory
        Occupancy traces keyed by memory label (``"core 0: sram_1MB_A"``, ``"DRAM"``).
    footprint
        Activation footprint in bits at every program-order position (checkpoints kept
        plus recomputed activations held, :mod:`monet_opt.schedule.realize`).
    stats
        Scalar figures of the realized decision: ``recompute_cycles``,
        ``recompute_energy_pj``, ``peak_footprint_bits``, ``recompute_nodes``,
        ``stack_overflow`` (number of fused stacks over on-chip capacity).
    """

    node_names: tuple[str, ...]
    core: np.ndarray
    start: np.ndarray
    end: np.ndarray
    fetch_end: np.ndarray
    transfers: tuple[Transfer, ...]
    latency: float
    energy: EnergyBreakdown
    memory: Mapping[str, MemoryTrace] = field(default_factory=dict)
    footprint: np.ndarray | None = None
    stats: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "memory", MappingProxyType(dict(self.memory)))
        object.__setattr__(self, "stats", MappingProxyType(dict(self.stats)))

    @property
    def peak_footprint_bits(self) -> float:
        """Peak activation footprint in bits (:mod:`monet_opt.schedule.realize`)."""
        return (
            float(self.footprint.max())
            if self.footprint is not None and len(self.footprint)
            else 0.0
        )

    @property
    def edp(self) -> float:
        """Energy-delay product in pJ·cycles."""
        return self.energy.total * self.latency

    def peak_memory_bits(self) -> dict[str, float]:
        """Peak occupancy per memory label, bits."""
        return {k: v.peak_bits for k, v in self.memory.items()}
